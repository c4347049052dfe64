"""The walkthrough's record of finished steps, so an interrupted run continues where it stopped.

Each finished step is stored with the inputs it ran with and the outputs it produced. A step is
skipped on a re-run only when its recorded inputs equal the current ones; since later steps take
earlier outputs (plate ids, trainIds) as inputs, a changed early step re-runs everything after it.
The file is written atomically after every step.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

VERSION = 1


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class RunState:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.steps: dict[str, dict] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
            except json.JSONDecodeError:
                data = {}
            if data.get("version") == VERSION:
                self.steps = data.get("steps", {})

    def finished(self, name: str, inputs: dict) -> dict | None:
        """The outputs of `name` if it already finished with exactly these inputs."""
        record = self.steps.get(name)
        if record and _canonical(record.get("inputs")) == _canonical(inputs):
            return record["outputs"]
        return None

    def record(self, name: str, inputs: dict, outputs: dict, seconds: float) -> None:
        self.steps[name] = {
            "inputs": inputs,
            "outputs": outputs,
            "seconds": round(seconds, 2),
            "finishedAt": time.time(),
        }
        self._save()

    def seconds(self, name: str) -> float | None:
        record = self.steps.get(name)
        return None if record is None else record.get("seconds")

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".walkthrough-", dir=self.path.parent)
        with os.fdopen(fd, "w") as handle:
            json.dump({"version": VERSION, "steps": self.steps}, handle, indent=1, default=str)
        os.replace(tmp, self.path)
