"""`bioims status`: what this installation holds."""

from __future__ import annotations

import click
from rich.table import Table

from bioims import context
from bioims.cli.common import console, emit
from bioims.status import installation_status


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Backend, data directory, rows per table and stored objects."""
    info = installation_status(context.get())
    if as_json:
        emit(info, True)
        return
    console.print(f"[bold]backend[/bold]  {info['backend']}")
    if info["home"]:
        console.print(f"[bold]home[/bold]     {info['home']}")
        console.print(f"[bold]database[/bold] {info['database']}")
    else:
        console.print(f"[bold]region[/bold]   {info['region']}   [bold]deployment[/bold] {info['deployment']}")
    table = Table("table", "rows", title="tables")
    for name, count in info["tables"].items():
        table.add_row(name, str(count))
    console.print(table)
    objects = Table("bucket", "objects", "bytes", title="objects")
    for name, entry in info["objects"].items():
        objects.add_row(name, str(entry["count"]), f"{entry['bytes']:,}")
    console.print(objects)
