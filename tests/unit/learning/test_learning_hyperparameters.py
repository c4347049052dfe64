import pytest

from bioims.learning.hyperparameters import (
    NETWORK_DEFAULTS,
    HyperparameterError,
    TrainConfig,
    resolve_config,
)
from bioims.learning.networks import NETWORKS


def test_every_network_has_defaults_and_a_builder():
    assert set(NETWORK_DEFAULTS) == set(NETWORKS)


def test_bbbc021_defaults_are_the_originals():
    config = resolve_config({})
    assert config.network == "bbbc021-1"
    assert (config.optimizer, config.lr, config.momentum, config.temperature) == ("sgd", 0.001, 0.9, 0.2)
    assert config.minibatches_per_epoch == 100_000 and config.batch_size == 1 and config.augment == "none"


def test_strings_from_sagemaker_are_coerced():
    config = resolve_config(
        {
            "network": "bioims-resnet",
            "lr": "0.01",
            "epochs": "3",
            "blocks": "2,1,1",
            "momentum": "0.5",
            "batch-size": "4",
            "backend": "gloo",
        }
    )
    assert config.lr == 0.01 and config.epochs == 3 and config.blocks == (2, 1, 1)
    assert config.batch_size == 4 and config.optimizer == "adamw"  # network default kept


def test_unknown_and_invalid_values_are_named():
    with pytest.raises(HyperparameterError, match="unknown network 'resnet'"):
        resolve_config({"network": "resnet"})
    with pytest.raises(HyperparameterError, match="learning_rate"):
        resolve_config({"learning_rate": "0.1"})
    with pytest.raises(HyperparameterError, match="lr"):
        resolve_config({"lr": "-1"})
    with pytest.raises(HyperparameterError, match="blocks"):
        resolve_config({"blocks": "0,1"})


def test_digest_ignores_operational_fields_only():
    base = resolve_config({"epochs": 2})
    assert base.digest() == resolve_config({"epochs": 2, "threads": 1, "log_every": 7, "workers": 2}).digest()
    assert base.digest() != resolve_config({"epochs": 2, "lr": 0.002}).digest()
    assert isinstance(base, TrainConfig)
