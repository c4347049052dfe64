"""The training loop: N-pair minibatches streamed from ROI files, checkpoints, early stopping.

Determinism: initial weights come from `seed`; every minibatch draws its pairs from a numpy
Generator and its dropout/augmentation from a torch seed both derived from (seed, epoch, index),
so a run resumed from any checkpoint replays exactly what an uninterrupted run does and ends with
the same weights (CPU). Checkpoints (atomic) hold weights, optimiser state and the loop position;
they are written at every epoch end and every `checkpoint_minutes`, and resume only a run with
the same hyperparameters and the same manifest. The best weights by the validation metric are
kept beside the checkpoint and become model.pth; without a validation split every epoch runs and
the last weights are kept.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from bioims import faults, ids, keys
from bioims.learning.augment import augment_batch
from bioims.learning.device import setup_torch
from bioims.learning.hyperparameters import StopMetric, TrainConfig
from bioims.learning.loss import npair_loss
from bioims.learning.manifest import TrainingManifest, TrainingSetError
from bioims.learning.modelcard import CARD_VERSION, atomic_torch_save, atomic_write_text, write_model
from bioims.learning.networks import EmbeddingNetwork, create_network
from bioims.learning.roifiles import ROI_SCALE, RoiReader
from bioims.learning.sampling import PairSampler, RoiTable, minibatch_rng, minibatch_torch_seed
from bioims.learning.validation import ValidationPlan, choose_rows, evaluate, improved

CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pth"
PROGRESS_FILE = keys.PROGRESS_FILE  # the latest report, beside the checkpoints (synced to S3 on AWS)


class CheckpointMismatch(RuntimeError):
    """A checkpoint exists but belongs to a different configuration or training set."""


@dataclass
class TrainProgress:
    """One progress report: per `log_every` minibatches, per epoch, and at the end."""

    event: str  # "start" | "minibatch" | "epoch" | "done"
    epoch: int  # 1-based epoch being run / just finished
    epochs: int
    minibatch: int  # minibatches done in this epoch
    minibatches: int
    loss: float | None = None  # mean training loss since the last report (or of the epoch)
    metrics: dict[str, float] = field(default_factory=dict)
    best_epoch: int | None = None
    elapsed_s: float = 0.0
    eta_s: float | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoopState:
    """Where the loop is; saved in every checkpoint."""

    epoch: int = 0  # 0-based epoch to run next / being run
    minibatch: int = 0  # minibatches done in `epoch`
    epoch_loss_sum: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    stopped_early: bool = False
    finished: bool = False


@dataclass
class TrainResult:
    model_dir: Path
    card: dict[str, Any]


class _Minibatches(Dataset):
    """Minibatch `index` of one epoch: uint16 ROIs -> float32 (2*groups*classes, C, R, R)."""

    def __init__(self, reader: RoiReader, table: RoiTable, sampler: PairSampler, config: TrainConfig, epoch: int):
        self.reader, self.table, self.sampler = reader, table, sampler
        self.seed, self.epoch, self.groups = config.seed, epoch, config.batch_size
        self.length = config.minibatches_per_epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        anchors, positives = self.sampler.sample(minibatch_rng(self.seed, self.epoch, index), self.groups)
        rows = np.concatenate([anchors.ravel(), positives.ravel()])
        rois = self.reader.gather(self.table.image[rows], self.table.roi[rows])
        return torch.from_numpy(rois.astype(np.float32) / np.float32(ROI_SCALE))


def manifest_digest(manifest: TrainingManifest) -> str:
    """A hash of the training set's content; when it was built does not count, so a run killed
    and resumed after its training set was rebuilt (resumeTraining) continues its checkpoint."""
    content = json.loads(manifest.to_json())
    content.pop("createTimestamp", None)
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def _make_optimizer(net: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            net.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    return torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)


class Trainer:
    """Trains one network on one manifest; `run()` resumes from `checkpoint_dir` when it can."""

    def __init__(
        self,
        manifest: TrainingManifest,
        data_root: Path | str,
        config: TrainConfig,
        *,
        checkpoint_dir: Path | str,
        progress: Callable[[TrainProgress], None] | None = None,
    ):
        self.manifest, self.config = manifest, config
        self.data_root = Path(data_root)
        self.checkpoint_dir = Path(checkpoint_dir)
        self._callback = progress or (lambda report: None)
        self.device = setup_torch(config.device, config.threads)
        self.reader = RoiReader(self.data_root, [image.prefix for image in manifest.images])
        table = RoiTable.from_images(manifest.images)
        validation_flags = np.array([image.validation for image in manifest.images], dtype=bool)
        in_validation = validation_flags[table.image] if len(table) else np.zeros(0, dtype=bool)
        self.table = table.subset(np.flatnonzero(~in_validation))
        try:
            self.sampler = PairSampler(self.table)
        except ValueError as exc:
            raise TrainingSetError(f"training {manifest.trainId}: {exc}") from None
        self.plan = ValidationPlan.build(
            self.table,
            table.subset(np.flatnonzero(in_validation)),
            max_rois=config.validation_max_rois,
            groups=config.validation_groups,
            seed=config.seed,
        )
        self.stop_metric: StopMetric | None = config.early_stopping_metric
        self.notes: list[str] = []
        if self.plan is None:
            self.stop_metric = None
            self.notes.append("no validation wells: all epochs run, the last weights are kept")
        elif self.stop_metric not in self.plan.metrics_available():
            self.notes.append(
                f"{self.stop_metric} unavailable (no class has 2 validation ROIs); using val_knn_accuracy"
            )
            self.stop_metric = "val_knn_accuracy"
        torch.manual_seed(config.seed)
        self.net: EmbeddingNetwork = create_network(config, manifest.channels, manifest.roiSize)
        if config.input_norm == "dataset":
            self.net.set_input_normalisation(*self._channel_statistics())
        self.net.to(self.device)
        self.optimizer = _make_optimizer(self.net, config)
        self.state = LoopState()
        self.identity = {"config": config.digest(), "manifest": manifest_digest(manifest)}

    def progress(self, report: TrainProgress) -> None:
        """Record the report beside the checkpoints, then pass it on."""
        atomic_write_text(self.checkpoint_dir / PROGRESS_FILE, json.dumps(report.to_dict()))
        self._callback(report)

    def _channel_statistics(self, limit: int = 2000, chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and std of a seeded sample of training ROIs (streamed, float64 sums)."""
        rows = choose_rows(len(self.table), limit, self.config.seed, 104)
        total = np.zeros(self.manifest.channels)
        squares = np.zeros(self.manifest.channels)
        count = 0
        for start in range(0, rows.size, chunk):
            part = rows[start : start + chunk]
            x = self.reader.gather(self.table.image[part], self.table.roi[part]).astype(np.float64) / ROI_SCALE
            total += x.sum(axis=(0, 2, 3))
            squares += (x**2).sum(axis=(0, 2, 3))
            count += x.shape[0] * x.shape[2] * x.shape[3]
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean**2, 0)) + 1e-6
        return torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)

    # --- checkpoints ---------------------------------------------------------------------------
    def _save_checkpoint(self) -> None:
        atomic_torch_save(
            {
                "identity": self.identity,
                "model": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
                "optimizer": self.optimizer.state_dict(),
                "state": asdict(self.state),
            },
            self.checkpoint_dir / CHECKPOINT_FILE,
        )
        faults.point("checkpoint-saved")

    def _restore(self) -> bool:
        path = self.checkpoint_dir / CHECKPOINT_FILE
        if not path.is_file():
            return False
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if saved.get("identity") != self.identity:
            raise CheckpointMismatch(
                f"checkpoint {path} belongs to a different configuration or training set "
                f"({saved.get('identity')} != {self.identity}); remove it to start over"
            )
        self.net.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.state = LoopState(**saved["state"])
        return True

    # --- the loop ------------------------------------------------------------------------------
    def _step(self, batch: torch.Tensor, epoch: int, index: int) -> float:
        config = self.config
        torch_seed = minibatch_torch_seed(config.seed, epoch, index)
        torch.manual_seed(torch_seed)
        generator = torch.Generator().manual_seed(torch_seed)
        x = augment_batch(batch.to(self.device), config.augment, jitter=config.intensity_jitter, generator=generator)
        embeddings = self.net(x)
        half = embeddings.shape[0] // 2
        shape = (config.batch_size, self.sampler.num_classes, embeddings.shape[1])
        loss = npair_loss(embeddings[:half].reshape(shape), embeddings[half:].reshape(shape), config.temperature)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss.item()} at epoch {epoch + 1}, minibatch {index + 1}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def _end_epoch(self, epoch: int, started: float) -> None:
        config, state = self.config, self.state
        metrics: dict[str, float] = {}
        if self.plan is not None:
            metrics = evaluate(self.net, self.reader, self.plan, temperature=config.temperature, device=self.device)
            self.net.train()
        epoch_loss = state.epoch_loss_sum / config.minibatches_per_epoch
        record = {"epoch": epoch + 1, "train_loss": epoch_loss, **metrics}
        keep = self.stop_metric is None or improved(self.stop_metric, metrics[self.stop_metric], state.best_metric)
        if keep:
            atomic_torch_save(
                {k: v.detach().cpu() for k, v in self.net.state_dict().items()}, self.checkpoint_dir / BEST_FILE
            )
            state.best_epoch = epoch + 1
            state.best_metric = metrics[self.stop_metric] if self.stop_metric else None
            state.bad_epochs = 0
        else:
            state.bad_epochs += 1
        state.history.append(record)
        state.epoch, state.minibatch, state.epoch_loss_sum = epoch + 1, 0, 0.0
        if state.bad_epochs >= config.patience and state.epoch < config.epochs:
            state.stopped_early = True
        state.finished = state.stopped_early or state.epoch >= config.epochs
        self._save_checkpoint()
        self.progress(
            TrainProgress(
                "epoch",
                epoch + 1,
                config.epochs,
                config.minibatches_per_epoch,
                config.minibatches_per_epoch,
                loss=epoch_loss,
                metrics=metrics,
                best_epoch=state.best_epoch,
                elapsed_s=time.monotonic() - started,
                message=f"stopping: no improvement of {self.stop_metric} for {state.bad_epochs} epoch(s)"
                if state.stopped_early
                else "",
            )
        )

    def _last_metrics(self) -> dict[str, float]:
        """Validation metrics of the last finished epoch: minibatch reports carry them, so a
        progress display shows the validation metric throughout, not only at epoch ends."""
        if not self.state.history:
            return {}
        return {k: v for k, v in self.state.history[-1].items() if k.startswith("val_")}

    def run(self) -> LoopState:
        """Train to the end (or early stop), resuming from a checkpoint if one matches."""
        config, state = self.config, self.state
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        resumed = self._restore()
        state = self.state
        started = time.monotonic()
        done_at_start = state.epoch * config.minibatches_per_epoch + state.minibatch
        total = config.epochs * config.minibatches_per_epoch
        self.progress(
            TrainProgress(
                "start",
                state.epoch + 1,
                config.epochs,
                state.minibatch,
                config.minibatches_per_epoch,
                metrics=self._last_metrics(),
                best_epoch=state.best_epoch,
                message=f"resumed at epoch {state.epoch + 1}, minibatch {state.minibatch}" if resumed else "",
            )
        )
        last_save = time.monotonic()
        self.net.train()
        while not state.finished:
            epoch = state.epoch
            dataset = _Minibatches(self.reader, self.table, self.sampler, config, epoch)
            loader = DataLoader(
                dataset,
                batch_size=None,
                sampler=range(state.minibatch, config.minibatches_per_epoch),
                num_workers=config.workers,
                pin_memory=self.device.type == "cuda",
            )
            window_sum, window_count = 0.0, 0
            for batch in loader:
                index = state.minibatch
                loss = self._step(batch, epoch, index)
                state.epoch_loss_sum += loss
                state.minibatch = index + 1
                window_sum, window_count = window_sum + loss, window_count + 1
                if state.minibatch % config.log_every == 0 or state.minibatch == config.minibatches_per_epoch:
                    elapsed = time.monotonic() - started
                    done = epoch * config.minibatches_per_epoch + state.minibatch - done_at_start
                    remaining = total - (epoch * config.minibatches_per_epoch + state.minibatch)
                    self.progress(
                        TrainProgress(
                            "minibatch",
                            epoch + 1,
                            config.epochs,
                            state.minibatch,
                            config.minibatches_per_epoch,
                            loss=window_sum / window_count,
                            metrics=self._last_metrics(),
                            best_epoch=state.best_epoch,
                            elapsed_s=elapsed,
                            eta_s=elapsed / done * remaining if done else None,
                        )
                    )
                    window_sum, window_count = 0.0, 0
                if (
                    time.monotonic() - last_save > config.checkpoint_minutes * 60
                    and state.minibatch < config.minibatches_per_epoch
                ):
                    self._save_checkpoint()
                    last_save = time.monotonic()
            self._end_epoch(epoch, started)
            last_save = time.monotonic()
        return state

    def best_state_dict(self) -> dict[str, torch.Tensor]:
        path = self.checkpoint_dir / BEST_FILE
        if self.state.best_epoch is None or not path.is_file():
            raise RuntimeError("no finished epoch yet: nothing to save")
        return torch.load(path, map_location="cpu", weights_only=True)


