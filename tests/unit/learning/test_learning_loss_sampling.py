import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bioims.learning.augment import augment_batch
from bioims.learning.loss import npair_loss
from bioims.learning.sampling import PairSampler, RoiTable, minibatch_rng


def test_npair_loss_is_cross_entropy_over_cosine_logits():
    torch.manual_seed(0)
    a = F.normalize(torch.randn(5, 8), dim=1)
    p = F.normalize(torch.randn(5, 8), dim=1)
    logits = (a @ p.T) / 0.2
    expected = -torch.log_softmax(logits, dim=1).diagonal().mean()
    assert torch.allclose(npair_loss(a, p, 0.2), expected)
    # groups average: two groups = mean of each group's loss
    b = F.normalize(torch.randn(5, 8), dim=1)
    grouped = npair_loss(torch.stack([a, b]), torch.stack([p, b]), 0.2)
    assert torch.allclose(grouped, (npair_loss(a, p, 0.2) + npair_loss(b, b, 0.2)) / 2)
    # identical embeddings for every class: chance level ln K
    same = F.normalize(torch.ones(4, 8), dim=1)
    assert npair_loss(same, same, 0.2).item() == pytest.approx(math.log(4))


def test_npair_loss_rejects_bad_shapes():
    with pytest.raises(ValueError, match="differ"):
        npair_loss(torch.zeros(3, 4), torch.zeros(2, 4), 0.2)
    with pytest.raises(ValueError, match="at least 2 classes"):
        npair_loss(torch.zeros(1, 4), torch.zeros(1, 4), 0.2)


def _table(spec):
    """spec: list of (label, subclass, rois) per image."""
    images = [type("I", (), {"rois": n, "label": label, "subclass": s})() for label, s, n in spec]
    return RoiTable.from_images(images)


def test_roi_table_lists_every_roi():
    table = _table([(0, 0, 2), (1, 3, 0), (1, 4, 3)])
    assert table.image.tolist() == [0, 0, 2, 2, 2]
    assert table.roi.tolist() == [0, 1, 0, 1, 2]
    assert table.label.tolist() == [0, 0, 1, 1, 1] and table.subclass.tolist() == [0, 0, 4, 4, 4]


def test_pairs_come_from_their_class_and_never_repeat_the_anchor():
    table = _table([(0, 0, 5), (0, 1, 1), (1, 2, 3), (1, 3, 2), (2, 4, 1), (2, 5, 1), (3, 6, 1)])
    sampler = PairSampler(table)
    assert sampler.classes == [0, 1, 2]  # class 3 has one ROI: skipped, not a crash
    anchors, positives = sampler.sample(np.random.default_rng(1), groups=500)
    assert anchors.shape == (500, 3)
    assert (table.label[anchors] == np.array([0, 1, 2])).all()
    assert (table.label[positives] == np.array([0, 1, 2])).all()
    assert (anchors != positives).all()
    # class 2: two single-ROI compounds -> the positive is always the other compound (no endless loop)
    assert (table.subclass[anchors[:, 2]] != table.subclass[positives[:, 2]]).all()


def test_compounds_are_drawn_uniformly_not_by_roi_count():
    table = _table([(0, 0, 99), (0, 1, 1), (1, 2, 2)])
    anchors, _ = PairSampler(table).sample(np.random.default_rng(0), groups=4000)
    share = np.mean(table.subclass[anchors[:, 0]] == 1)
    assert 0.45 < share < 0.55  # the 1-ROI compound is the anchor about half the time


def test_sampling_is_seeded_per_minibatch():
    sampler = PairSampler(_table([(0, 0, 4), (1, 1, 4), (2, 2, 4)]))
    first = sampler.sample(minibatch_rng(7, 1, 3), 4)
    again = sampler.sample(minibatch_rng(7, 1, 3), 4)
    other = sampler.sample(minibatch_rng(7, 1, 4), 4)
    assert all((x == y).all() for x, y in zip(first, again, strict=True))
    assert not all((x == y).all() for x, y in zip(first, other, strict=True))


def test_sampler_needs_two_classes():
    with pytest.raises(ValueError, match="at least 2 classes"):
        PairSampler(_table([(0, 0, 5), (1, 1, 1)]))


def test_augmentation_keeps_values_and_is_seeded():
    x = torch.rand(16, 2, 8, 8)
    out = augment_batch(x, "dihedral", generator=torch.Generator().manual_seed(3))
    # each ROI is one of its 8 dihedral images: same multiset of pixel values
    assert torch.equal(out.flatten(1).sort(dim=1).values, x.flatten(1).sort(dim=1).values)
    assert not torch.equal(out, x)
    again = augment_batch(x, "dihedral", generator=torch.Generator().manual_seed(3))
    assert torch.equal(out, again)
    jittered = augment_batch(x, "dihedral+intensity", jitter=0.2, generator=torch.Generator().manual_seed(3))
    assert jittered.min() >= 0 and jittered.max() <= 1 and not torch.equal(jittered, out)
    assert torch.equal(augment_batch(x, "none"), x)
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment_batch(x, "rotate")
