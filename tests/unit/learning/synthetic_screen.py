"""A small synthetic BBBC021 screen turned into ROI files by the real imaging math, in memory.

Fields come from the synthetic BBBC021 (bioims.bbbc021.synthetic), flat fields and ROIs from
bioims.imaging (the same functions the plate and image jobs run), labels follow the standard
BBBC021 protocol (annotated treatments and DMSO). No services, TIFFs or workflows: this is the
data for measuring what training does to NSC, fast enough for a unit test and the benchmark.

The default wells: Week1 plates 22123 and 22361 hold three MOAs with two compounds each (actin
disruptors: cytochalasin B, latrunculin B; microtubule destabilizers: nocodazole, colchicine;
microtubule stabilizers: taxol, epothilone B), 13 annotated treatments, plus two DMSO wells each.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bioims import keys
from bioims.bbbc021.design import load_design
from bioims.bbbc021.synthetic.model import SynthConfig, SyntheticBbbc021, bank_warmup
from bioims.imaging.flatfield import FlatField, compute_flat_field
from bioims.imaging.params import RoiParameters
from bioims.imaging.pipeline import preprocess_image
from bioims.profiling.columns import COMPOUND, CONCENTRATION, IMAGE_ID, MOA, PLATE, WELL
from bioims.store.localfs import LocalObjectStore

CHANNELS = ("dapi", "tubulin", "actin")
WELLS = {
    "Week1_22123": ("B02", "C02", "B03", "B04", "E03", "E04", "D03", "D04", "D05"),
    "Week1_22361": ("B02", "C02", "E07", "D04", "D05", "D06", "B05", "B06"),
}


@dataclass(frozen=True)
class ScreenSpec:
    wells: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(WELLS))
    height: int = 256
    width: int = 320
    cell_scale: float = 0.5
    fields_per_well: int = 2
    roi_size: int = 48
    min_voxels: int = 40
    seed: int = 3


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def render_screen(
    root: Path | str, spec: ScreenSpec = ScreenSpec(), embedding: str = "screen", fields_out: dict | None = None
) -> tuple[LocalObjectStore, list[dict]]:
    """Write the ROI files of every field of `spec.wells` under `root`; returns (store, image rows).

    Rows look like image-management origin rows plus a `metadata` dict (compound, concentration),
    and carry MOA labels only for the standard protocol's labelled fields. `fields_out`, when
    given, receives {imageId: (3, H, W) uint16 field} (for baselines computed on whole fields)."""
    design = load_design()
    config = SynthConfig(
        seed=spec.seed,
        height=spec.height,
        width=spec.width,
        fields_per_well=spec.fields_per_well,
        cell_scale=spec.cell_scale,
    )
    world = SyntheticBbbc021(config, design)
    bank_warmup(config)
    parameters = RoiParameters(roi_size=spec.roi_size, min_voxels=spec.min_voxels, segmentation_channel="dapi")
    fields = design.fields
    labelled = fields[fields["moa"].notna()]
    moa_index = {m: i for i, m in enumerate(sorted(labelled["moa"].unique()))}
    compound_index = {c: i for i, c in enumerate(sorted(fields["compound"].unique()))}
    store = LocalObjectStore(Path(root))
    rows: list[dict] = []
    for plate, wells in sorted(spec.wells.items()):
        chosen = fields[
            (fields["plate"] == plate) & fields["well"].isin(wells) & (fields["site"] <= spec.fields_per_well)
        ]
        images = {
            (r.well, int(r.site)): world.render(plate, r.well, int(r.site)) for r in chosen.itertuples(index=False)
        }
        flats = [
            FlatField.from_array(name, compute_flat_field([image[c][None] for image in images.values()]))
            for c, name in enumerate(CHANNELS)
        ]
        for r in chosen.itertuples(index=False):
            image = images[(r.well, int(r.site))]
            result = preprocess_image(CHANNELS, [image[c][None] for c in range(3)], flats, parameters)
            image_id = f"{plate}-{r.well}-s{int(r.site)}"
            if fields_out is not None:
                fields_out[image_id] = image
            moa = r.moa if isinstance(r.moa, str) else None
            prefix = keys.train_prefix(embedding, plate, image_id)
            n = result.count
            store.put_bytes(prefix + keys.SUFFIX_TRAIN, _npy(result.tensor))
            if moa is None:
                store.put_bytes(prefix + keys.SUFFIX_NO_LABEL, b"No label data")
            else:
                store.put_bytes(prefix + keys.SUFFIX_LABEL, _npy(np.full(n, moa_index[moa], dtype=np.int32)))
            store.put_bytes(prefix + keys.SUFFIX_SUBCLASS, _npy(np.full(n, compound_index[r.compound], dtype=np.int32)))
            store.put_bytes(prefix + keys.SUFFIX_ROI, json.dumps(result.roi_document(parameters)).encode())
            row = {
                "imageId": image_id,
                "trainId": "origin",
                "plateId": plate,
                "wellId": f"{plate}-{r.well}",
                "plateSourceId": plate,
                "wellSourceId": r.well,
                "trainSubclassType": "compound",
                "trainSubclass": r.compound,
                "metadata": {"concentration": float(r.concentration)},
            }
            if moa is not None:
                row.update(trainCategory="moa", trainLabel=moa)
            rows.append(row)
    return store, rows


def profile_table(rows: list[dict], embeddings: dict[str, np.ndarray]) -> pd.DataFrame:
    """Image-level profiles (bioims.profiling columns) of the labelled images that have an embedding."""
    records = []
    for row in rows:
        vector = embeddings.get(row["imageId"])
        if vector is None or not row.get("trainLabel"):
            continue
        records.append(
            {
                PLATE: row["plateSourceId"],
                WELL: row["wellSourceId"],
                IMAGE_ID: row["imageId"],
                COMPOUND: row["trainSubclass"],
                CONCENTRATION: row["metadata"]["concentration"],
                MOA: row["trainLabel"],
                **{f"e{i}": float(v) for i, v in enumerate(vector)},
            }
        )
    return pd.DataFrame.from_records(records)
