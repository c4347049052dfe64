import json
from pathlib import Path

import pytest

from bioims import keys
from bioims.learning import scriptmode
from bioims.learning.modelcard import load_model
from bioims.learning.progress import parse_progress_line
from bioims.learning.scriptmode import (
    ScriptError,
    container_invocation,
    hyperparameter_arguments,
    main,
    manifest_key_from,
    parse_arguments,
    read_environment,
)
from tests.unit.learning.learning_roiset import RoiSetSpec, make_training_set


def sm_env(data: Path, model: Path, checkpoints: Path, **extra: str) -> dict[str, str]:
    return {
        "SM_CHANNEL_TRAINING": str(data),
        "SM_MODEL_DIR": str(model),
        "SM_CHECKPOINT_DIR": str(checkpoints),
        "SM_HOSTS": '["algo-1"]',
        "SM_CURRENT_HOST": "algo-1",
        "SM_NUM_GPUS": "0",
        **extra,
    }


SPEC = RoiSetSpec(classes=2, compounds_per_class=1, wells_per_compound=2, images_per_well=1, rois_per_image=4, size=16)
HYPER = {"network": "bioims-resnet", "width": 8, "epochs": 1, "minibatches_per_epoch": 2, "threads": 1, "log_every": 1}


@pytest.fixture
def data(tmp_path):
    make_training_set(tmp_path / "data", SPEC, train_id="T1")
    return tmp_path / "data"


def test_arguments_and_manifest_key():
    assert parse_arguments(["--lr", "0.1", "--batch-size=4", "--train_list_file", "x"]) == {
        "lr": "0.1",
        "batch_size": "4",
        "train_list_file": "x",
    }
    with pytest.raises(ScriptError, match="has no value"):
        parse_arguments(["--lr"])
    with pytest.raises(ScriptError, match="unexpected argument"):
        parse_arguments(["lr", "1"])
    assert manifest_key_from({"train_list_file": keys.image_list_key("T1")}) == keys.training_manifest_key("T1")
    assert manifest_key_from({"train_manifest": "a/b.json"}) == "a/b.json"
    with pytest.raises(ScriptError, match="no training set given"):
        manifest_key_from({})
    assert hyperparameter_arguments({"blocks": (1, 2), "flag": True, "skip": None, "lr": 0.1}) == [
        "--blocks",
        "1,2",
        "--flag",
        "true",
        "--lr",
        "0.1",
    ]


def test_environment_is_checked(tmp_path):
    with pytest.raises(ScriptError, match="SM_CHANNEL_TRAINING, SM_MODEL_DIR"):
        read_environment({})
    with pytest.raises(ScriptError, match="not a directory"):
        read_environment({"SM_CHANNEL_TRAINING": str(tmp_path / "none"), "SM_MODEL_DIR": str(tmp_path)})
    env = read_environment(sm_env(tmp_path, tmp_path / "m", tmp_path / "c"))
    assert env.hosts == ["algo-1"] and env.checkpoint_dir == tmp_path / "c" and env.num_gpus == 0
    with pytest.raises(ScriptError, match="SM_HOSTS"):
        read_environment(sm_env(tmp_path, tmp_path / "m", tmp_path / "c", SM_HOSTS="algo-1"))


def test_main_trains_writes_model_and_reports_progress(data, tmp_path, capsys):
    env = sm_env(data, tmp_path / "model", tmp_path / "ckpt")
    argv = ["--train_list_file", keys.image_list_key("T1"), "--backend", "gloo", *hyperparameter_arguments(HYPER)]
    assert main(argv, env) == 0
    reports = [parse_progress_line(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["event"] for r in reports if r] == ["start", "minibatch", "minibatch", "epoch", "done"]
    net, card = load_model(tmp_path / "model")
    assert card["data"]["trainId"] == "T1" and card["hyperparameters"]["width"] == 8
    assert (tmp_path / "ckpt" / "checkpoint.pt").is_file()


def test_bad_input_exits_2_with_a_failure_reason(data, tmp_path, capsys):
    env = sm_env(data, tmp_path / "model", tmp_path / "ckpt", SM_OUTPUT_DIR=str(tmp_path / "out"))
    assert main(["--train_manifest", keys.training_manifest_key("T1"), "--lr", "fast"], env) == 2
    assert "lr" in (tmp_path / "out" / "failure").read_text()
    assert main(["--train_manifest", "missing.json"], env) == 2
    assert "missing.json not found" in capsys.readouterr().err
    two_hosts = {**env, "SM_HOSTS": json.dumps(["a", "b"])}
    assert main(["--train_manifest", keys.training_manifest_key("T1")], two_hosts) == 2
    assert not (tmp_path / "model" / "model.pth").exists()


def test_a_container_started_as_train_reads_sagemakers_files(data, tmp_path, monkeypatch, capsys):
    root = tmp_path / "opt-ml"
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "data").mkdir()
    (root / "input" / "data" / "training").symlink_to(data, target_is_directory=True)
    hyper = {"train_manifest": keys.training_manifest_key("T1"), **{k: str(v) for k, v in HYPER.items()}}
    hyper["network"] = json.dumps(hyper["network"])  # the SageMaker SDK's JSON-encoded form
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyper))
    (root / "input" / "config" / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]})
    )
    argv, env = container_invocation(root)
    assert env["SM_MODEL_DIR"] == str(root / "model") and "--network" in argv
    assert argv[argv.index("--network") + 1] == "bioims-resnet"
    monkeypatch.setattr(scriptmode, "SAGEMAKER_ROOT", root)
    monkeypatch.setattr(scriptmode, "DEFAULT_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    assert main(["train"], {}) == 0
    _, card = load_model(root / "model")
    assert card["network"] == "bioims-resnet"
    (root / "input" / "config" / "resourceconfig.json").unlink()
    assert main(["train"], {}) == 2
    assert "resourceconfig.json is missing" in capsys.readouterr().err
