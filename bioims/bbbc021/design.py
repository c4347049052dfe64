"""The BBBC021 experimental design as one tidy table of fields, built from the two CSVs.

One row per field (image) with: plate, week (the batch), well, site, compound, concentration,
replicate, the three TIFF file names, `image_source_id` (DAPI file name without `.tif`, the
original's lab image id), `control` (the well is in plate column 02 or 11, where every BBBC021
plate holds its 6 DMSO and 6 taxol 0.3 µM control wells), `moa` (the standard protocol: set for
the wells of the 103 annotated treatments and for DMSO, not for the taxol control wells, which
gives the 632 wells of Ljosa et al. 2013) and `compound_moa` (the MOA of the compound at any
concentration, control wells included: the original's rule).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from bioims.bbbc021 import csvs, layout

# Plate columns of the control wells (DMSO: B02, C02, D02, E11, F11, G11; taxol 0.3 µM: the others).
CONTROL_COLUMNS = ("02", "11")

FIELD_COLUMNS = (
    "plate",
    "week",
    "well",
    "site",
    "control",
    "compound",
    "concentration",
    "replicate",
    "file_dapi",
    "file_tubulin",
    "file_actin",
    "image_source_id",
    "moa",
    "compound_moa",
    "image_row",
)


@dataclass(frozen=True, eq=False)
class Design:
    """The fields of BBBC021 (or of a subset of its plates) with their treatment and MOA.

    `fields` has the FIELD_COLUMNS, sorted by plate, well, site; `moa_table` is the MOA CSV;
    `image_rows` keeps each field's row number in the source image CSV (to write subsets of it).
    """

    fields: pd.DataFrame
    moa_table: pd.DataFrame

    # --- plate-level facts -------------------------------------------------------------------
    @cached_property
    def plates(self) -> tuple[str, ...]:
        return tuple(sorted(self.fields["plate"].unique(), key=_plate_order))

    @cached_property
    def weeks(self) -> tuple[str, ...]:
        return tuple(sorted(self.fields["week"].unique(), key=lambda w: int(w[4:])))

    def plate_fields(self, plate: str) -> pd.DataFrame:
        """The fields of one plate; KeyError naming the plate when it is not in the design."""
        rows = self.fields[self.fields["plate"] == plate]
        if rows.empty:
            raise KeyError(f"plate {plate!r} is not in the BBBC021 design")
        return rows

    # --- treatments and MOAs -----------------------------------------------------------------
    @cached_property
    def compound_moa(self) -> dict[str, str]:
        """compound -> MOA for every compound the MOA CSV annotates (38 + DMSO)."""
        return dict(zip(self.moa_table["compound"], self.moa_table["moa"], strict=True))

    @cached_property
    def moas(self) -> tuple[str, ...]:
        """The MOA classes, DMSO excluded (12 for BBBC021), alphabetical."""
        return tuple(sorted(set(self.moa_table["moa"]) - {layout.DMSO}))

    @cached_property
    def annotated_compounds(self) -> tuple[str, ...]:
        """Compounds with a known MOA, DMSO excluded (38), in the original's label order."""
        return tuple(sorted(set(self.moa_table["compound"]) - {layout.DMSO}))

    @cached_property
    def treatments(self) -> pd.DataFrame:
        """One row per (compound, concentration) present in the fields: compound, concentration,
        moa (the MOA table's annotation, None when not annotated), compound_moa, week (first week
        it appears in), n_fields, n_wells (control wells included), plates (sorted tuple)."""
        f = self.fields.assign(_key=csvs.concentration_key(self.fields["concentration"]))
        grouped = f.groupby(["compound", "_key"], sort=True)
        out = grouped.agg(
            concentration=("concentration", "first"),
            compound_moa=("compound_moa", "first"),
            week=("week", "first"),
            n_fields=("site", "size"),
        )
        out["n_wells"] = grouped.apply(lambda g: g[["plate", "well"]].drop_duplicates().shape[0])
        out["plates"] = grouped["plate"].agg(lambda s: tuple(sorted(set(s), key=_plate_order)))
        out = out.reset_index()
        annotated = dict(
            zip(
                zip(self.moa_table["compound"], csvs.concentration_key(self.moa_table["concentration"]), strict=True),
                self.moa_table["moa"],
                strict=True,
            )
        )
        out.insert(2, "moa", [annotated.get(key) for key in zip(out["compound"], out["_key"], strict=True)])
        return out.drop(columns="_key")

    @cached_property
    def annotated_treatments(self) -> pd.DataFrame:
        """The treatments the MOA CSV annotates, DMSO excluded (103 for BBBC021)."""
        t = self.treatments
        return t[t["moa"].notna() & (t["compound"] != layout.DMSO)].reset_index(drop=True)

    # --- subsets -------------------------------------------------------------------------------
    def subset(self, plates: Iterable[str]) -> Design:
        """The design restricted to `plates` (each must be in the design)."""
        wanted = list(dict.fromkeys(plates))
        unknown = [p for p in wanted if p not in set(self.plates)]
        if unknown:
            raise KeyError(f"plate(s) not in the BBBC021 design: {', '.join(unknown)}")
        rows = self.fields[self.fields["plate"].isin(wanted)]
        return Design(rows.reset_index(drop=True), self.moa_table)

    def select_plates(self, n: int) -> tuple[str, ...]:
        """`n` plates chosen to cover as many annotated compounds (hence MOAs) as possible:
        greedily the plate adding the most not-yet-covered annotated compounds, ties broken by
        the least-used week, then plate order. Deterministic; a prefix of the order for n+1."""
        if not 1 <= n <= len(self.plates):
            raise ValueError(f"n must be between 1 and {len(self.plates)}, not {n}")
        annotated = set(self.annotated_compounds)
        per_plate = {plate: set(group["compound"]) & annotated for plate, group in self.fields.groupby("plate")}
        chosen: list[str] = []
        covered: set[str] = set()
        week_use: dict[str, int] = {}
        remaining = list(self.plates)
        for _ in range(n):
            best = max(
                remaining,
                key=lambda p: (
                    len(per_plate[p] - covered),
                    -week_use.get(layout.week_of(p), 0),
                    -remaining.index(p),
                ),
            )
            chosen.append(best)
            covered |= per_plate[best]
            week_use[layout.week_of(best)] = week_use.get(layout.week_of(best), 0) + 1
            remaining.remove(best)
        return tuple(chosen)


