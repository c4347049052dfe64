"""The multi-class N-pair loss of the original (docs/original.md §4.8), over groups of pairs.

One group is K anchor/positive pairs, one per class. With unit-norm embeddings a, p (K, D):
logits = a @ p.T / temperature and the loss is the cross entropy of row i picking column i.
A minibatch of G groups averages the G group losses; G = 1 is exactly the original.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def npair_loss(anchors: torch.Tensor, positives: torch.Tensor, temperature: float) -> torch.Tensor:
    """anchors, positives: (G, K, D) or (K, D) unit vectors -> scalar mean loss."""
    if anchors.shape != positives.shape:
        raise ValueError(f"anchor and positive shapes differ: {tuple(anchors.shape)} vs {tuple(positives.shape)}")
    if anchors.ndim == 2:
        anchors, positives = anchors.unsqueeze(0), positives.unsqueeze(0)
    if anchors.ndim != 3 or anchors.shape[1] < 2:
        raise ValueError("the N-pair loss needs groups of at least 2 classes, shape (G, K>=2, D)")
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    groups, classes, _ = anchors.shape
    logits = torch.bmm(anchors, positives.transpose(1, 2)) / temperature
    target = torch.arange(classes, device=anchors.device).repeat(groups)
    return F.cross_entropy(logits.reshape(groups * classes, classes), target)
