"""Lambda entry point of the process-plate service: `{"method": ..., params}` -> `{"statusCode", "body"}`."""

from bioims.services.entry import make_handler

handler = make_handler("process-plate")
