"""Run what the deployed resources name, as their platforms would, without Docker.

moto records Lambda functions, Batch job definitions, ECS task definitions and SageMaker training
jobs but runs none of them (no Docker here). This module runs them from what the deployment says:
the image (an asset tag in the template -> the staged asset directory and its Dockerfile's
WORKDIR, ENV, ENTRYPOINT and CMD), the command the resource gives (a Lambda's ImageConfig
command, a job definition's command with Batch's `Ref::` substitution), and the environment the
resource sets, plus what the platform itself adds (region, credentials; here the emulator's
endpoint). A wrong handler, module, variable or parameter fails as it would on AWS.

Container paths are mapped onto this machine: the image's WORKDIR (/app) is a directory holding
what the Dockerfile's COPY lines take from the asset (and nothing else: the worker hides the
development install), /tmp is a scratch directory per container. Third-party packages are this
environment's, not the image's pins. Containers stay warm between requests (one process per
function or job definition, serving one request at a time), as Lambda keeps them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.dockerfile import Recipe, UnsupportedDockerfile
from tests.support.dockerfile import read as dockerfile_recipe

WORKER = Path(__file__).with_name("container_worker.py")
HOST_VARIABLES = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR")
_build_lock = threading.Lock()


class ContainerError(RuntimeError):
    """An image or resource cannot be run as its platform would run it."""


@dataclass(frozen=True)
class Image:
    tag: str
    directory: Path  # the staged build context: what the image's COPY lines take from
    dockerfile: Recipe  # its final stage, read by tests/support/dockerfile.py


class Images:
    """Image URIs of the deployment -> the assets the CDK app staged for them."""

    def __init__(self, assembly_dir: Path, sources: dict[str, dict]):
        self.assembly_dir = assembly_dir
        self.sources = sources

    def image(self, uri: str) -> Image:
        tag = uri.rsplit(":", 1)[-1]
        if tag not in self.sources:
            raise ContainerError(f"image {uri!r} is not one of the assembly's image assets")
        source = self.sources[tag]
        directory = self.assembly_dir / source["directory"]
        dockerfile = directory / source.get("dockerFile", "Dockerfile")
        try:
            return Image(tag, directory, dockerfile_recipe(dockerfile))
        except UnsupportedDockerfile as exc:
            raise ContainerError(f"image {uri!r}: {exc}") from None


def python_module(argv: list[str], what: str) -> str:
    """The module of `python -m MODULE` (the only way our images start Python)."""
    if len(argv) >= 3 and argv[0] in ("python", "python3") and argv[1] == "-m":
        return argv[2]
    raise ContainerError(f"{what}: {argv!r} is not `python -m MODULE ...`")


@dataclass
class Platform:
    """What the platform adds to a container's environment, and where container paths land."""

    endpoint: str
    region: str
    scratch: Path
    credentials: dict[str, str]

    def environment(
        self, image: Image, resource_env: dict[str, str], name: str, extra: dict[str, str] | None = None
    ) -> dict[str, str]:
        tmp = self.scratch / name / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        root = self.workdir(image)

        def mapped(value: str) -> str:
            if value == image.dockerfile.workdir or value.startswith(image.dockerfile.workdir + "/"):
                return str(root) + value[len(image.dockerfile.workdir) :]
            if value == "/tmp" or value.startswith("/tmp/"):
                return str(tmp) + value[len("/tmp") :]
            return value

        env = {k: os.environ[k] for k in HOST_VARIABLES if k in os.environ}
        env.update({k: mapped(v) for k, v in image.dockerfile.env.items()})
        env.update({k: mapped(v) for k, v in resource_env.items()})
        env.update(self.credentials)
        env.update(
            {
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_ENDPOINT_URL": self.endpoint,  # the emulator instead of the public endpoints
                "TMPDIR": str(tmp),
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        env.update(extra or {})
        return env

    def workdir(self, image: Image) -> Path:
        """The image's WORKDIR with what its COPY lines put there, and nothing else of the context."""
        workdir = image.dockerfile.workdir.rstrip("/")
        if not workdir:
            raise ContainerError(f"image {image.tag}: no WORKDIR")
        root = self.scratch / "images" / image.tag
        with _build_lock:
            if root.is_dir():
                return root
            building = root.with_name(image.tag + ".building")
            shutil.rmtree(building, ignore_errors=True)
            building.mkdir(parents=True)
            for source, destination in image.dockerfile.runtime_copies:
                if destination.rstrip("/") != workdir and not destination.startswith(workdir + "/"):
                    raise ContainerError(
                        f"image {image.tag}: COPY to {destination} (outside WORKDIR {workdir}) is not emulated"
                    )
                target = building / destination[len(workdir) :].strip("/")
                path = image.directory / source
                if not path.exists():
                    raise ContainerError(f"image {image.tag}: COPY {source}: not in the build context")
                if path.is_dir():  # as Docker does: the directory's contents
                    shutil.copytree(path, target, dirs_exist_ok=True)
                else:
                    into_dir = destination.endswith("/") or target == building
                    file_target = target / path.name if into_dir else target
                    file_target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, file_target)
            building.rename(root)
        return root


class WarmContainer:
    """One container process (container_worker.py) serving requests one at a time."""

    def __init__(self, name: str, workdir: Path, mode: str, target: str, env: dict[str, str], log: Path):
        self.name = name
        self.log = log
        self.lock = threading.Lock()
        self.log_file = open(log, "a")
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), str(workdir), mode, target],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log_file,
            env=env,
            text=True,
            cwd=workdir,
        )

    def request(self, payload: dict) -> dict:
        with self.lock:
            self.process.stdin.write(json.dumps(payload) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        if not line:
            raise ContainerError(f"container {self.name} exited ({self.process.poll()}); log: {self.log}")
        return json.loads(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()


def substitute(command: list[str], parameters: dict[str, str]) -> list[str]:
    """Batch's parameter substitution: `Ref::name` becomes the parameter's value when it has one."""
    out = []
    for item in command:
        if item.startswith("Ref::") and item[5:] in parameters:
            item = str(parameters[item[5:]])
        out.append(item)
    return out


def environment_list(items: list[dict] | None) -> dict[str, str]:
    """`[{"name"|"Name": ..., "value"|"Value": ...}]` -> dict."""
    env = {}
    for item in items or []:
        name = item.get("name", item.get("Name"))
        env[name] = str(item.get("value", item.get("Value", "")))
    return env


@dataclass
class Runs:
    """What ran, for the test's assertions."""

    lambda_invokes: list[tuple[str, str]] = field(default_factory=list)  # (function, method)
    batch_jobs: list[tuple[str, list[str], int]] = field(default_factory=list)  # (definition, argv, exit)
    services: list[str] = field(default_factory=list)


class Containers:
    """The warm containers of a deployment, created on first use."""

    def __init__(self, images: Images, platform: Platform):
        self.images = images
        self.platform = platform
        self.warm: dict[str, WarmContainer] = {}
        self.services: list[subprocess.Popen] = []
        self.runs = Runs()
        self._create = threading.Lock()

    def _container(self, key: str, factory) -> WarmContainer:
        with self._create:
            if key not in self.warm:
                self.warm[key] = factory()
            return self.warm[key]

    def log_path(self, name: str) -> Path:
        path = self.platform.scratch / "logs" / (name.replace("/", "_").replace(":", "_") + ".log")
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    # --- Lambda ------------------------------------------------------------------------------------
    def invoke_lambda(self, function) -> WarmContainer:
        """A function's container: awslambdaric with the handler its image config names."""
        image = self.images.image(function.code["ImageUri"])
        config = function.image_config
        entrypoint = config.entry_point or image.dockerfile.entrypoint
        command = config.cmd or image.dockerfile.cmd
        if python_module(entrypoint, f"function {function.function_name}") != "awslambdaric":
            raise ContainerError(f"function {function.function_name}: the image does not run the Lambda runtime client")
        if len(command) != 1:
            raise ContainerError(f"function {function.function_name}: the command must be one handler, not {command!r}")
        name = function.function_name
        env = self.platform.environment(
            image,
            function.environment_vars,
            name,
            {"AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size)},
        )
        return self._container(
            f"lambda:{name}",
            lambda: WarmContainer(name, self.platform.workdir(image), "lambda", command[0], env, self.log_path(name)),
        )

    # --- Batch -------------------------------------------------------------------------------------
    def run_batch_job(self, job) -> int:
        """The job's container: the image's entry point with the definition's command, `Ref::`
        parameters substituted, the definition's environment and the submission's overrides."""
        definition = job.job_definition
        properties = {k[:1].lower() + k[1:]: v for k, v in (definition.container_properties or {}).items()}
        image = self.images.image(properties["image"])
        overrides = job.container_overrides or {}
        command = substitute(
            overrides.get("command") or properties.get("command") or image.dockerfile.cmd, job.parameters
        )
        module = python_module(image.dockerfile.entrypoint + command, f"job definition {definition.name}")
        argv = (image.dockerfile.entrypoint + command)[3:]
        env = environment_list(properties.get("environment"))
        env.update(environment_list(overrides.get("environment")))
        key = f"batch:{definition.name}:{json.dumps(env, sort_keys=True)}"
        container = self._container(
            key,
            lambda: WarmContainer(
                definition.name,
                self.platform.workdir(image),
                "module",
                module,
                self.platform.environment(image, env, definition.name),
                self.log_path(definition.name),
            ),
        )
        code = container.request({"argv": argv})["exitCode"]
        self.runs.batch_jobs.append((definition.name, argv, code))
        return code

    # --- ECS -------------------------------------------------------------------------------------------
    def start_service(self, name: str, container_definition: dict) -> subprocess.Popen:
        """A Fargate service's task: its image's ENTRYPOINT/CMD (or the definition's command) with
        the task definition's environment, running until the test ends."""
        definition = {k[:1].lower() + k[1:]: v for k, v in container_definition.items()}
        image = self.images.image(definition["image"])
        argv = list(definition.get("entryPoint") or image.dockerfile.entrypoint) + list(
            definition.get("command") or image.dockerfile.cmd
        )
        env = self.platform.environment(image, environment_list(definition.get("environment")), name)
        log = open(self.log_path(name), "a")
        module = python_module(argv, f"service {name}")
        workdir = self.platform.workdir(image)
        process = subprocess.Popen(
            [sys.executable, str(WORKER), str(workdir), "main", module, *argv[3:]],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.services.append(process)
        self.runs.services.append(name)
        return process

    def stop(self) -> None:
        for container in self.warm.values():
            container.stop()
        for process in self.services:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
