"""Training labels of BBBC021 fields and the label categories to create.

Two labelling rules (docs/original.md §7.3 and §8.8 #51):
- "standard" (default): the BBBC021 protocol. Only fields of the 103 annotated
  (compound, concentration) treatments, plus DMSO, carry an MOA label.
- "compound": the original's rule. Every field of a compound that is annotated at any
  concentration carries that compound's MOA (6,160 labelled fields instead of 3,848).
DMSO carries the label "DMSO" under both rules.

Categories: `moa` holds DMSO and the 12 MOAs in alphabetical order (so index = alphabetical rank, the
original's intended indices 0..12); `compound` holds DMSO first, then the 38 annotated compounds in
Python's sort order, one distinct index each (the original gave DMSO and ALLN both index 0).
MOA labels are the raw MOA names (the manifests' `label`); compound labels are the original's
normalised names (no whitespace, `/` -> `-`), the form a manifest's raw `subclass` is looked up by.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
import pandas as pd

from bioims.bbbc021 import layout
from bioims.bbbc021.design import Design
from bioims.keys import normalize_label

LabelMode = Literal["standard", "compound"]
LABEL_MODES: Final[tuple[str, ...]] = ("standard", "compound")

MOA_CATEGORY_DESCRIPTION: Final = "BBBC021 mechanism of action (12 MOAs and the DMSO control)"
COMPOUND_CATEGORY_DESCRIPTION: Final = "BBBC021 compounds with an annotated MOA, and DMSO"


def check_mode(mode: str) -> LabelMode:
    if mode not in LABEL_MODES:
        raise ValueError(f"label mode must be one of {', '.join(LABEL_MODES)}, not {mode!r}")
    return mode  # type: ignore[return-value]


def field_moa(fields: pd.DataFrame, mode: LabelMode = "standard") -> pd.Series:
    """The MOA label (raw MOA name) of each field under `mode`; None for unlabelled fields."""
    column = "moa" if check_mode(mode) == "standard" else "compound_moa"
    values = [v if isinstance(v, str) else None for v in fields[column].tolist()]
    return pd.Series(values, index=fields.index, dtype=object)


def moa_labels(design: Design) -> tuple[str, ...]:
    """Labels of the `moa` category in creation order: the raw MOA names (as the manifests'
    `label` carries them) of DMSO and the 12 MOAs, sorted."""
    return tuple(sorted({*design.moas, layout.DMSO}))


def compound_labels(design: Design) -> tuple[str, ...]:
    """Labels of the `compound` category in creation order: DMSO, then the annotated compounds'
    normalised names sorted as the original sorted them (case-sensitive)."""
    names = sorted({normalize_label(c) for c in design.annotated_compounds})
    return (layout.DMSO, *names)


def label_categories(design: Design) -> dict[str, tuple[str, ...]]:
    """category -> labels in creation order; creating them in this order gives index = position."""
    return {layout.MOA_CATEGORY: moa_labels(design), layout.COMPOUND_CATEGORY: compound_labels(design)}


def category_descriptions() -> dict[str, str]:
    return {layout.MOA_CATEGORY: MOA_CATEGORY_DESCRIPTION, layout.COMPOUND_CATEGORY: COMPOUND_CATEGORY_DESCRIPTION}


def labelled_count(fields: pd.DataFrame, mode: LabelMode = "standard") -> int:
    return int(np.count_nonzero(field_moa(fields, mode).notna()))
