"""Lambda entry point of the training-configuration service: `{"method": ..., params}` -> `{"statusCode", "body"}`."""

from bioims.services.entry import make_handler

handler = make_handler("training-configuration")
