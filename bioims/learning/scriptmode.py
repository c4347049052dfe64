"""SageMaker script mode: the training entry (`training/train.py` in the training image; `python -m
bioims.learning.scriptmode` for the local backend's training subprocess).

Contract:
  environment  SM_CHANNEL_TRAINING  data bucket root (FSx mount on AWS, the local data directory here)
               SM_MODEL_DIR         where model.pth + model-card.json are written
               SM_HOSTS, SM_CURRENT_HOST, SM_NUM_GPUS, SM_OUTPUT_DIR (failure reason file)
               SM_CHECKPOINT_DIR or BIOIMS_CHECKPOINT_DIR (default /opt/ml/checkpoints, the path
               SageMaker syncs with the job's checkpoint S3 URI)
  arguments    --train_manifest <key> (or the original's --train_list_file <key>, whose sibling
               manifest is used) and every hyperparameter as `--name value` (bioims.learning.hyperparameters)
  stdout       one `BIOIMS_PROGRESS {json}` line per progress report (the local runtime relays them;
               SageMaker metric definitions can match them in the job log)
  exit status  0 done, 2 bad input (message on stderr and in SM_OUTPUT_DIR/failure), 1 crash

A training image without the SageMaker training toolkit is started as `<entry> train`; then the
same variables and arguments are derived from SageMaker's files under /opt/ml (hyperparameters.json,
resourceconfig.json, input/data/<channel>), so one entry serves both ways. The local backend runs
this same entry as a subprocess with the same variables (bioims.runtime.local).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bioims.learning.hyperparameters import UNTRAINED_ARGUMENT, HyperparameterError, resolve_config
from bioims.learning.manifest import TrainingManifest, TrainingSetError
from bioims.learning.modelcard import ModelError
from bioims.learning.networks import NetworkError
from bioims.learning.progress import PROGRESS_PREFIX
from bioims.learning.trainer import CheckpointMismatch, TrainProgress, train_network, write_untrained_model

DEFAULT_CHECKPOINT_DIR = "/opt/ml/checkpoints"
SAGEMAKER_ROOT = Path("/opt/ml")
CHANNEL = "training"
MANIFEST_ARGUMENTS = ("train_manifest", "train_list_file")
LIST_SUFFIX = "-image-prefix-list.txt"
MANIFEST_SUFFIX = "-training-manifest.json"


class ScriptError(ValueError):
    """Bad script-mode input (environment or arguments)."""


@dataclass(frozen=True)
class ScriptEnvironment:
    data_dir: Path
    model_dir: Path
    checkpoint_dir: Path
    hosts: list[str]
    current_host: str
    num_gpus: int
    output_dir: Path | None


def read_environment(env: Mapping[str, str]) -> ScriptEnvironment:
    missing = [name for name in ("SM_CHANNEL_TRAINING", "SM_MODEL_DIR") if not env.get(name)]
    if missing:
        raise ScriptError(f"environment variable(s) {', '.join(missing)} not set (SageMaker script mode)")
    try:
        hosts = json.loads(env.get("SM_HOSTS", '["localhost"]'))
        num_gpus = int(env.get("SM_NUM_GPUS", "0"))
    except (json.JSONDecodeError, ValueError) as exc:
        raise ScriptError(f"bad SM_HOSTS / SM_NUM_GPUS: {exc}") from None
    if not isinstance(hosts, list) or not hosts:
        raise ScriptError("SM_HOSTS must be a JSON list of host names")
    data_dir = Path(env["SM_CHANNEL_TRAINING"])
    if not data_dir.is_dir():
        raise ScriptError(f"SM_CHANNEL_TRAINING {data_dir} is not a directory")
    return ScriptEnvironment(
        data_dir=data_dir,
        model_dir=Path(env["SM_MODEL_DIR"]),
        checkpoint_dir=Path(env.get("SM_CHECKPOINT_DIR") or env.get("BIOIMS_CHECKPOINT_DIR") or DEFAULT_CHECKPOINT_DIR),
        hosts=[str(h) for h in hosts],
        current_host=env.get("SM_CURRENT_HOST", str(hosts[0])),
        num_gpus=num_gpus,
        output_dir=Path(env["SM_OUTPUT_DIR"]) if env.get("SM_OUTPUT_DIR") else None,
    )


def parse_arguments(argv: Sequence[str]) -> dict[str, str]:
    """`--name value` / `--name=value` pairs (SageMaker's hyperparameter form) -> dict."""
    values: dict[str, str] = {}
    tokens = list(argv)
    position = 0
    while position < len(tokens):
        token = tokens[position]
        if not token.startswith("--") or len(token) < 3:
            raise ScriptError(f"unexpected argument {token!r}; hyperparameters are passed as --name value")
        name, eq, value = token[2:].partition("=")
        if not eq:
            if position + 1 >= len(tokens):
                raise ScriptError(f"argument --{name} has no value")
            position += 1
            value = tokens[position]
        values[name.replace("-", "_")] = value
        position += 1
    return values


def manifest_key_from(arguments: dict[str, str]) -> str:
    """The manifest key: --train_manifest, else derived from the original's --train_list_file."""
    if arguments.get("train_manifest"):
        return arguments["train_manifest"]
    list_key = arguments.get("train_list_file", "")
    if list_key.endswith(LIST_SUFFIX):
        return list_key[: -len(LIST_SUFFIX)] + MANIFEST_SUFFIX
    raise ScriptError("no training set given: pass --train_manifest <key> (or --train_list_file <key>)")


def container_invocation(root: Path | None = None) -> tuple[list[str], dict[str, str]]:
    """(arguments, SM_* variables) from SageMaker's files, for an image started as `<entry> train`."""
    root = root or SAGEMAKER_ROOT
    config = root / "input" / "config"
    try:
        hyperparameters = json.loads((config / "hyperparameters.json").read_text() or "{}")
        resources = json.loads((config / "resourceconfig.json").read_text())
    except FileNotFoundError as exc:
        raise ScriptError(f"started as a SageMaker container but {exc.filename} is missing") from None
    except json.JSONDecodeError as exc:
        raise ScriptError(f"unreadable SageMaker configuration: {exc}") from None
    env = {
        "SM_CHANNEL_TRAINING": str(root / "input" / "data" / CHANNEL),
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DIR": str(root / "output"),
        "SM_HOSTS": json.dumps(resources.get("hosts", ["algo-1"])),
        "SM_CURRENT_HOST": str(resources.get("current_host", "algo-1")),
        "SM_NUM_GPUS": str(_gpu_count()),
        "SM_CHECKPOINT_DIR": DEFAULT_CHECKPOINT_DIR,
    }
    return hyperparameter_arguments({str(k): _unquote(v) for k, v in hyperparameters.items()}), env


def _unquote(value: Any) -> Any:
    """The SageMaker SDK stores script-mode hyperparameters JSON-encoded ('"bbbc021-1"')."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count()


def _print_progress(report: TrainProgress) -> None:
    print(PROGRESS_PREFIX + json.dumps(report.to_dict(), separators=(",", ":")), flush=True)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Script-mode entry: read environment and arguments, train, write model + card."""
    env = dict(os.environ if env is None else env)
    argv = list(sys.argv[1:] if argv is None else argv)
    output_dir = Path(env["SM_OUTPUT_DIR"]) if env.get("SM_OUTPUT_DIR") else None
    try:
        if argv == ["train"]:  # SageMaker's container convention (no training toolkit in the image)
            argv, derived = container_invocation()
            env = {**env, **derived}
            output_dir = Path(env["SM_OUTPUT_DIR"])
        script_env = read_environment(env)
        arguments = parse_arguments(argv)
        if len(script_env.hosts) > 1:
            raise ScriptError(f"training runs on one instance; got {len(script_env.hosts)} hosts")
        manifest_key = manifest_key_from(arguments)
        # "untrained": write the network at its seeded initial weights (the baseline training is
        # measured against) through the same job, instead of training it
        untrained = str(arguments.pop(UNTRAINED_ARGUMENT, "false")).strip("'\"").lower() == "true"
        config = resolve_config(
            {k: v for k, v in arguments.items() if k not in MANIFEST_ARGUMENTS and not k.startswith("sagemaker_")}
        )
        manifest_path = script_env.data_dir / manifest_key
        try:
            manifest = TrainingManifest.from_json(manifest_path.read_text())
        except FileNotFoundError:
            raise ScriptError(f"training manifest {manifest_key} not found under {script_env.data_dir}") from None
        if untrained:
            write_untrained_model(manifest, script_env.data_dir, config, script_env.model_dir)
            return 0
        train_network(
            manifest,
            script_env.data_dir,
            config,
            script_env.model_dir,
            checkpoint_dir=script_env.checkpoint_dir,
            progress=_print_progress,
        )
        return 0
    except (ScriptError, HyperparameterError, TrainingSetError, NetworkError, CheckpointMismatch, ModelError) as exc:
        message = f"bioims training: {exc}"
        print(message, file=sys.stderr, flush=True)
        if output_dir is not None:
            output_dir.mkdir(parents=True, exist_ok=True)
            (output_dir / "failure").write_text(message)
        return 2


# --- helpers for whoever launches the script -----------------------------------------------
def hyperparameter_arguments(hyperparameters: Mapping[str, Any]) -> list[str]:
    """Hyperparameters as SageMaker passes them: `--name value`, every value a string."""
    args: list[str] = []
    for name, value in hyperparameters.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            text = ",".join(str(v) for v in value)
        else:
            text = str(value)
        args += [f"--{name}", text]
    return args


if __name__ == "__main__":  # the local backend's training subprocess (bioims.runtime.local)
    sys.exit(main())
