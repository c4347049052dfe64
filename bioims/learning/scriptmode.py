"""SageMaker script mode, and the local backend running the very same script as a subprocess.

Contract of `training/train.py` (which calls `main`):
  environment  SM_CHANNEL_TRAINING  data bucket root (FSx mount on AWS, the local data directory here)
               SM_MODEL_DIR         where model.pth + model-card.json are written
               SM_HOSTS, SM_CURRENT_HOST, SM_NUM_GPUS, SM_OUTPUT_DIR (failure reason file)
               BIOIMS_CHECKPOINT_DIR (default /opt/ml/checkpoints, SageMaker's synced checkpoint path)
  arguments    --train_manifest <key> (or the original's --train_list_file <key>, whose sibling
               manifest is used) and every hyperparameter as `--name value` (bioims.learning.hyperparameters)
  stdout       one `bioims-progress {json}` line per progress report (SageMaker metric regexes and
               the local runner read these)
  exit status  0 done, 2 bad input (message on stderr and in SM_OUTPUT_DIR/failure), 1 crash
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from bioims.learning.hyperparameters import HyperparameterError, resolve_config
from bioims.learning.manifest import TrainingManifest, TrainingSetError
from bioims.learning.modelcard import ModelError
from bioims.learning.networks import NetworkError
from bioims.learning.trainer import CheckpointMismatch, TrainProgress, train_network

PROGRESS_PREFIX = "bioims-progress "
DEFAULT_CHECKPOINT_DIR = "/opt/ml/checkpoints"
MANIFEST_ARGUMENTS = ("train_manifest", "train_list_file")
LIST_SUFFIX = "-image-prefix-list.txt"
MANIFEST_SUFFIX = "-training-manifest.json"


class ScriptError(ValueError):
    """Bad script-mode input (environment or arguments)."""


class TrainingFailed(RuntimeError):
    """The training subprocess exited with an error; `tail` holds its last output lines."""

    def __init__(self, returncode: int, tail: str):
        super().__init__(f"training exited with status {returncode}:\n{tail}")
        self.returncode, self.tail = returncode, tail


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
        checkpoint_dir=Path(env.get("BIOIMS_CHECKPOINT_DIR") or DEFAULT_CHECKPOINT_DIR),
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


def _print_progress(report: TrainProgress) -> None:
    print(PROGRESS_PREFIX + json.dumps(report.to_dict(), separators=(",", ":")), flush=True)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Script-mode entry: read environment and arguments, train, write model + card."""
    env = os.environ if env is None else env
    argv = sys.argv[1:] if argv is None else argv
    output_dir = Path(env["SM_OUTPUT_DIR"]) if env.get("SM_OUTPUT_DIR") else None
    try:
        script_env = read_environment(env)
        arguments = parse_arguments(argv)
        if len(script_env.hosts) > 1:
            raise ScriptError(f"training runs on one instance; got {len(script_env.hosts)} hosts")
        manifest_key = manifest_key_from(arguments)
        config = resolve_config({
            k: v for k, v in arguments.items() if k not in MANIFEST_ARGUMENTS and not k.startswith("sagemaker_")
        })
        manifest_path = script_env.data_dir / manifest_key
        try:
            manifest = TrainingManifest.from_json(manifest_path.read_text())
        except FileNotFoundError:
            raise ScriptError(f"training manifest {manifest_key} not found under {script_env.data_dir}") from None
        train_network(
            manifest, script_env.data_dir, config, script_env.model_dir,
            checkpoint_dir=script_env.checkpoint_dir, progress=_print_progress,
        )
        return 0
    except (ScriptError, HyperparameterError, TrainingSetError, NetworkError, CheckpointMismatch, ModelError) as exc:
        message = f"bioims training: {exc}"
        print(message, file=sys.stderr, flush=True)
        if output_dir is not None:
            output_dir.mkdir(parents=True, exist_ok=True)
            (output_dir / "failure").write_text(message)
        return 2


# --- running the script locally --------------------------------------------------------------
def sagemaker_environment(
    data_dir: Path | str,
    model_dir: Path | str,
    checkpoint_dir: Path | str,
    *,
    num_gpus: int | None = None,
    output_dir: Path | str | None = None,
) -> dict[str, str]:
    """The SM_* variables SageMaker would set, for a local run of the same script."""
    if num_gpus is None:
        import torch

        num_gpus = torch.cuda.device_count()
    env = {
        "SM_CHANNEL_TRAINING": str(data_dir),
        "SM_MODEL_DIR": str(model_dir),
        "SM_HOSTS": json.dumps(["localhost"]),
        "SM_CURRENT_HOST": "localhost",
        "SM_NUM_GPUS": str(num_gpus),
        "BIOIMS_CHECKPOINT_DIR": str(checkpoint_dir),
    }
    if output_dir is not None:
        env["SM_OUTPUT_DIR"] = str(output_dir)
    return env


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


def parse_progress_line(line: str) -> dict[str, Any] | None:
    """The progress report on a `bioims-progress {json}` line, else None."""
    if not line.startswith(PROGRESS_PREFIX):
        return None
    try:
        report = json.loads(line[len(PROGRESS_PREFIX):])
    except json.JSONDecodeError:
        return None
    return report if isinstance(report, dict) else None


def run_script(
    script: Path | str,
    *,
    data_dir: Path | str,
    model_dir: Path | str,
    checkpoint_dir: Path | str,
    hyperparameters: Mapping[str, Any],
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    on_output: Callable[[str], None] | None = None,
    python: str = sys.executable,
    extra_env: Mapping[str, str] | None = None,
    tail_lines: int = 40,
) -> None:
    """Run a script-mode training script as SageMaker would, streaming its progress.

    Raises TrainingFailed (with the last output lines) when the script exits non-zero.
    """
    env = {**os.environ, **(extra_env or {}), **sagemaker_environment(data_dir, model_dir, checkpoint_dir)}
    env["PYTHONUNBUFFERED"] = "1"
    tail: deque[str] = deque(maxlen=tail_lines)
    with subprocess.Popen(
        [python, str(script), *hyperparameter_arguments(hyperparameters)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
    ) as process:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.rstrip("\n")
            report = parse_progress_line(line)
            if report is not None:
                if on_progress:
                    on_progress(report)
                continue
            tail.append(line)
            if on_output:
                on_output(line)
        returncode = process.wait()
    if returncode != 0:
        raise TrainingFailed(returncode, "\n".join(tail))