def model_card(trainer: Trainer, seconds: float) -> dict[str, Any]:
    """The JSON card written beside model.pth."""
    manifest, state, config = trainer.manifest, trainer.state, trainer.config
    best = next((h for h in state.history if h["epoch"] == state.best_epoch), {})
    return {
        "version": CARD_VERSION,
        "network": config.network,
        "architecture": trainer.net.describe(),
        "hyperparameters": config.model_dump(mode="json"),
        "data": {
            "trainId": manifest.trainId,
            "embeddingName": manifest.embeddingName,
            "category": manifest.category,
            "channels": manifest.channels,
            "roiSize": manifest.roiSize,
            "manifestDigest": manifest_digest(manifest),
            "classes": [{"index": c.index, "name": c.name, "rois": c.rois} for c in manifest.classes],
            "sampledClasses": trainer.sampler.classes,
            "counts": manifest.counts,
            "validation": manifest.validation,
        },
        "epochs": {
            "configured": config.epochs,
            "completed": len(state.history),
            "best": state.best_epoch,
            "stoppedEarly": state.stopped_early,
        },
        "validation": {
            "metric": trainer.stop_metric,
            "best": state.best_metric,
            "atBestEpoch": {k: v for k, v in best.items() if k != "epoch"},
        },
        "history": state.history,
        "notes": trainer.notes + list(manifest.notes),
        "device": trainer.device.type,
        "torchVersion": torch.__version__,
        "trainingSeconds": round(seconds, 3),
        "createTimestamp": ids.now_ms(),
    }


