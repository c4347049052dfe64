"""Container entry of the search service: load the index snapshots, consume the management and
search queues, serve the HTTP API (inside the VPC only: the task has no public address and its
security group admits the port from the search clients' security group; see stacks/search_service.py).

Environment: BIOIMS_BACKEND/BIOIMS_DEPLOYMENT/BIOIMS_REGION (resource names come from SSM),
BIOIMS_SEARCH_HOST (0.0.0.0 in the image), BIOIMS_SEARCH_PORT, BIOIMS_SEARCH_MAX_RECEIVES (the
queues' maxReceiveCount, so a search is marked `error` before its message moves to the DLQ).
"""

from __future__ import annotations

import logging
import os
import sys


def tag_labels() -> dict[int, str]:
    """The tag service's id -> value map (for loadTagLabelMap messages without a map)."""
    import bioims

    return {int(t["id"]): t["tagValue"] for t in bioims.client("tag").getAllTags()}


def start_ui(options):
    """The web UI on the task's loopback when BIOIMS_UI_PORT is set (docs/ui.md); None otherwise."""
    from bioims.ui.server import ui_from_env

    ui = ui_from_env(os.environ, options.http_port)
    if ui is not None:
        ui.start()
        logging.getLogger("bioims.ui").info("web UI on %s (reach it with SSM port forwarding)", ui.url)
    return ui


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stdout)
    from bioims import context
    from bioims.search.server import ServiceOptions, serve

    try:
        options = ServiceOptions.from_env(os.environ)
        ui = start_ui(options)
    except ValueError as exc:
        logging.getLogger("bioims.search").error("%s", exc)
        return 2
    serve(context.get().stores, options=options, tag_source=tag_labels)
    if ui is not None:
        ui.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
