"""Small profile tables for the profiling tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def plate_wells(
    seed: int = 0, plates: int = 3, controls: int = 4, treated: int = 6, n_features: int = 5
) -> pd.DataFrame:
    """Wells of `plates` plates: DMSO controls and treated wells, each plate with its own offset and scale."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(plates):
        offset = rng.normal(0, 5, n_features)
        scale = rng.uniform(0.5, 3, n_features)
        for w in range(controls + treated):
            compound = "DMSO" if w < controls else f"cmp{w % 3}"
            values = offset + scale * rng.normal(0, 1, n_features) + (0 if compound == "DMSO" else 2.0)
            rows.append(
                {
                    "Metadata_Plate": f"Week{p + 1}_{p}",
                    "Metadata_Well": f"W{w:02d}",
                    "Metadata_Compound": compound,
                    "Metadata_Concentration": 0.0 if compound == "DMSO" else 1.0,
                    "Metadata_moa": "DMSO" if compound == "DMSO" else f"moa{w % 3}",
                    **{f"f{i}": v for i, v in enumerate(values)},
                }
            )
    return pd.DataFrame(rows)
