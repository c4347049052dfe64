"""Reading the per-image ROI files written by image preprocessing (docs/original.md §3.6).

`<prefix>-train.npy`   uint16 (n, C, D, R, R): normalised crops x 65535
`<prefix>-label.npy`   int32 (n): the label index (or `<prefix>-label.NONE` when unlabelled)
`<prefix>-subclass.npy` int32 (n): the subclass (compound) index

`inspect_roi_files` reads only array headers and the small label arrays, so checking a training
set never loads ROI pixels. `RoiReader` streams ROIs from memory-mapped files with a bounded LRU of
open maps, so a training set larger than memory works.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from bioims import keys
from bioims.npy import npy_header, read_npy
from bioims.store.ports import ObjectNotFound, ObjectStore

ROI_SCALE = 65535.0


@dataclass(frozen=True)
class RoiFileInfo:
    """What the ROI files of one image hold; `problems` lists every inconsistency found."""

    prefix: str
    rois: int = 0
    channels: int = 0
    depth: int = 0
    size: int = 0
    labelled: bool = False
    label: int | None = None
    subclass: int | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)


def read_npy_header(stream: IO[bytes]) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of an .npy stream, reading only its header."""
    dtype, _, shape, _ = npy_header(stream)
    return shape, dtype


def load_npy(store: ObjectStore, key: str, *, mmap: bool = False) -> np.ndarray:
    """An .npy object as an array: memory-mapped in place when the store is a local directory."""
    path = store.local_path(key)
    if path is not None:
        if not Path(path).is_file():
            raise ObjectNotFound(f"{store.bucket}: no object {key!r}")
        return read_npy(path, mmap=mmap)
    return read_npy(store.get_bytes(key), name=key)


def _single_value(values: np.ndarray, what: str, prefix: str, problems: list[str]) -> int | None:
    unique = np.unique(values)
    if unique.size > 1:
        problems.append(f"{prefix}: {what} file holds several values {unique[:5].tolist()}")
        return None
    return int(unique[0]) if unique.size else None


def inspect_roi_files(store: ObjectStore, prefix: str) -> RoiFileInfo:
    """Check one image's ROI files without loading pixels (docs/original.md §8.4 #35)."""
    problems: list[str] = []
    try:
        with store.open(prefix + keys.SUFFIX_TRAIN) as stream:
            shape, dtype = read_npy_header(stream)
    except ObjectNotFound:
        return RoiFileInfo(prefix, problems=(f"{prefix}: missing {keys.SUFFIX_TRAIN} (ROI tensor)",))
    except ValueError as exc:
        return RoiFileInfo(prefix, problems=(f"{prefix}: unreadable {keys.SUFFIX_TRAIN}: {exc}",))
    if dtype != np.uint16 or len(shape) != 5 or shape[3] != shape[4]:
        return RoiFileInfo(
            prefix,
            problems=(f"{prefix}: ROI tensor must be uint16 (n, C, D, R, R) with square ROIs, got {dtype} {shape}",),
        )
    rois, channels, depth, size, _ = (int(v) for v in shape)
    labelled = store.exists(prefix + keys.SUFFIX_LABEL)
    label = subclass = None
    if labelled:
        labels = load_npy(store, prefix + keys.SUFFIX_LABEL)
        if labels.shape != (rois,):
            problems.append(f"{prefix}: label array shape {labels.shape} does not match {rois} ROIs")
        else:
            label = _single_value(labels, "label", prefix, problems)
    elif not store.exists(prefix + keys.SUFFIX_NO_LABEL):
        problems.append(f"{prefix}: missing both {keys.SUFFIX_LABEL} and {keys.SUFFIX_NO_LABEL}")
    try:
        subclasses = load_npy(store, prefix + keys.SUFFIX_SUBCLASS)
    except ObjectNotFound:
        problems.append(f"{prefix}: missing {keys.SUFFIX_SUBCLASS}")
    else:
        if subclasses.shape != (rois,):
            problems.append(f"{prefix}: subclass array shape {subclasses.shape} does not match {rois} ROIs")
        else:
            subclass = _single_value(subclasses, "subclass", prefix, problems)
    return RoiFileInfo(prefix, rois, channels, depth, size, labelled, label, subclass, tuple(problems))


class RoiReader:
    """Streams ROIs of many images from memory-mapped `-train.npy` files under `root`.

    At most `cache_size` files are mapped at once (least recently used are dropped). Safe to
    pickle into DataLoader workers: each process maps its own files.
    """

    def __init__(self, root: Path | str, prefixes: Sequence[str], *, cache_size: int = 64):
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        self.root = Path(root)
        self.prefixes = list(prefixes)
        self.cache_size = cache_size
        self._open: OrderedDict[int, np.ndarray] = OrderedDict()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_open"] = OrderedDict()
        return state

    def tensor(self, image: int) -> np.ndarray:
        """The (n, C, D, R, R) memory map of one image."""
        cached = self._open.get(image)
        if cached is not None:
            self._open.move_to_end(image)
            return cached
        path = self.root / (self.prefixes[image] + keys.SUFFIX_TRAIN)
        array = read_npy(path, mmap=True)
        self._open[image] = array
        if len(self._open) > self.cache_size:
            self._open.popitem(last=False)
        return array

    def gather(self, images: np.ndarray, rois: np.ndarray) -> np.ndarray:
        """ROIs (images[i], rois[i]) as uint16 (n, C, R, R), depth plane 0, in input order."""
        images = np.asarray(images, dtype=np.int64)
        rois = np.asarray(rois, dtype=np.int64)
        if images.shape != rois.shape or images.ndim != 1:
            raise ValueError("images and rois must be 1-D arrays of equal length")
        if images.size == 0:
            raise ValueError("nothing to gather")
        first = self.tensor(int(images[0]))
        out = np.empty((images.size, first.shape[1], first.shape[3], first.shape[4]), dtype=np.uint16)
        order = np.argsort(images, kind="stable")
        sorted_images = images[order]
        starts = np.flatnonzero(np.r_[True, sorted_images[1:] != sorted_images[:-1]])
        ends = np.r_[starts[1:], sorted_images.size]
        for start, end in zip(starts, ends, strict=True):
            positions = order[start:end]
            out[positions] = self.tensor(int(sorted_images[start]))[rois[positions], :, 0]
        return out
