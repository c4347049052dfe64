"""The field-statistics baseline: a profile with no segmentation of cells and no learning.

Per field, per channel: intensity percentiles, Otsu-foreground fraction, mean and variation, a
gradient and two band-pass texture energies, plus the correlation of each channel pair. Rolled up
field -> well -> treatment by the profiling recipe like any other profile, it is the floor every
embedding is compared with (on the synthetic BBBC021 it beats short CPU trainings).
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
    for name, x in zip(names, floats):
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
    for i, j in [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]:
        a, b = names[i], names[j]
        out[f"corr_{a}_{b}"] = float(np.corrcoef(centred[i].ravel(), centred[j].ravel())[0, 1])
    return out


def field_statistics_profiles(ctx, plate_ids, annotations=None):
    """Image profiles of the field-statistics baseline for every readable image of `plate_ids`,
    read through the stores as image processing reads them; metadata as a training's profiles
    (bioims.evaluation.training.training_profiles) so methods compare on the same images."""
    import pandas as pd

    from bioims.evaluation.training import annotate
    from bioims.imaging.io import channel_sources, read_image
    from bioims.profiling.columns import COMPOUND, IMAGE_ID, IMAGE_SOURCE_ID, MOA, PLATE, WELL, with_batch

    management = ctx.service("image-management")
    records = []
    for plate_id in plate_ids:
        for row in sorted(management.plate_images(plate_id), key=lambda r: r["imageId"]):
            if row.get("searchReady") == "ERROR":
                continue
            sources = channel_sources(row)
            stack = np.stack([c.max(axis=0) for c in read_image(ctx.stores, sources, row["imageId"])])
            features = field_features(stack, names=[s.name for s in sources])
            records.append({
                PLATE: row.get("plateSourceId"), WELL: row.get("wellSourceId"), IMAGE_ID: row["imageId"],
                IMAGE_SOURCE_ID: row.get("imageSourceId"),
                COMPOUND: row.get("trainSubclass") if row.get("trainSubclassType") else None,
                MOA: row.get("trainLabel") if row.get("trainCategory") else None,
                **features,
            })
    table = pd.DataFrame.from_records(records)
    if annotations is not None:
        table = annotate(table, annotations)
    return with_batch(table)
