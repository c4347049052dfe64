"""Search tags of BBBC021 fields (docs/original.md §3.4, §7.4 `generate_tags`/`apply-tags`).

Tag values are `<kind>:<value>`:
- `moa:<MOA>` for fields that carry an MOA label under the labelling rule (DMSO included),
- `compound:<compound>` for every field (all 113 compounds, not only the annotated ones, so a search
  can exclude any query's own compound),
- `concentration:<µM>` (canonical text, e.g. `concentration:0.3`),
- `plate:<plate>`,
- `batch:<WeekN>` (the week is the batch; the original's prefix).
MOA and compound values use the original's normalised label form (no whitespace, `/` -> `-`).
"""

from __future__ import annotations

from typing import Final

import pandas as pd

from bioims.bbbc021.csvs import concentration_text
from bioims.bbbc021.labels import LabelMode, field_moa
from bioims.keys import normalize_label

MOA: Final = "moa"
COMPOUND: Final = "compound"
CONCENTRATION: Final = "concentration"
PLATE: Final = "plate"
BATCH: Final = "batch"
# Creation order of the kinds: with an empty tag table the first three get the original's ids
# (MOA tags 1-13, then compound tags, then batch tags).
KINDS: Final[tuple[str, ...]] = (MOA, COMPOUND, BATCH, PLATE, CONCENTRATION)


def tag(kind: str, value: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown tag kind {kind!r}; expected one of {', '.join(KINDS)}")
    return f"{kind}:{value}"


def field_tags(fields: pd.DataFrame, mode: LabelMode = "standard") -> list[list[str]]:
    """The tag values of each field, in KINDS order (moa first when present)."""
    moas = field_moa(fields, mode)
    out = []
    for row, moa in zip(fields.itertuples(index=False), moas, strict=True):
        values = [] if moa is None else [tag(MOA, normalize_label(moa))]
        values += [
            tag(COMPOUND, normalize_label(row.compound)),
            tag(BATCH, row.week),
            tag(PLATE, row.plate),
            tag(CONCENTRATION, concentration_text(row.concentration)),
        ]
        out.append(values)
    return out


def all_tags(fields: pd.DataFrame, mode: LabelMode = "standard") -> list[str]:
    """Every distinct tag of `fields` in creation order: by kind (KINDS), then sorted within a kind
    (Python's case-sensitive sort, as the original)."""
    distinct = {value for values in field_tags(fields, mode) for value in values}
    return sorted(distinct, key=lambda t: (KINDS.index(t.split(":", 1)[0]), t))