def _plate_order(plate: str) -> tuple[int, str]:
    return int(layout.week_of(plate)[4:]), plate


def build_design(image_table: pd.DataFrame, moa_table: pd.DataFrame) -> Design:
    """Join the image index with the MOA table (treatments matched on compound and concentration
    rounded to 6 decimals)."""
    keys = csvs.concentration_key(image_table["Image_Metadata_Concentration"])
    moa_keys = dict(
        zip(
            zip(moa_table["compound"], csvs.concentration_key(moa_table["concentration"]), strict=True),
            moa_table["moa"],
            strict=True,
        )
    )
    compound_moa = dict(zip(moa_table["compound"], moa_table["moa"], strict=True))
    compounds = image_table["Image_Metadata_Compound"].to_numpy()
    control = image_table["Image_Metadata_Well_DAPI"].str[1:].isin(CONTROL_COLUMNS).to_numpy()
    moa = [
        None if (is_control and c != layout.DMSO) else moa_keys.get((c, k))
        for c, k, is_control in zip(compounds, keys, control, strict=True)
    ]
    fields = pd.DataFrame(
        {
            "plate": image_table["Image_Metadata_Plate_DAPI"].to_numpy(),
            "week": image_table["Image_Metadata_Plate_DAPI"].str.extract(r"^(Week\d+)_", expand=False).to_numpy(),
            "well": image_table["Image_Metadata_Well_DAPI"].to_numpy(),
            "site": image_table["Image_FileName_DAPI"].str.extract(r"_s(\d+)_w\d", expand=False).astype(int).to_numpy(),
            "control": control,
            "compound": compounds,
            "concentration": image_table["Image_Metadata_Concentration"].to_numpy(dtype=float),
            "replicate": image_table["Replicate"].to_numpy(),
            "file_dapi": image_table["Image_FileName_DAPI"].to_numpy(),
            "file_tubulin": image_table["Image_FileName_Tubulin"].to_numpy(),
            "file_actin": image_table["Image_FileName_Actin"].to_numpy(),
            "image_source_id": image_table["Image_FileName_DAPI"].str.removesuffix(".tif").to_numpy(),
            "moa": pd.array(moa, dtype=object),
            "compound_moa": pd.array([compound_moa.get(c) for c in compounds], dtype=object),
            "image_row": np.arange(len(image_table)),
        }
    )
    week_number = fields["week"].str[4:].astype(int)
    fields = (
        fields.assign(_week=week_number)
        .sort_values(["_week", "plate", "well", "site"], kind="stable")
        .drop(columns="_week")
        .reset_index(drop=True)
    )
    return Design(fields, moa_table.reset_index(drop=True))


def load_design(image_csv: Path | str | None = None, moa_csv: Path | str | None = None) -> Design:
    """The design from the given CSVs, by default the packaged (published) ones."""
    return build_design(csvs.read_image_csv(image_csv), csvs.read_moa_csv(moa_csv))


def load_design_from_dir(root: Path | str) -> Design:
    """The design of a local copy: the CSVs at its root (see `layout`)."""
    root = Path(root)
    try:
        image_csv = layout.image_csv_path(root)
    except FileNotFoundError as exc:
        raise csvs.Bbbc021DataError(str(exc)) from exc
    return load_design(image_csv, root / layout.MOA_CSV)