def train_network(
    manifest: TrainingManifest,
    data_root: Path | str,
    config: TrainConfig,
    model_dir: Path | str,
    *,
    checkpoint_dir: Path | str | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
) -> TrainResult:
    """Train (or resume), then write model.pth + model-card.json into `model_dir`.

    Without `checkpoint_dir` a temporary one is used and removed, so the run cannot resume.
    """
    temporary = checkpoint_dir is None
    checkpoints = Path(tempfile.mkdtemp(prefix="bioims-ckpt-")) if checkpoint_dir is None else Path(checkpoint_dir)
    try:
        started = time.monotonic()
        trainer = Trainer(manifest, data_root, config, checkpoint_dir=checkpoints, progress=progress)
        trainer.run()
        card = model_card(trainer, time.monotonic() - started)
        write_model(Path(model_dir), trainer.best_state_dict(), card)
        last = trainer.state.history[-1]
        trainer.progress(
            TrainProgress(
                "done",
                len(trainer.state.history),
                config.epochs,
                config.minibatches_per_epoch,
                config.minibatches_per_epoch,
                loss=last["train_loss"],
                metrics={k: v for k, v in last.items() if k.startswith("val_")},
                best_epoch=trainer.state.best_epoch,
                elapsed_s=time.monotonic() - started,
                eta_s=0.0,
            )
        )
        return TrainResult(Path(model_dir), card)
    finally:
        if temporary:
            shutil.rmtree(checkpoints, ignore_errors=True)


def write_untrained_model(
    manifest: TrainingManifest, data_root: Path | str, config: TrainConfig, model_dir: Path | str
) -> dict[str, Any]:
    """The network at its seeded initial weights, written like a trained model (0 epochs): the
    "same network untrained" baseline that training is measured against."""
    with tempfile.TemporaryDirectory(prefix="bioims-untrained-") as checkpoints:
        trainer = Trainer(manifest, data_root, config, checkpoint_dir=checkpoints)
        card = model_card(trainer, 0.0)
        card["notes"].append("untrained: the seeded initial weights, no training step")
        write_model(Path(model_dir), trainer.net.state_dict(), card)
    return card
