"""Training-time augmentation of ROI batches, vectorised on the device.

Cells have no preferred orientation, so flips and 90-degree rotations (the dihedral group of the
square) keep the phenotype; per-channel intensity jitter (scale and offset) makes embeddings
robust to staining and exposure differences between plates. The original used none.
"""

from __future__ import annotations

import torch

TRANSFORMS = {"none": 1, "flips": 4, "dihedral": 8, "dihedral+intensity": 8}


def _dihedral(x: torch.Tensor, code: int, mode: str) -> torch.Tensor:
    if mode == "flips":  # identity, horizontal, vertical, both
        dims = [d for d, bit in ((3, 1), (2, 2)) if code & bit]
        return x.flip(dims) if dims else x
    x = torch.rot90(x, code % 4, dims=(2, 3)) if code % 4 else x
    return x.flip(3) if code >= 4 else x


def augment_batch(
    x: torch.Tensor, mode: str, *, jitter: float = 0.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """x: (N, C, R, R) float in [0, 1] -> augmented copy (same shape, still in [0, 1]).

    Random choices come from `generator` (a CPU generator), so a seeded generator gives the same
    augmentation on any device.
    """
    if mode not in TRANSFORMS:
        raise ValueError(f"unknown augmentation {mode!r}; choose one of {', '.join(TRANSFORMS)}")
    if mode == "none":
        return x
    if x.ndim != 4 or x.shape[2] != x.shape[3]:
        raise ValueError(f"augmentation needs square ROIs (N, C, R, R), got {tuple(x.shape)}")
    count = TRANSFORMS[mode]
    codes = torch.randint(0, count, (x.shape[0],), generator=generator)
    out = torch.empty_like(x)
    for code in range(count):
        rows = torch.nonzero(codes == code).squeeze(1)
        if rows.numel():
            rows = rows.to(x.device)
            out[rows] = _dihedral(x[rows], code, mode)
    if mode == "dihedral+intensity" and jitter > 0:
        shape = (x.shape[0], x.shape[1], 1, 1)
        scale = 1 + (2 * torch.rand(shape, generator=generator) - 1) * jitter
        offset = (2 * torch.rand(shape, generator=generator) - 1) * (jitter / 2)
        out = (out * scale.to(x.device) + offset.to(x.device)).clamp_(0, 1)
    return out
