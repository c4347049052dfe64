"""How work runs on each backend (see ports.py)."""

from __future__ import annotations

from bioims.runtime.ports import Observer, Runtime, TrainingJobRequest

__all__ = ["Observer", "Runtime", "TrainingJobRequest", "create_runtime"]


def create_runtime(context) -> Runtime:
    if context.settings.backend == "local":
        from bioims.runtime.local import LocalRuntime

        return LocalRuntime(context)
    from bioims.runtime.aws import AwsRuntime

    return AwsRuntime(context)
