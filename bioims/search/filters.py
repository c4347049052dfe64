"""Tag filters turned into FAISS selectors, so filtering happens inside the search.

The filter semantics are the original's (docs/original.md §5.3). A filter becomes a bitmap over
index rows, handed to FAISS as an `IDSelectorBitmap`, so the
k nearest allowed vectors are found in one pass and a filter never shortens the result list.
Masks are computed with numpy from an inverted index (tag id -> rows) and cached per filter
until the rows, the tags or the tag labels change.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import faiss
import numpy as np

from bioims.errors import NotReady
from bioims.search.query import TagFilter
from bioims.search.tags import TagLabels, TagStore

_NO_ROWS = np.zeros(0, dtype=np.int64)


class RowTagIndex:
    """Inverted index over the rows of one training: which rows carry a tag."""

    def __init__(self, tag_arrays: Sequence[np.ndarray]):
        self.size = len(tag_arrays)
        lengths = np.fromiter((a.size for a in tag_arrays), dtype=np.int64, count=self.size)
        flat = np.concatenate(tag_arrays).astype(np.int64, copy=False) if lengths.sum() else _NO_ROWS
        rows = np.repeat(np.arange(self.size, dtype=np.int64), lengths)
        order = np.argsort(flat, kind="stable")
        self._tags = flat[order]
        self._rows = rows[order]

    def rows_with_any(self, tags: np.ndarray) -> np.ndarray:
        """Rows carrying at least one of `tags` (may repeat a row)."""
        if tags.size == 0 or self._tags.size == 0:
            return _NO_ROWS
        lo = np.searchsorted(self._tags, tags, side="left")
        hi = np.searchsorted(self._tags, tags, side="right")
        if tags.size == 1:
            return self._rows[lo[0] : hi[0]]
        return np.concatenate([self._rows[a:b] for a, b in zip(lo, hi, strict=True)])

    def any_mask(self, tags: np.ndarray) -> np.ndarray:
        """Boolean mask of the rows carrying at least one of `tags`."""
        mask = np.zeros(self.size, dtype=bool)
        mask[self.rows_with_any(tags)] = True
        return mask

    def mask(self, tag_filter: TagFilter, moa_rows: np.ndarray | None) -> np.ndarray:
        """Boolean mask of the rows the filter allows (moa_rows: rows with an MOA tag, for requireMoa)."""
        if tag_filter.inclusion:
            mask = self.any_mask(np.asarray(tag_filter.inclusion, dtype=np.int64))
        else:
            mask = np.ones(self.size, dtype=bool)
        if tag_filter.exclusion:
            mask[self.rows_with_any(np.asarray(tag_filter.exclusion, dtype=np.int64))] = False
        if tag_filter.require_moa:
            mask &= moa_rows if moa_rows is not None else False
        return mask


@dataclass
class Selection:
    """The rows a filter allows, ready for FAISS. `params` is None when every row is allowed.
    The bitmap and selector are kept here because FAISS only holds raw pointers to them."""

    count: int
    mask: np.ndarray | None
    params: faiss.SearchParameters | None
    _bitmap: np.ndarray | None = None
    _selector: object | None = None

    @staticmethod
    def everything(size: int) -> Selection:
        return Selection(size, None, None)

    @staticmethod
    def from_mask(mask: np.ndarray) -> Selection:
        bitmap = np.packbits(mask, bitorder="little")
        selector = faiss.IDSelectorBitmap(mask.size, faiss.swig_ptr(bitmap))
        params = faiss.SearchParameters(sel=selector)
        return Selection(int(np.count_nonzero(mask)), mask, params, bitmap, selector)


class FilterIndex:
    """Selections of one training, cached per filter and invalidated by version changes."""

    def __init__(self, cache_size: int = 256):
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._rows: RowTagIndex | None = None
        self._rows_key: tuple | None = None
        self._moa: tuple[tuple, np.ndarray] | None = None
        self._cache: OrderedDict[tuple, Selection] = OrderedDict()

    def selection(
        self,
        tag_filter: TagFilter,
        *,
        rows_version: int,
        size: int,
        image_ids: Callable[[], Sequence[str]],
        tags: TagStore | None,
        labels: TagLabels,
    ) -> Selection:
        if tag_filter.is_empty:
            return Selection.everything(size)
        if tag_filter.require_moa and not labels.loaded:
            raise NotReady("requireMoa needs the tag-label map: send a loadTagLabelMap message first")
        tags_version = (id(tags), tags.version) if tags is not None else (0, 0)
        state = (rows_version, tags_version, labels.version if tag_filter.require_moa else -1)
        key = (tag_filter, state)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            rows = self._row_index(rows_version, tags_version, size, image_ids, tags)
            moa = self._moa_rows(rows, labels) if tag_filter.require_moa else None
            selection = Selection.from_mask(rows.mask(tag_filter, moa))
            self._cache[key] = selection
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return selection

    def _row_index(self, rows_version, tags_version, size, image_ids, tags) -> RowTagIndex:
        key = (rows_version, tags_version)
        if self._rows is None or self._rows_key != key:
            ids = image_ids()
            arrays = tags.aligned(ids) if tags is not None else [_NO_ROWS] * size
            self._rows = RowTagIndex(arrays)
            self._rows_key = key
            # Entries built for older states can never be hit again.
            self._cache = OrderedDict((k, v) for k, v in self._cache.items() if k[1][:2] == key)
        return self._rows

    def _moa_rows(self, rows: RowTagIndex, labels: TagLabels) -> np.ndarray:
        """Rows with an MOA tag, kept until the rows, tags or labels change."""
        key = (self._rows_key, labels.version)
        if self._moa is None or self._moa[0] != key:
            self._moa = (key, rows.any_mask(labels.moa_tag_ids()))
        return self._moa[1]
