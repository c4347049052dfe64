"""Image tags of one embedding and the tag-label map, as the search filters need them.

Tags are kept per embedding, so a `plateTags` of another embedding never overwrites them
(docs/original.md §8.5 #37-39); a plate's tags are replaced as a whole, so a reload is
idempotent; a tag id missing from the label map simply is not an MOA tag.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from bioims.errors import InvalidRequest

MOA_PREFIX = "moa:"
_EMPTY = np.zeros(0, dtype=np.int64)


def as_tag_array(tags: Iterable[int], what: str) -> np.ndarray:
    """Sorted unique int64 tag ids; rejects anything that is not a non-negative integer."""
    values = list(tags)
    if any(isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0 for t in values):
        raise InvalidRequest(f"{what}: tag ids must be non-negative integers, got {values!r}")
    return np.unique(np.asarray(values, dtype=np.int64)) if values else _EMPTY


class TagStore:
    """imageId -> tag ids for one embedding, replaced plate by plate. Thread-safe; `version`
    changes whenever the content changes so row-aligned views know when to rebuild."""

    def __init__(self, embedding_name: str):
        self.embedding_name = embedding_name
        self._plates: dict[str, list[str]] = {}
        self._tags: dict[str, tuple[str, np.ndarray]] = {}  # imageId -> (plateId, tags)
        self._lock = threading.Lock()
        self.version = 0

    def set_plate(self, plate_id: str, tags: Mapping[str, Sequence[int]]) -> None:
        """Replace the tags of every image of `plate_id` with `tags` (validated first)."""
        checked = {image_id: as_tag_array(values, f"image {image_id}") for image_id, values in tags.items()}
        with self._lock:
            for image_id in self._plates.pop(plate_id, []):
                owner = self._tags.get(image_id)
                if owner is not None and owner[0] == plate_id:
                    del self._tags[image_id]
            for image_id, values in checked.items():
                self._tags[image_id] = (plate_id, values)
            self._plates[plate_id] = list(checked)
            self.version += 1

    def tags_of(self, image_id: str) -> np.ndarray:
        entry = self._tags.get(image_id)
        return _EMPTY if entry is None else entry[1]

    def aligned(self, image_ids: Sequence[str]) -> list[np.ndarray]:
        """Tag arrays for `image_ids`, in that order (untagged images get an empty array)."""
        with self._lock:
            get = self._tags.get
            return [(_EMPTY if (entry := get(i)) is None else entry[1]) for i in image_ids]

    def image_count(self) -> int:
        with self._lock:
            return len(self._tags)


class TagLabels:
    """tag id -> tag value (the tag service's map); knows which ids are MOA tags."""

    def __init__(self) -> None:
        self._labels: dict[int, str] = {}
        self.loaded = False
        self.version = 0

    def replace(self, labels: Mapping[int, str]) -> None:
        clean: dict[int, str] = {}
        for key, value in labels.items():
            try:
                tag_id = int(key)
            except (TypeError, ValueError):
                raise InvalidRequest(f"tag ids must be integers, got {key!r}") from None
            if tag_id < 0 or not isinstance(value, str):
                raise InvalidRequest(f"tag {key!r}: the value must be a string and the id non-negative")
            clean[tag_id] = value
        self._labels = clean
        self.loaded = True
        self.version += 1

    def as_dict(self) -> dict[int, str]:
        return dict(self._labels)

    def moa_tag_ids(self) -> np.ndarray:
        return np.asarray(sorted(t for t, v in self._labels.items() if v.startswith(MOA_PREFIX)), dtype=np.int64)
