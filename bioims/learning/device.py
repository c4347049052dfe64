"""Where and how torch runs: device choice, thread count, determinism.

CPU runs are bit-for-bit deterministic (torch.use_deterministic_algorithms); on CUDA the
deterministic cuBLAS workspace is requested and kernels without a deterministic variant only
warn, because refusing to train on a GPU would be worse than tiny run-to-run differences.
"""

from __future__ import annotations

import os

import torch


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def select_device(choice: str = "auto") -> torch.device:
    """ "auto" = CUDA when present, else CPU; "cuda" without a GPU is an error."""
    if choice not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {choice!r}")
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but no CUDA device is available")
    if choice in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def setup_torch(device_choice: str = "auto", threads: int = 0) -> torch.device:
    """Pick the device, set the intra-op thread count (0 = all usable cores), make runs deterministic."""
    torch.set_num_threads(threads or available_cores())
    device = select_device(device_choice)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.use_deterministic_algorithms(True)
    # Deterministic mode also fills every new tensor with NaN to expose reads of uninitialised
    # memory; no kernel we use reads it, and the fill costs about a third of a CPU forward pass.
    torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]  # set at run time, not in torch's stubs
    return device
