"""Training progress lines: how the training script reports (`BIOIMS_PROGRESS {json}` on stdout)
and how a report reads as text. Kept free of torch so runtimes and CLIs can use it cheaply."""

from __future__ import annotations

import json
from typing import Any

PROGRESS_PREFIX = "BIOIMS_PROGRESS "


def parse_progress_line(line: str) -> dict[str, Any] | None:
    """The progress report on a `BIOIMS_PROGRESS {json}` line, else None."""
    if not line.startswith(PROGRESS_PREFIX):
        return None
    try:
        report = json.loads(line[len(PROGRESS_PREFIX) :])
    except json.JSONDecodeError:
        return None
    return report if isinstance(report, dict) else None


def parse_progress(text: str) -> dict[str, Any] | None:
    """A progress report from its JSON text (None when the text is not one)."""
    try:
        report = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None
    return report if isinstance(report, dict) and "epochs" in report else None


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def describe_progress(report: dict[str, Any]) -> tuple[str, int, int]:
    """(text, minibatches done, minibatches in all) of a training progress report."""
    epochs, per_epoch = int(report.get("epochs", 1)), int(report.get("minibatches", 1))
    epoch, done = int(report.get("epoch", 1)), int(report.get("minibatch", 0))
    parts = [f"epoch {min(epoch, epochs)}/{epochs}"]
    if report.get("loss") is not None:
        parts.append(f"loss {report['loss']:.4f}")
    for name, value in sorted((report.get("metrics") or {}).items()):
        parts.append(f"{name} {value:.4f}")
    if report.get("best_epoch"):
        parts.append(f"best epoch {report['best_epoch']}")
    if report.get("event") != "done":
        parts.append(f"ETA {format_eta(report.get('eta_s'))}")
    if report.get("message"):
        parts.append(report["message"])
    completed = (epoch - 1) * per_epoch + done if report.get("event") != "done" else epochs * per_epoch
    return ", ".join(parts), completed, epochs * per_epoch
