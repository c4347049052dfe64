"""Anchor/positive pair sampling ("AnchorPositivePairs", docs/original.md §4.8).

Per class: pick the anchor's compound and the positive's compound uniformly among the class's
compounds (they may coincide), then a ROI uniformly within each, the positive never the anchor
itself. Every draw terminates: a compound holding only the anchor ROI makes another compound of
the class be drawn, and classes with fewer than two ROIs are skipped; all draws come from a seeded
numpy Generator, so a training is reproducible (docs/original.md §8.4 #33).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bioims.learning.manifest import ManifestImage


@dataclass(frozen=True)
class RoiTable:
    """One row per ROI of a set of images: image position, ROI position, label, compound."""

    image: np.ndarray
    roi: np.ndarray
    label: np.ndarray
    subclass: np.ndarray

    @staticmethod
    def from_images(images: Sequence[ManifestImage]) -> RoiTable:
        counts = np.array([image.rois for image in images], dtype=np.int64)
        total = int(counts.sum())
        image = np.repeat(np.arange(len(images), dtype=np.int64), counts)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        roi = np.arange(total, dtype=np.int64) - starts
        label = np.repeat(np.array([i.label for i in images], dtype=np.int64), counts)
        subclass = np.repeat(np.array([i.subclass for i in images], dtype=np.int64), counts)
        return RoiTable(image, roi, label, subclass)

    def __len__(self) -> int:
        return int(self.image.size)

    def subset(self, rows: np.ndarray) -> RoiTable:
        return RoiTable(self.image[rows], self.roi[rows], self.label[rows], self.subclass[rows])


@dataclass(frozen=True)
class _ClassRois:
    rows: np.ndarray  # table rows of the class, grouped by compound
    starts: np.ndarray  # start of each compound within `rows`
    counts: np.ndarray  # ROIs per compound


class PairSampler:
    """Draws groups of one anchor/positive pair per class from a RoiTable."""

    def __init__(self, table: RoiTable):
        order = np.lexsort((np.arange(len(table)), table.subclass, table.label))
        labels, subclasses = table.label[order], table.subclass[order]
        self.classes: list[int] = []
        self._per_class: list[_ClassRois] = []
        for label in np.unique(labels):
            in_class = labels == label
            rows = order[in_class]
            if rows.size < 2:
                continue
            _, starts, counts = np.unique(subclasses[in_class], return_index=True, return_counts=True)
            self.classes.append(int(label))
            self._per_class.append(_ClassRois(rows, starts, counts))
        if len(self.classes) < 2:
            raise ValueError(f"pair sampling needs at least 2 classes with 2 or more ROIs, found {len(self.classes)}")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def sample(self, rng: np.random.Generator, groups: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(anchors, positives): table rows of shape (groups, classes), column k = class k."""
        anchors = np.empty((groups, self.num_classes), dtype=np.int64)
        positives = np.empty_like(anchors)
        for k, cls in enumerate(self._per_class):
            compounds = cls.counts.size
            a_comp = rng.integers(0, compounds, size=groups)
            p_comp = rng.integers(0, compounds, size=groups)
            a_off = rng.integers(0, cls.counts[a_comp])
            # A compound whose only ROI is the anchor cannot give a positive: use another compound.
            alone = (p_comp == a_comp) & (cls.counts[a_comp] == 1)
            if alone.any():
                other = rng.integers(0, max(compounds - 1, 1), size=groups)
                other = other + (other >= a_comp)
                p_comp = np.where(alone, other, p_comp)
            same = p_comp == a_comp
            # Same compound: draw among the other n-1 ROIs and skip over the anchor's position.
            p_high = np.where(same, cls.counts[p_comp] - 1, cls.counts[p_comp])
            p_off = rng.integers(0, np.maximum(p_high, 1))
            p_off = np.where(same & (p_off >= a_off), p_off + 1, p_off)
            anchors[:, k] = cls.rows[cls.starts[a_comp] + a_off]
            positives[:, k] = cls.rows[cls.starts[p_comp] + p_off]
        return anchors, positives


def minibatch_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one minibatch: independent of order, workers and resumption."""
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, index]))


def minibatch_torch_seed(seed: int, epoch: int, index: int) -> int:
    """A torch seed per minibatch (dropout, augmentation), derived like `minibatch_rng`."""
    return int(np.random.SeedSequence([seed, epoch, index, 1]).generate_state(1, dtype=np.uint64)[0] >> 1)
