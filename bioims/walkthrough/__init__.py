"""The BBBC021 walkthrough as one resumable command (see run.py)."""

from bioims.walkthrough.options import WalkthroughError, WalkthroughOptions
from bioims.walkthrough.run import Reporter, Walkthrough, example_search, run_walkthrough

__all__ = ["Reporter", "Walkthrough", "WalkthroughError", "WalkthroughOptions", "example_search", "run_walkthrough"]
