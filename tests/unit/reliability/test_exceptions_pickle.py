"""Every exception class of bioims survives pickling with its message and attributes: worker
processes (process-plate's image pool, embedding's plate pool) send their failures to the parent by
pickle, and an exception that cannot be rebuilt there turns one image's clear error into
"BrokenProcessPool" for the whole map (issue 14, item 3)."""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil
from concurrent.futures import ProcessPoolExecutor

import pytest

import bioims


def _exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(bioims.__path__, "bioims."):
        try:
            module = importlib.import_module(module_info.name)
        except ImportError:  # optional dependencies (e.g. torch-only modules) may be absent
            continue
        for _, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__.startswith("bioims."):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]


CLASSES = _exception_classes()


def _instance(cls: type[BaseException]) -> BaseException:
    """Build an instance from the constructor's own signature: strings for text, ints for
    statuses, a dict for bodies, so every attribute carries a recognisable value."""
    parameters = [
        p
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self" and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    args = []
    for p in parameters:
        if p.name == "status":
            args.append(418)
        elif p.name == "body":
            args.append({"message": "the body's message"})
        else:
            args.append(f"<{p.name} of {cls.__name__}>")
    if any(p.kind is p.VAR_POSITIONAL for p in inspect.signature(cls.__init__).parameters.values()) and not args:
        args = [f"<message of {cls.__name__}>"]
    return cls(*args)


def _raise(exc: BaseException) -> None:
    raise exc


def test_the_walk_finds_the_classes_that_cross_pools():
    names = {c.__name__ for c in CLASSES}
    assert {
        "StepFailed",
        "BioimsError",
        "BadRequest",
        "ClientError",
        "ParameterError",
        "InvalidRequest",
        "StoreDamaged",
    } <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_pickle_round_trip_keeps_type_message_and_attributes(cls):
    original = _instance(cls)
    copy = pickle.loads(pickle.dumps(original))
    assert type(copy) is cls
    assert str(copy) == str(original) and copy.args == original.args
    assert vars(copy) == vars(original)


def test_a_worker_failure_arrives_in_the_parent_with_its_message():
    """Through a real process pool: the worker's StepFailed and BadRequest reach the caller intact."""
    from bioims.errors import BadRequest
    from bioims.workflows.runner import StepFailed

    failures = [
        StepFailed("Process Image", "ParameterError", "image-preprocessing-roi-size must be an integer >= 2"),
        BadRequest("plateId 'x' is bad", details={"field": "plateId"}),
    ]
    with ProcessPoolExecutor(max_workers=1) as pool:
        for failure in failures:
            with pytest.raises(type(failure)) as caught:
                pool.submit(_raise, failure).result(timeout=60)
            assert str(caught.value) == str(failure) and vars(caught.value) == vars(failure)
