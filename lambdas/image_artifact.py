"""Lambda entry point of the image-artifact service: `{"method": ..., params}` -> `{"statusCode", "body"}`."""

from bioims.services.entry import make_handler

handler = make_handler("image-artifact")
