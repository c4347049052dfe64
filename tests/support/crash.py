"""Crash-consistency helpers: run `bioims` as a user does (its own process group, so a fault
kills the command and its workers together, like `kill -9 -<pgid>`), and read a home's final
state (table rows, objects and their bytes) in a form two homes can be compared in.

Plate ids are random per upload, and well, image and message ids derive from them, so the state
names them by their lab ids (plateSourceId / wellSourceId / imageSourceId) instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from bioims import tables
from tests.support.backends import local_context

ROOT = Path(__file__).resolve().parents[2]
KILLED = -signal.SIGKILL
# Tables whose rows describe runs rather than results (executions, log lines).
RUN_TABLES = {tables.EXECUTION.name, tables.MESSAGE.name}
# Attributes that hold wall-clock times.
VOLATILE = {
    "createTimestamp",
    "uploadFinished",
    "timestamp",
    "timestamp1",
    "startDate",
    "stopDate",
    "updateTimestamp",
    "created",
    "modified",
}


def bioims(
    home: Path, *args: str, fault: str | None = None, workers: int = 2, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run `bioims ARGS` with BIOIMS_HOME=home in a new session; `fault` sets BIOIMS_FAULT."""
    env = dict(os.environ)
    env.update(
        {"BIOIMS_HOME": str(home), "BIOIMS_BACKEND": "local", "BIOIMS_WORKERS": str(workers), "PYTHONPATH": str(ROOT)}
    )
    env.pop("BIOIMS_FAULT", None)
    if fault:
        env["BIOIMS_FAULT"] = fault
    code = "import sys; from bioims.cli.main import main; sys.argv = ['bioims', *sys.argv[1:]]; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )


def _id_names(ctx) -> dict[str, str]:
    """random or plate-derived id -> a name made of lab ids."""
    names: dict[str, str] = {}
    rows = list(ctx.stores.table(tables.IMAGE_MANAGEMENT).scan_all())
    plates = {r["imageId"][len("plate#") :]: r["plateSourceId"] for r in rows if r["imageId"].startswith("plate#")}
    for plate_id, source in plates.items():
        names[plate_id] = f"<plate {source}>"
    for row in rows:
        if row.get("trainId") == tables.ORIGIN and row.get("plateId") in plates:
            source = plates[row["plateId"]]
            names[row["imageId"]] = f"<image {source}/{row['imageSourceId']}>"
            names[row["wellId"]] = f"<well {source}/{row['wellSourceId']}>"
            names[row["messageId"]] = f"<message {source}/{row['imageSourceId']}>"
        elif row["imageId"].startswith("plate#") and row.get("messageId"):
            names[row["messageId"]] = f"<message {row['plateSourceId']}>"
    return names


def _rename(value, pattern, names):
    if isinstance(value, str):
        return pattern.sub(lambda m: names[m.group(0)], value) if pattern else value
    if isinstance(value, list):
        return [_rename(v, pattern, names) for v in value]
    if isinstance(value, dict):
        return {_rename(k, pattern, names): _rename(v, pattern, names) for k, v in value.items() if k not in VOLATILE}
    return value


def state(home: Path, *, buckets: tuple[str, ...] = ("data", "resource"), skip_keys: tuple[str, ...] = ()) -> dict:
    """{"rows": {table: sorted rows}, "objects": {bucket/key: sha256}} of a local home."""
    ctx = local_context(home)
    names = _id_names(ctx)
    pattern = re.compile("|".join(re.escape(k) for k in sorted(names, key=len, reverse=True))) if names else None
    rows = {}
    for spec in tables.ALL_TABLES:
        if spec.name in RUN_TABLES:
            continue
        found = [_rename(r, pattern, names) for r in ctx.stores.table(spec).scan_all()]
        rows[spec.name] = sorted(found, key=repr)
    objects = {}
    for which in buckets:
        store = ctx.stores.data if which == "data" else ctx.stores.resource_bucket
        for info in store.list(""):
            if any(s in info.key for s in skip_keys):
                continue
            key = _rename(f"{which}/{info.key}", pattern, names)
            data = store.get_bytes(info.key)
            try:  # text objects (filter lists, JSON) name ids too
                text = _rename(data.decode("utf-8"), pattern, names)
                if info.key.endswith(".txt"):  # id lists are in id order, and plate ids are random
                    text = "\n".join(sorted(text.splitlines()))
                data = text.encode()
            except UnicodeDecodeError:
                pass
            objects[key] = hashlib.sha256(data).hexdigest()
    return {"rows": rows, "objects": objects}


def temporaries(home: Path) -> list[str]:
    """Leftover temporary files of atomic writes under a home."""
    return sorted(str(p.relative_to(home)) for p in Path(home).rglob(".*.tmp"))


def service_call(
    home: Path, service: str, method: str, *, fault: str | None = None, timeout: float = 120, **params
) -> subprocess.CompletedProcess:
    """One service call in a fresh process (own session) on a local home, as a CLI or Lambda
    would make it; prints the JSON response."""
    env = dict(os.environ)
    env.update({"BIOIMS_HOME": str(home), "BIOIMS_BACKEND": "local", "PYTHONPATH": str(ROOT)})
    env.pop("BIOIMS_FAULT", None)
    if fault:
        env["BIOIMS_FAULT"] = fault
    code = (
        "import json, sys; from bioims import context; from bioims.services.api import handle_json; "
        "event = json.loads(sys.argv[1]); "
        "print(json.dumps(handle_json(context.get().service(event.pop('service')), event)))"
    )
    event = json.dumps({"service": service, "method": method, **params})
    return subprocess.run(
        [sys.executable, "-c", code, event],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )
