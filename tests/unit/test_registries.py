"""Every name in a registry resolves to what it promises: services, clients, Lambda handlers,
container jobs, the workflows' service calls and jobs, and the CLI's command groups. A table that
names something missing fails here, not in a user's run."""

from __future__ import annotations

import importlib
import inspect
import os

import click
import pytest

from bioims.clients.base import CLIENT_CLASSES, ServiceClient, client_class
from bioims.config import Settings
from bioims.context import Context
from bioims.services.api import Service
from bioims.services.registry import SERVICE_CLASSES, available_services, service_class
from bioims.workflows import dsl
from bioims.workflows.definitions import WORKFLOWS
from bioims.workflows.jobs import JOB_PARAMETERS, JOBS, job_function


def _resolve(load, name: str):
    """load(name); a third-party package that is not installed skips the entry outside CI."""
    try:
        return load(name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] not in ("bioims", "cli", "lambdas") and os.environ.get("CI") != "true":
            pytest.skip(f"{name}: optional dependency {exc.name} is not installed")
        raise


@pytest.mark.parametrize("name", sorted(SERVICE_CLASSES))
def test_every_service_resolves_to_its_class(name):
    cls = _resolve(service_class, name)
    assert issubclass(cls, Service) and cls.name == name
    assert cls.api_methods(), f"service {name} declares no API method"


@pytest.mark.parametrize("name", sorted(SERVICE_CLASSES))
def test_every_service_has_a_client_class(name):
    cls = client_class(name)
    assert issubclass(cls, ServiceClient)
    assert set(CLIENT_CLASSES) == set(SERVICE_CLASSES)


@pytest.mark.parametrize("name", sorted(SERVICE_CLASSES))
def test_every_service_has_a_lambda_handler(name):
    module = _resolve(importlib.import_module, f"lambdas.{name.replace('-', '_')}")
    assert callable(module.handler)


@pytest.mark.parametrize("name", sorted(SERVICE_CLASSES))
def test_every_service_has_a_typed_context_accessor(name, tmp_path):
    ctx = Context.from_settings(Settings(home=tmp_path))
    cls = _resolve(service_class, name)
    service = getattr(ctx, name.replace("-", "_"))
    assert type(service) is cls and service is ctx.service(name)


def test_available_services_are_the_table_less_what_is_not_installed():
    available = available_services()
    assert set(available) <= set(SERVICE_CLASSES)
    if os.environ.get("CI") == "true":
        assert available == list(SERVICE_CLASSES)


def test_unknown_service_is_refused():
    with pytest.raises(Exception, match="unknown service 'nope'"):
        service_class("nope")
    with pytest.raises(ValueError, match="unknown service 'nope'"):
        client_class("nope")


@pytest.mark.parametrize("job", sorted(JOBS))
def test_every_job_resolves_to_a_function_taking_its_parameters(job):
    function = _resolve(job_function, job)
    parameters = list(inspect.signature(function).parameters)
    assert tuple(parameters[1:]) == JOB_PARAMETERS[job] == JOBS[job].parameters


def test_every_deployed_service_and_job_matches_the_tables():
    """The CDK app's tables (access per service, Batch job definitions) name exactly the
    registered services and jobs, and each Batch entry point runs the job it is deployed as."""
    access = importlib.import_module("stacks.access")
    assert set(access.SERVICE_NEEDS) == set(SERVICE_CLASSES)
    assert set(JOBS) <= set(access.CONSUMER_NEEDS)
    for name, needs in {**access.SERVICE_NEEDS, **access.CONSUMER_NEEDS}.items():
        assert set(needs.services) <= set(SERVICE_CLASSES), name
    definitions = _resolve(importlib.import_module, "stacks.job_definitions")
    assert {spec.job for spec in definitions.BATCH_JOBS} == set(JOBS)
    for spec in definitions.BATCH_JOBS:
        entry = importlib.import_module(spec.entry.removesuffix(".py").replace("/", "."))
        assert entry.JOB == spec.job and callable(entry.main), spec


def _steps(steps):
    for step in steps:
        yield step
        if isinstance(step, dsl.Map):
            yield from _steps(step.iterator)
        if isinstance(step, dsl.Choice):
            yield from _steps(step.then)
            yield from _steps(step.otherwise)
        if isinstance(step, dsl.TrainingJob):
            yield step.request


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_every_workflow_step_names_a_registered_service_method_job_or_workflow(name):
    for step in _steps(WORKFLOWS[name].steps):
        if isinstance(step, dsl.Invoke):
            assert step.service in SERVICE_CLASSES, (name, step.name, step.service)
            cls = _resolve(service_class, step.service)
            assert step.method in cls.api_methods(), (name, step.name, step.method)
        elif isinstance(step, dsl.BatchJob):
            assert step.job in JOBS, (name, step.name, step.job)
        elif isinstance(step, dsl.StartWorkflow):
            assert step.workflow in WORKFLOWS, (name, step.name, step.workflow)


def _cli_main():
    """The CLI's entry module, wherever the package lives (cli/ or bioims/cli/)."""
    try:
        return importlib.import_module("bioims.cli.main")
    except ModuleNotFoundError as exc:
        if exc.name not in ("bioims.cli", "bioims.cli.main"):
            raise
        return importlib.import_module("cli.main")


def test_every_cli_command_module_resolves():
    main = _cli_main()
    for module_name, attribute in main.COMMAND_MODULES:
        target = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(target, click.Command) or callable(target), (module_name, attribute)
    listed = {name.rsplit(".", 1)[-1] for name, _ in main.COMMAND_MODULES}
    assert listed >= {"status", "services", "walkthrough"}
    assert main.main_group.commands, "no command registered"
