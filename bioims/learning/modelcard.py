"""Trained models on disk: `model.pth` (a plain state_dict) beside `model-card.json`.

The card says which network with which hyperparameters was trained on which data, for how many
epochs, with which validation metric; it is also what `load_model` needs to rebuild the network,
so inference never imports a training script (docs/original.md §8.4 #32). Weights are loaded with
`weights_only=True`: a model file cannot run code.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from bioims import keys
from bioims.atomic import temporary_beside
from bioims.learning.hyperparameters import TrainConfig
from bioims.learning.networks import EmbeddingNetwork, create_network
from bioims.store.ports import ObjectNotFound, ObjectStore

MODEL_FILE = keys.MODEL_FILE
CARD_FILE = keys.CARD_FILE
CARD_VERSION = 1


class ModelError(RuntimeError):
    """A model or its card is missing or unusable; the message says which file and why."""


def atomic_torch_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file, then rename: a crash never leaves half a file. Saved
    through the open handle, so the archive's inner name does not carry the random temporary
    name: the same weights give the same bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_beside(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_beside(path)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_model(model_dir: Path, state_dict: dict[str, torch.Tensor], card: dict[str, Any]) -> tuple[Path, Path]:
    """Write model.pth then the card (the card's presence marks a complete model)."""
    model_dir = Path(model_dir)
    model_path, card_path = model_dir / MODEL_FILE, model_dir / CARD_FILE
    atomic_torch_save({k: v.detach().cpu() for k, v in state_dict.items()}, model_path)
    atomic_write_text(card_path, json.dumps(card, indent=1, sort_keys=True))
    return model_path, card_path


def read_card(path: Path) -> dict[str, Any]:
    try:
        card = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ModelError(f"no model card at {path}") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"model card {path} is not valid JSON: {exc}") from None
    if card.get("version") != CARD_VERSION or "hyperparameters" not in card or "data" not in card:
        raise ModelError(f"model card {path} is not a version {CARD_VERSION} bioims model card")
    return card


def network_from_card(card: dict[str, Any]) -> EmbeddingNetwork:
    """An untrained network with the architecture the card describes."""
    config = TrainConfig(**card["hyperparameters"])
    return create_network(config, int(card["data"]["channels"]), int(card["data"]["roiSize"]))


def load_model(model_dir: Path | str, device: torch.device | str = "cpu") -> tuple[EmbeddingNetwork, dict]:
    """(network in eval mode on `device`, card) from a directory holding model.pth + model-card.json."""
    model_dir = Path(model_dir)
    card = read_card(model_dir / CARD_FILE)
    net = network_from_card(card)
    try:
        state = torch.load(model_dir / MODEL_FILE, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"no {MODEL_FILE} in {model_dir}") from None
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"{model_dir / MODEL_FILE} does not match its card's network: {exc}") from None
    return net.to(device).eval(), card


def fetch_model(store: ObjectStore, train_id: str, cache_root: Path | str | None = None) -> Path:
    """A local directory holding a training's model + card (in place when the store is local)."""
    model_key, card_key = keys.model_key(train_id), keys.model_card_key(train_id)
    local_model, local_card = store.local_path(model_key), store.local_path(card_key)
    if local_model and local_card and Path(local_model).parent == Path(local_card).parent:
        if not (Path(local_model).is_file() and Path(local_card).is_file()):
            raise ModelError(f"training {train_id} has no model yet ({model_key})")
        return Path(local_model).parent
    root = Path(cache_root or Path(tempfile.gettempdir()) / "bioims-models") / train_id
    if not ((root / MODEL_FILE).is_file() and (root / CARD_FILE).is_file()):
        try:
            store.download(model_key, str(root / MODEL_FILE))
            store.download(card_key, str(root / CARD_FILE))
        except ObjectNotFound:
            raise ModelError(f"training {train_id} has no model yet ({model_key})") from None
    return root


def publish_model(store: ObjectStore, train_id: str, model_dir: Path | str) -> dict[str, str]:
    """Copy a finished model and card to the data bucket under the training's keys."""
    model_dir = Path(model_dir)
    read_card(model_dir / CARD_FILE)
    store.put_file(keys.model_key(train_id), str(model_dir / MODEL_FILE))
    store.put_file(keys.model_card_key(train_id), str(model_dir / CARD_FILE), content_type="application/json")
    return {"modelKey": keys.model_key(train_id), "modelCardKey": keys.model_card_key(train_id)}
