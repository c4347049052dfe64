"""Lambda entry point of the train service: `{"method": ..., params}` -> `{"statusCode", "body"}`."""

from bioims.services.entry import make_handler

handler = make_handler("train")
