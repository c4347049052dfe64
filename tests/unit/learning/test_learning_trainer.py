import math

import pytest
import torch

from bioims.learning.hyperparameters import resolve_config
from bioims.learning.modelcard import load_model
from bioims.learning.trainer import CheckpointMismatch, Trainer, train_network
from bioims.learning.validation import evaluate
from tests.unit.learning.learning_roiset import FAST, RoiSetSpec, make_training_set

SPEC = RoiSetSpec(classes=3, compounds_per_class=2, wells_per_compound=3, images_per_well=2, rois_per_image=6, size=24)
RESNET = {**FAST, "network": "bioims-resnet", "width": 16, "lr": 0.002}


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def training_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("roiset") / "data"
    _, _, manifest = make_training_set(root, SPEC, validation_fraction=0.34)
    return root, manifest


def _untrained_metrics(root, manifest, config, tmp_path):
    trainer = Trainer(manifest, root, config, checkpoint_dir=tmp_path / "untrained")
    return evaluate(trainer.net, trainer.reader, trainer.plan, temperature=config.temperature, device="cpu")


def _weights(model_dir):
    net, _ = load_model(model_dir)
    return net.state_dict()


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "hyper",
    [
        {**RESNET, "epochs": 2, "minibatches_per_epoch": 20},
        {**FAST, "network": "bbbc021-1", "optimizer": "adamw", "lr": 0.0003, "epochs": 2, "minibatches_per_epoch": 30},
    ],
    ids=["bioims-resnet", "bbbc021-1"],
)
def test_short_training_beats_untrained_on_held_out_wells(training_set, tmp_path, hyper):
    root, manifest = training_set
    config = resolve_config({**hyper, "patience": 5})
    before = _untrained_metrics(root, manifest, config, tmp_path)
    result = train_network(manifest, root, config, tmp_path / "model")
    best = result.card["validation"]["atBestEpoch"]
    assert before["val_loss"] > math.log(3) - 0.05  # untrained: near chance (ln K)
    assert best["val_loss"] < before["val_loss"] - 0.2
    assert best["val_knn_accuracy"] >= before["val_knn_accuracy"]
    card = result.card
    assert card["network"] == hyper["network"] and card["hyperparameters"]["lr"] == hyper["lr"]
    assert card["data"]["trainId"] == manifest.trainId and card["data"]["roiSize"] == 24
    assert card["epochs"]["completed"] == hyper["epochs"] and card["validation"]["metric"] == "val_knn_accuracy"
    assert (tmp_path / "model" / "model.pth").is_file() and (tmp_path / "model" / "model-card.json").is_file()


@pytest.mark.parametrize(
    "hyper,stop_at,checkpoint_minutes,resumed_at",
    [
        (
            {**FAST, "network": "bbbc021-1", "epochs": 2, "minibatches_per_epoch": 3},
            (2, 2),
            60.0,
            "epoch 2, minibatch 0",
        ),
        ({**RESNET, "dropout": 0.2, "epochs": 2, "minibatches_per_epoch": 4}, (1, 3), 1e-9, "epoch 1, minibatch 2"),
    ],
    ids=["bbbc021-1-epoch-checkpoint", "resnet-mid-epoch-checkpoint"],
)
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(
    training_set, tmp_path, hyper, stop_at, checkpoint_minutes, resumed_at
):
    root, manifest = training_set
    config = resolve_config({**hyper, "checkpoint_minutes": checkpoint_minutes})
    train_network(manifest, root, config, tmp_path / "straight", checkpoint_dir=tmp_path / "ck-straight")

    def crash(report):
        if report.event == "minibatch" and (report.epoch, report.minibatch) == stop_at:
            raise Interrupt()

    with pytest.raises(Interrupt):
        train_network(manifest, root, config, tmp_path / "resumed", checkpoint_dir=tmp_path / "ck", progress=crash)
    events = []
    train_network(manifest, root, config, tmp_path / "resumed", checkpoint_dir=tmp_path / "ck", progress=events.append)
    assert events[0].event == "start" and events[0].message == f"resumed at {resumed_at}"
    assert _same(_weights(tmp_path / "straight"), _weights(tmp_path / "resumed"))


def test_changed_config_does_not_resume_and_finished_runs_complete_at_once(training_set, tmp_path):
    root, manifest = training_set
    config = resolve_config({**RESNET, "epochs": 1, "minibatches_per_epoch": 2})
    train_network(manifest, root, config, tmp_path / "m1", checkpoint_dir=tmp_path / "ck")
    events = []
    train_network(manifest, root, config, tmp_path / "m2", checkpoint_dir=tmp_path / "ck", progress=events.append)
    assert [e.event for e in events] == ["start", "done"]  # nothing re-trained
    assert _same(_weights(tmp_path / "m1"), _weights(tmp_path / "m2"))
    with pytest.raises(CheckpointMismatch, match="different configuration"):
        train_network(
            manifest,
            root,
            resolve_config({**RESNET, "epochs": 1, "minibatches_per_epoch": 2, "lr": 0.01}),
            tmp_path / "m3",
            checkpoint_dir=tmp_path / "ck",
        )


def test_early_stopping_watches_the_validation_metric(training_set, tmp_path):
    root, manifest = training_set
    # weights cannot move at this learning rate, so the validation metric never improves after epoch 1
    config = resolve_config(
        {
            **RESNET,
            "early_stopping_metric": "val_loss",
            "lr": 1e-12,
            "weight_decay": 0,
            "epochs": 5,
            "minibatches_per_epoch": 2,
            "patience": 2,
            "log_every": 1,
        }
    )
    events = []
    card = train_network(manifest, root, config, tmp_path / "m", progress=events.append).card
    assert card["epochs"] == {"configured": 5, "completed": 3, "best": 1, "stoppedEarly": True}
    assert [h["epoch"] for h in card["history"]] == [1, 2, 3]
    # every minibatch report after the first epoch carries the last epoch's validation metrics and an ETA
    minibatches = [e for e in events if e.event == "minibatch"]
    assert [e.metrics for e in minibatches if e.epoch == 1] == [{}, {}]
    for e in (e for e in minibatches if e.epoch > 1):
        previous = card["history"][e.epoch - 2]
        assert e.metrics == {k: v for k, v in previous.items() if k.startswith("val_")} and "val_loss" in e.metrics
        assert e.eta_s is not None and e.loss is not None
    assert events[-2].message.startswith("stopping: no improvement of val_loss")


def test_without_validation_wells_all_epochs_run(tmp_path):
    root = tmp_path / "data"
    _, _, manifest = make_training_set(root, SPEC, validation_fraction=0.0)
    config = resolve_config({**RESNET, "epochs": 2, "minibatches_per_epoch": 2, "patience": 1})
    card = train_network(manifest, root, config, tmp_path / "m").card
    assert card["epochs"]["completed"] == 2 and card["epochs"]["best"] == 2
    assert card["validation"]["metric"] is None
    assert any("no validation wells" in note for note in card["notes"])


def test_loader_workers_do_not_change_the_result(training_set, tmp_path):
    root, manifest = training_set
    base = {**RESNET, "epochs": 1, "minibatches_per_epoch": 3}
    train_network(manifest, root, resolve_config({**base, "workers": 0}), tmp_path / "w0")
    train_network(manifest, root, resolve_config({**base, "workers": 1}), tmp_path / "w1")
    assert _same(_weights(tmp_path / "w0"), _weights(tmp_path / "w1"))
