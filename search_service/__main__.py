import sys

from search_service.main import main

sys.exit(main())
