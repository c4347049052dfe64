import numpy as np
import pytest
import torch

from bioims import keys
from bioims.learning.hyperparameters import resolve_config
from bioims.learning.inference import (
    EmbeddingError,
    embed_image,
    embed_plate,
    embed_rois,
    image_embedding,
    read_plate_embeddings,
)
from bioims.learning.modelcard import ModelError, fetch_model, load_model, publish_model
from bioims.learning.networks import create_network
from bioims.learning.trainer import train_network
from bioims.store.localfs import LocalObjectStore
from bioims.vectors import decode_vector, encode_vector
from tests.unit.learning.learning_roiset import FAST, RoiSetSpec, cell_rois, make_training_set, write_image

SPEC = RoiSetSpec(classes=2, compounds_per_class=1, wells_per_compound=2, images_per_well=1, rois_per_image=5, size=24)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("inference")
    store, rows, manifest = make_training_set(root / "data", SPEC)
    config = resolve_config({**FAST, "network": "bbbc021-1", "epochs": 1, "minibatches_per_epoch": 2})
    train_network(manifest, root / "data", config, root / "model")
    return store, rows, root / "model"


def test_inference_is_deterministic_with_dropout_in_the_network(trained):
    _, _, model_dir = trained
    net, card = load_model(model_dir)
    assert card["network"] == "bbbc021-1" and not net.training
    assert any(isinstance(m, torch.nn.Dropout2d) for m in net.modules())
    rois = cell_rois(np.random.default_rng(1), 0, 0, SPEC, 70)
    net.train()  # even a caller that left it in training mode gets eval-mode embeddings
    first = embed_rois(net, rois)
    second = embed_rois(net, rois)
    assert first.dtype == np.float32 and first.shape == (70, 256)
    assert np.array_equal(first, second)
    assert net.training  # the caller's mode is restored
    assert np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)


def test_embed_rois_checks_the_input():
    net = create_network(resolve_config({"network": "bioims-resnet", "width": 8}), 2, 24)
    with pytest.raises(EmbeddingError, match=r"expects ROIs \(n, 2, 24, 24\)"):
        embed_rois(net, np.zeros((1, 3, 1, 24, 24), np.uint16))
    with pytest.raises(EmbeddingError, match="uint16"):
        embed_rois(net, np.zeros((1, 2, 24, 24), np.float32))
    with pytest.raises(EmbeddingError, match="depth"):
        embed_rois(net, np.zeros((1, 2, 2, 24, 24), np.uint16))


def test_image_embedding_is_the_renormalised_mean():
    rois = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    assert np.allclose(image_embedding(rois), np.array([2, 1]) / np.sqrt(5))
    with pytest.raises(EmbeddingError, match="at least one ROI"):
        image_embedding(np.zeros((0, 2)))
    with pytest.raises(EmbeddingError, match="cancel out"):
        image_embedding(np.array([[1.0, 0.0], [-1.0, 0.0]]))


def test_embed_plate_writes_roi_and_plate_arrays_and_reruns_identically(trained):
    store, rows, model_dir = trained
    net, _ = load_model(model_dir)
    plate = "plateA"
    write_image(store, "emb", plate, "noroi", np.zeros((0, 2, 1, 24, 24), np.uint16), None, -1)
    image_ids = [r["imageId"] for r in rows if r["plateId"] == plate] + ["noroi"]
    results, key = embed_plate(store, net, "emb", "T9", plate, image_ids)
    assert key == keys.plate_embeddings_key("T9", plate)
    by_id = {r.imageId: r for r in results}
    assert by_id["noroi"].roiCount == 0 and by_id["noroi"].embedding is None
    first = next(r for r in results if r.roiCount)
    roi_matrix = np.load(store.local_path(first.roiEmbeddingKey))
    assert roi_matrix.shape == (5, 256) and np.allclose(image_embedding(roi_matrix), first.embedding)
    ids, matrix = read_plate_embeddings(store, "T9", plate)
    assert ids == sorted(i for i in image_ids if i != "noroi") and matrix.shape == (len(ids), 256)
    assert np.allclose(decode_vector(encode_vector(first.embedding)), first.embedding)
    # recomputed from scratch: bit-identical files
    again, _ = embed_plate(store, net, "emb", "T9", plate, image_ids, overwrite=True)
    ids2, matrix2 = read_plate_embeddings(store, "T9", plate)
    assert ids2 == ids and np.array_equal(matrix, matrix2)
    assert np.array_equal(np.load(store.local_path(first.roiEmbeddingKey)), roi_matrix)
    with pytest.raises(EmbeddingError, match="process plate plateA first"):
        embed_image(store, net, "emb", "T9", plate, "missing")


class _RemoteStore(LocalObjectStore):
    """A store without local paths, like S3: models must be downloaded."""

    def local_path(self, key):
        return None


def test_models_are_published_and_fetched(trained, tmp_path):
    store, _, model_dir = trained
    with pytest.raises(ModelError, match="no model yet"):
        fetch_model(store, "T9")
    publish_model(store, "T9", model_dir)
    assert fetch_model(store, "T9") == (store.root / keys.model_key("T9")).parent  # in place, no copy
    remote = _RemoteStore(store.root)
    cached = fetch_model(remote, "T9", cache_root=tmp_path / "cache")
    assert cached == tmp_path / "cache" / "T9"
    net, card = load_model(cached)
    original, _ = load_model(model_dir)
    assert card["data"]["roiSize"] == 24 and net.roi_size == 24
    assert all(
        torch.equal(a, b) for a, b in zip(net.state_dict().values(), original.state_dict().values(), strict=True)
    )
    with pytest.raises(ModelError, match="no model card"):
        load_model(tmp_path / "nothing")
