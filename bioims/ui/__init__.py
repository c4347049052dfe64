"""The web UI: plates, images, search by example, trainings and evaluation reports in a browser.

A small server on the standard library (bioims.ui.server) renders HTML pages (bioims.ui.pages)
from what the services and the search API answer (bioims.ui.data); it reads nothing else.
"""

DEFAULT_PORT = 8765  # `bioims ui` and the search task (stacks/settings.py uiPort) listen here by default
