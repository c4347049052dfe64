"""Training hyperparameters: one validated model, defaults per network.

The embedding configuration (BioimsTrainingConfiguration `trainingHyperparameters`) and the
SageMaker script-mode arguments both end up here. SageMaker passes every value as a string, so
fields coerce "0.001" / "true" / "1,1,1,1". Values not given fall back to the chosen network's
defaults (NETWORK_DEFAULTS), then to the field defaults. Unknown names are an error, so a typo
never silently trains with a default.

Every value given is used: `batch_size`, `lr` and `momentum` are honoured, minibatches per epoch
is a hyperparameter, early stopping uses a validation metric on held-out wells, and everything is
seeded (the original ignored several of them: docs/original.md §4.8, §8.4 #33).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# The hyperparameter that asks the training entry for the seeded initial weights (the untrained
# copy of a network); here, not in the torch-importing script, so the train service can name it.
UNTRAINED_ARGUMENT = "untrained"

AugmentMode = Literal["none", "flips", "dihedral", "dihedral+intensity"]
StopMetric = Literal["val_loss", "val_knn_accuracy"]


class HyperparameterError(ValueError):
    """Hyperparameters are invalid; the message names each bad field."""


OPERATIONAL_FIELDS = {"log_every", "checkpoint_minutes", "workers", "threads", "device"}


class TrainConfig(BaseModel):
    """Everything that determines a training run besides the data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    network: str = "bbbc021-1"
    epochs: int = Field(2, ge=1)
    minibatches_per_epoch: int = Field(100_000, ge=1)
    # N-pair groups per minibatch; each group is one anchor/positive pair per class (1 = original).
    batch_size: int = Field(1, ge=1)
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = Field(0.001, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    temperature: float = Field(0.2, gt=0)
    seed: int = Field(42, ge=0)
    patience: int = Field(1, ge=1)  # epochs without improvement before stopping (original: 1)
    # nearest-neighbour retrieval on held-out wells is what search does with the embeddings
    early_stopping_metric: StopMetric = "val_knn_accuracy"
    validation_max_rois: int = Field(2000, ge=2)
    validation_groups: int = Field(50, ge=1)
    augment: AugmentMode = "none"
    # "dataset": standardise each input channel by the training ROIs' mean and std (the original: none)
    input_norm: Literal["none", "dataset"] = "none"
    intensity_jitter: float = Field(0.1, ge=0, lt=1)
    embedding_dim: int = Field(256, ge=2)
    workers: int = Field(0, ge=0)
    threads: int = Field(0, ge=0)  # 0 = all cores the process may use
    device: Literal["auto", "cpu", "cuda"] = "auto"
    log_every: int = Field(200, ge=1)  # minibatches between progress lines (original: 200)
    checkpoint_minutes: float = Field(10.0, gt=0)  # also checkpointed at every epoch end
    # network-specific (None = the network's own default)
    input_size: int | None = Field(None, ge=1)
    width: int | None = Field(None, ge=4)
    blocks: tuple[int, ...] | None = None
    dropout: float | None = Field(None, ge=0, lt=1)

    @field_validator("blocks", mode="before")
    @classmethod
    def _parse_blocks(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().strip("[]()")
            return tuple(int(part) for part in text.replace(" ", "").split(",") if part)
        return value

    @field_validator("blocks")
    @classmethod
    def _check_blocks(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is not None and (not value or any(b < 1 for b in value)):
            raise ValueError("blocks must be a non-empty list of positive integers, e.g. 1,1,1,1")
        return value

    def digest(self) -> str:
        """A stable hash of the fields that shape the result: a checkpoint only resumes a run
        with the same ones (how often to log or checkpoint, workers, threads and device may change)."""
        text = json.dumps(self.model_dump(mode="json", exclude=OPERATIONAL_FIELDS), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# Defaults that differ per network. bbbc021-1 keeps the original's values (docs/original.md §4.8).
NETWORK_DEFAULTS: dict[str, dict[str, Any]] = {
    "bbbc021-1": {
        "optimizer": "sgd",
        "lr": 0.001,
        "momentum": 0.9,
        "temperature": 0.2,
        "augment": "none",
        "minibatches_per_epoch": 100_000,
    },
    "bioims-resnet": {
        "optimizer": "adamw",
        "lr": 0.0003,
        "weight_decay": 0.0001,
        "temperature": 0.1,
        "batch_size": 4,
        "augment": "dihedral",
        "minibatches_per_epoch": 5_000,
        "patience": 2,
        "epochs": 10,
    },
}

# Script-mode arguments of the original that carry no meaning here; accepted and ignored.
IGNORED_ARGUMENTS = frozenset({"backend", "hosts", "current_host", "model_dir", "data_dir", "num_gpus", "train"})


def resolve_config(values: Mapping[str, Any] | None = None) -> TrainConfig:
    """Validate hyperparameters (strings allowed) over the chosen network's defaults."""
    given = {k.replace("-", "_"): v for k, v in (values or {}).items() if v is not None}
    for name in IGNORED_ARGUMENTS:
        given.pop(name, None)
    network = str(given.get("network", TrainConfig.model_fields["network"].default))
    if network not in NETWORK_DEFAULTS:
        raise HyperparameterError(f"unknown network {network!r}; choose one of {', '.join(sorted(NETWORK_DEFAULTS))}")
    merged = {**NETWORK_DEFAULTS[network], **given, "network": network}
    try:
        return TrainConfig(**merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'hyperparameters'}: {err['msg']}" for err in exc.errors()
        )
        raise HyperparameterError(f"invalid hyperparameters: {problems}") from None


# Hyperparameters of the training build (the validation split), not of the training script.
BUILD_DEFAULTS: dict[str, float] = {"validation_fraction": 0.2}


def split_build_parameters(values: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(build options {validation_fraction, seed}, script hyperparameters) of an embedding's
    trainingHyperparameters; the split seed is the training seed."""
    script = {k.replace("-", "_"): v for k, v in (values or {}).items() if v is not None}
    try:
        fraction = float(script.pop("validation_fraction", BUILD_DEFAULTS["validation_fraction"]))
    except (TypeError, ValueError):
        raise HyperparameterError("invalid hyperparameters: validation_fraction must be a number in [0, 1)") from None
    if not 0 <= fraction < 1:
        raise HyperparameterError(f"invalid hyperparameters: validation_fraction must be in [0, 1), got {fraction}")
    seed = resolve_config(script).seed
    return {"validation_fraction": fraction, "seed": seed}, script
