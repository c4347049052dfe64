"""Validation on held-out wells: the metric early stopping watches (never the training loss).

Two numbers from one embedding pass over a fixed, seeded subset of validation ROIs:
- val_loss: the N-pair loss over fixed anchor/positive groups drawn from those ROIs (lower is better);
- val_knn_accuracy: how often a validation ROI's nearest training ROI (cosine) has its class
  (higher is better), against a fixed, seeded subset of training ROIs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bioims.learning.inference import embed_rois
from bioims.learning.loss import npair_loss
from bioims.learning.networks import EmbeddingNetwork
from bioims.learning.roifiles import RoiReader
from bioims.learning.sampling import PairSampler, RoiTable

HIGHER_IS_BETTER = {"val_loss": False, "val_knn_accuracy": True}


def choose_rows(count: int, limit: int, seed: int, stream: int) -> np.ndarray:
    """A sorted, seeded choice of at most `limit` of `count` rows."""
    if count <= limit:
        return np.arange(count)
    rng = np.random.default_rng(np.random.SeedSequence([seed, stream]))
    return np.sort(rng.choice(count, size=limit, replace=False))


@dataclass
class ValidationPlan:
    """Fixed for a whole training, so epochs are compared on exactly the same data."""

    queries: RoiTable
    reference: RoiTable
    anchors: np.ndarray | None  # (groups, classes) rows of `queries`, None if no pair can be formed
    positives: np.ndarray | None

    @staticmethod
    def build(train: RoiTable, validation: RoiTable, *, max_rois: int, groups: int, seed: int) -> ValidationPlan | None:
        if len(validation) == 0:
            return None
        queries = validation.subset(choose_rows(len(validation), max_rois, seed, 101))
        reference = train.subset(choose_rows(len(train), max_rois, seed, 102))
        anchors = positives = None
        try:
            sampler = PairSampler(queries)
        except ValueError:
            sampler = None
        if sampler is not None:
            anchors, positives = sampler.sample(np.random.default_rng(np.random.SeedSequence([seed, 103])), groups)
        return ValidationPlan(queries, reference, anchors, positives)

    def metrics_available(self) -> list[str]:
        return (["val_loss"] if self.anchors is not None else []) + ["val_knn_accuracy"]


def _embed_table(net: EmbeddingNetwork, reader: RoiReader, table: RoiTable, device, chunk: int = 256) -> np.ndarray:
    parts = [
        embed_rois(net, reader.gather(table.image[s : s + chunk], table.roi[s : s + chunk]), device=device)
        for s in range(0, len(table), chunk)
    ]
    return np.concatenate(parts)


def knn_accuracy(
    queries: np.ndarray, query_labels: np.ndarray, reference: np.ndarray, reference_labels: np.ndarray
) -> float:
    """Fraction of queries whose most similar reference row (cosine of unit vectors) shares the label."""
    nearest = np.argmax(queries @ reference.T, axis=1)
    return float(np.mean(reference_labels[nearest] == query_labels))


def evaluate(
    net: EmbeddingNetwork, reader: RoiReader, plan: ValidationPlan, *, temperature: float, device
) -> dict[str, float]:
    """Validation metrics for the network's current weights (eval mode, no gradients)."""
    queries = _embed_table(net, reader, plan.queries, device)
    reference = _embed_table(net, reader, plan.reference, device)
    metrics = {"val_knn_accuracy": knn_accuracy(queries, plan.queries.label, reference, plan.reference.label)}
    if plan.anchors is not None:
        a = torch.from_numpy(queries[plan.anchors])
        p = torch.from_numpy(queries[plan.positives])
        metrics["val_loss"] = float(npair_loss(a, p, temperature))
    return metrics


def improved(metric: str, value: float, best: float | None) -> bool:
    if best is None:
        return True
    return value > best if HIGHER_IS_BETTER[metric] else value < best
