"""A small workflow language, defined once and executed two ways: by the local runner
(bioims.workflows.runner) and, translated by the CDK app (stacks/), by AWS Step Functions.

A workflow is a list of steps over a JSON state (a dict). Values in step parameters are literals
or references into the state:
  Ref("$.plateId")                 a path into the current state (Step Functions: "plateId.$")
  Item("$.plateId")                a path into the current Map item ("$$.Map.Item.Value.plateId")
A step's result is stored at `$.<result>` (None discards it). Inside a Map iterator the state is
the parent state plus the field `item` (the current element): `Item("$.x")` is `Ref("$.item.x")`.
A Map's result (when kept) is the list, per item, of the iterator's last step result.

Steps:
  Invoke      call a service method (a Lambda on AWS); the result is the response body
  Map         run a list of steps for every element of a list in the state
  BatchJob    run a container job (AWS Batch on AWS, a worker process locally)
  TrainingJob build a training-job request with a service method, run it (SageMaker / local
              subprocess) and wait for it to end; a failed job fails the workflow
  StartWorkflow run another workflow to completion; its failure fails this one
  Choice      branch on a state value being equal to a literal
  Fail        end the workflow as FAILED with a cause
A failing service call or job ends the execution as FAILED with the cause, so a caller never takes
failed work for done (docs/original.md §8.2 #11).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# The reserved event field a workflow adds to service calls: the handler then returns the body
# itself and raises on an error status, so Step Functions' Catch sees the failure.
WORKFLOW_FLAG = "bioimsWorkflowCall"


@dataclass(frozen=True)
class Ref:
    """A JSONPath-style reference into the state: "$" or "$.a.b"."""

    path: str

    def __post_init__(self) -> None:
        _check_path(self.path)


@dataclass(frozen=True)
class Item:
    """A reference into the current Map item: "$" (the item itself) or "$.field"."""

    path: str = "$"

    def __post_init__(self) -> None:
        _check_path(self.path)


def _check_path(path: str) -> None:
    if path != "$" and not (path.startswith("$.") and all(part.isidentifier() for part in path[2:].split("."))):
        raise ValueError(f"invalid reference path {path!r}: use '$' or '$.field.field'")


Value = Ref | Item | str | int | float | bool | None


@dataclass(frozen=True)
class Invoke:
    name: str
    service: str
    method: str
    params: dict[str, Value] = field(default_factory=dict)
    result: str | None = None


@dataclass(frozen=True)
class BatchJob:
    name: str
    job: str  # a key of bioims.workflows.jobs.JOBS
    params: dict[str, Value] = field(default_factory=dict)
    queue: Literal["on-demand", "spot"] = "on-demand"
    result: str | None = None


@dataclass(frozen=True)
class TrainingJob:
    """`request` is an Invoke whose body is a training-job request (bioims.runtime.TrainingJobRequest)."""

    name: str
    request: Invoke
    result: str | None = None


@dataclass(frozen=True)
class StartWorkflow:
    name: str
    workflow: str
    input: dict[str, Value] = field(default_factory=dict)
    result: str | None = None


@dataclass(frozen=True)
class Choice:
    name: str
    path: Ref
    equals: str | int | bool
    then: tuple[Step, ...] = ()
    otherwise: tuple[Step, ...] = ()


@dataclass(frozen=True)
class Fail:
    name: str
    error: str
    cause: str


@dataclass(frozen=True)
class Map:
    name: str
    items: Ref
    iterator: tuple[Step, ...]
    max_concurrency: int = 0  # 0 = as many as the platform allows
    result: str | None = None
    # Locally, run iterations in worker processes (CPU-heavy jobs) or threads (I/O, service calls).
    local_workers: Literal["processes", "threads"] = "threads"


Step = Invoke | BatchJob | TrainingJob | StartWorkflow | Choice | Fail | Map


@dataclass(frozen=True)
class Workflow:
    name: str
    description: str
    steps: tuple[Step, ...]
    timeout_minutes: int = 60
    # The input fields a caller must supply.
    inputs: tuple[str, ...] = ()

    def step_names(self) -> list[str]:
        """Every step name in definition order, depth first (for same-steps checks)."""
        return list(walk_names(self.steps))


def walk_names(steps) -> list[str]:
    names: list[str] = []
    for step in steps:
        names.append(step.name)
        if isinstance(step, Map):
            names += walk_names(step.iterator)
        elif isinstance(step, Choice):
            names += walk_names(step.then)
            names += walk_names(step.otherwise)
        elif isinstance(step, TrainingJob):
            names.append(step.request.name)
    return names


def resolve(value: Any, state: Any) -> Any:
    """Evaluate a parameter value (literals, Ref, Item, nested dicts/lists) against a state."""
    if isinstance(value, Ref):
        return get_path(state, value.path)
    if isinstance(value, Item):
        if not isinstance(state, dict) or "item" not in state:
            raise PathError(f"{value.path}: Item() used outside a Map iterator")
        return get_path(state["item"], value.path)
    if isinstance(value, dict):
        return {k: resolve(v, state) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [resolve(v, state) for v in value]
    return value


def referenced_fields(steps) -> set[str]:
    """Top-level state fields that `steps` read through Ref (what a Map must pass to iterations)."""
    fields: set[str] = set()

    def visit(value: Any) -> None:
        if isinstance(value, Ref) and value.path != "$":
            fields.add(value.path[2:].split(".")[0])
        elif isinstance(value, dict):
            for v in value.values():
                visit(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                visit(v)

    for step in steps:
        if isinstance(step, Invoke):
            visit(step.params)
        elif isinstance(step, (BatchJob,)):
            visit(step.params)
        elif isinstance(step, StartWorkflow):
            visit(step.input)
        elif isinstance(step, TrainingJob):
            visit(step.request.params)
        elif isinstance(step, Choice):
            visit(step.path)
            fields.update(referenced_fields(step.then))
            fields.update(referenced_fields(step.otherwise))
        elif isinstance(step, Map):
            visit(step.items)
            fields.update(referenced_fields(step.iterator))
    # Results written inside the iterator are produced there, not read from the parent.
    produced = {s.result for s in steps if getattr(s, "result", None)}
    return fields - produced


class PathError(KeyError):
    pass


def get_path(document: Any, path: str) -> Any:
    current = document
    if path == "$":
        return current
    for part in path[2:].split("."):
        if not isinstance(current, dict) or part not in current:
            raise PathError(f"{path}: no field {part!r} in the workflow state")
        current = current[part]
    return current
