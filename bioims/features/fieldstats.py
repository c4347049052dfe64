"""The field-statistics baseline: a profile with no segmentation of cells and no learning.

Per field, per channel: intensity percentiles, Otsu-foreground fraction, mean and variation, a
gradient and two band-pass texture energies, plus the correlation of each channel pair. Rolled up
field -> well -> treatment by the profiling recipe like any other profile, it is the floor every
embedding is compared with (on the synthetic BBBC021 it beats short CPU trainings). The profiles
of stored plates are made by bioims.jobs.fieldstats.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

CHANNELS = ("DAPI", "Tubulin", "Actin")


def field_features(image: np.ndarray, names=CHANNELS) -> dict[str, float]:
    """Per-field intensity and texture statistics of a (C, H, W) field (channel `names`); no
    segmentation of cells, no learning."""
    out: dict[str, float] = {}
    floats = image.astype(np.float32)
    centred = []
    for name, x in zip(names, floats, strict=True):
        low, p50, p90, p99 = np.percentile(x, [1, 50, 90, 99])
        x = x - np.float32(low)
        centred.append(x)
        mean = float(x.mean()) + 1e-6
        threshold = threshold_otsu(x)
        fg = x > threshold
        fg_values = x[fg]
        fine = ndimage.gaussian_filter(x, 1.0)
        coarse = ndimage.gaussian_filter(x, 3.0)
        out |= {
            f"{name}_mean": mean,
            f"{name}_std": float(x.std()),
            f"{name}_p50": float(p50 - low),
            f"{name}_p90": float(p90 - low),
            f"{name}_p99": float(p99 - low),
            f"{name}_fg_fraction": float(fg.mean()),
            f"{name}_fg_mean": float(fg_values.mean()) if fg_values.size else 0.0,
            f"{name}_fg_cv": float(fg_values.std() / (fg_values.mean() + 1e-6)) if fg_values.size else 0.0,
            f"{name}_gradient": float((np.abs(np.diff(x, axis=0)).mean() + np.abs(np.diff(x, axis=1)).mean()) / mean),
            f"{name}_fine_texture": float(np.abs(x - fine)[fg].mean() / mean) if fg.any() else 0.0,
            f"{name}_mid_texture": float(np.abs(fine - coarse)[fg].mean() / mean) if fg.any() else 0.0,
        }
    for i, j in [(a, b) for a in range(len(names)) for b in range(a + 1, len(names))]:
        a, b = names[i], names[j]
        out[f"corr_{a}_{b}"] = float(np.corrcoef(centred[i].ravel(), centred[j].ravel())[0, 1])
    return out
