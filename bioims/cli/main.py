"""Entry point of the `bioims` command. Each command group lives in its own module under bioims/cli/
and is listed once in COMMAND_MODULES; a listed module or attribute that does not exist is an
error at start-up (tests/unit/test_registries.py imports every entry), never skipped."""

from __future__ import annotations

import importlib
import os

import click

from bioims.cli.common import document_exit_codes, quiet_service_log, run_cli

# module -> attribute holding a click command or group
COMMAND_MODULES: tuple[tuple[str, str], ...] = (
    ("bioims.cli.status", "status"),
    ("bioims.cli.bbbc021", "bbbc021"),
    ("bioims.cli.process_plate", "process_plate"),
    ("bioims.cli.train", "train"),
    ("bioims.cli.embed", "embed"),
    ("bioims.cli.search", "search_group"),
    ("bioims.cli.evaluate", "evaluate"),
    ("bioims.cli.evaluate", "report"),
    ("bioims.cli.walkthrough", "walkthrough"),
    ("bioims.cli.services", "register_service_commands"),
    ("bioims.cli.ui", "ui"),  # web UI (issue 15)
    ("bioims.cli.compat", "compat_group"),  # compat: the original's discovery document
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bioimage-search")
@click.option("--debug", is_flag=True, help="Show the stack trace of an error (same as BIOIMS_DEBUG=1).")
def main_group(debug: bool) -> None:
    """bioimage-search: upload plates, process images, train embeddings, search, evaluate.

    Runs locally by default (BIOIMS_BACKEND=local, data in BIOIMS_HOME=./.bioims);
    BIOIMS_BACKEND=aws drives a deployed stack."""
    if debug:
        os.environ["BIOIMS_DEBUG"] = "1"
    quiet_service_log()


def _register() -> None:
    for module_name, attribute in COMMAND_MODULES:
        target = getattr(importlib.import_module(module_name), attribute)
        if isinstance(target, click.Command):
            main_group.add_command(target)
        else:
            target(main_group)  # a function that adds several commands


_register()
document_exit_codes(main_group)


def main() -> None:
    run_cli(main_group)


if __name__ == "__main__":
    main()
