"""How work runs on each backend: the port (ports.py) and its adapters, `local` (this process,
worker processes, a training subprocess) and `aws` (Step Functions, Batch, SageMaker through
boto3). bioims.context picks the adapter; nothing else imports one."""

from __future__ import annotations

from bioims.runtime.ports import Observer, Runtime, TrainingJobRequest

__all__ = ["Observer", "Runtime", "TrainingJobRequest"]
