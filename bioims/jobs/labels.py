"""Training labels of an image (docs/original.md §4.2 step 4): the MOA label index and the compound
("subclass") index written beside its ROIs.

An image is labelled when its origin row has `trainLabel`; the index is that label's index in the
category `trainCategory`. The subclass index is the index of the normalised `trainSubclass` (no
whitespace, '/' -> '-') in the category `trainSubclassType`, or -1: an image without
`trainSubclassType`, or whose compound is not in that category, still yields its ROIs
(docs/original.md §8.4 #30); a labelled image whose label is missing from the label table is a setup error
(the categories must be created first) and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bioims.errors import NotFound
from bioims.imaging.errors import ImagingError
from bioims.keys import normalize_label
from bioims.services.label import LabelService

NO_INDEX = -1


class LabelSetupError(ImagingError):
    """A labelled image names a category or label that the label service does not hold."""


def label_indices(service: LabelService, row: Mapping[str, Any]) -> tuple[int | None, int]:
    """(label index or None when unlabelled, subclass index or -1) of an image origin row."""
    label = row.get("trainLabel")
    if not label:
        return None, NO_INDEX
    category = row.get("trainCategory")
    if not category:
        raise LabelSetupError(f"image {row.get('imageId')!r} has trainLabel {label!r} but no trainCategory")
    try:
        indices = service.index_map(category)
    except NotFound:
        raise LabelSetupError(
            f"label category {category!r} does not exist; create the labels before processing"
        ) from None
    if label not in indices:
        raise LabelSetupError(f"label {label!r} is not in category {category!r}; create the labels before processing")
    subclass_type, subclass = row.get("trainSubclassType"), row.get("trainSubclass")
    subclass_index = NO_INDEX
    if subclass_type and subclass:
        try:
            subclass_index = service.index_map(subclass_type).get(normalize_label(str(subclass)), NO_INDEX)
        except NotFound:
            subclass_index = NO_INDEX
    return indices[label], subclass_index
