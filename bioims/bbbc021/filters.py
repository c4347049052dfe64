"""Per-compound training exclusion lists (docs/original.md §7.4 `generate_train_filters`).

For leave-one-compound-out training (NSC) each annotated compound (38, DMSO excluded) gets a list of
the imageIds of ALL its fields, every concentration and plate, one imageId per line. Training on
"MOA-labelled images minus the list" then never sees the held-out compound, whatever the labelling
rule. Stored in the resource bucket under `keys.train_filter_key(embedding, compound label)`.
"""

from __future__ import annotations

from collections.abc import Iterable

from bioims import keys
from bioims.bbbc021.design import Design


def train_filters(design: Design, images: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """compound label -> imageIds to exclude, for every annotated compound of the design (in label
    order), from `images` = (imageId, raw compound name) pairs. A compound without images gets an
    empty list (its training then excludes nothing, which the caller can see)."""
    by_label: dict[str, list[str]] = {keys.normalize_label(c): [] for c in design.annotated_compounds}
    raw_to_label = {c: keys.normalize_label(c) for c in design.annotated_compounds}
    seen: set[str] = set()
    for image_id, compound in images:
        if image_id in seen:
            raise ValueError(f"imageId {image_id!r} appears twice")
        seen.add(image_id)
        label = raw_to_label.get(compound)
        if label is not None:
            by_label[label].append(image_id)
    return dict(sorted(by_label.items()))


def filter_text(image_ids: list[str]) -> str:
    """The list as the original stored it: one imageId per line, trailing newline."""
    return "".join(f"{image_id}\n" for image_id in image_ids)


def filter_keys(design: Design, embedding_name: str) -> dict[str, str]:
    """compound label -> resource-bucket key of its exclusion list."""
    return {
        keys.normalize_label(c): keys.train_filter_key(embedding_name, keys.normalize_label(c))
        for c in design.annotated_compounds
    }
