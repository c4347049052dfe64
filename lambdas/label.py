"""Lambda entry point of the label service: `{"method": ..., params}` -> `{"statusCode", "body"}`."""

from bioims.services.entry import make_handler

handler = make_handler("label")
