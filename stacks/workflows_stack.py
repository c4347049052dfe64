"""`<deployment>-Workflows`: a state machine for every workflow whose services, jobs, child
workflows and training image are deployed, published as `StateMachine/<workflow>` slots."""

from __future__ import annotations

from aws_cdk import Stack
from constructs import Construct

from bioims import resources
from bioims.workflows.definitions import WORKFLOWS
from stacks.asl import Bindings, requirements
from stacks.grants import DEPLOYMENT_TAG
from stacks.published import publish
from stacks.settings import DeploymentSettings
from stacks.state_machines import WorkflowStateMachine, WorkflowTargets


def deployable_workflows(services: set[str], jobs: set[str], trains: bool) -> list[str]:
    """Workflows whose every dependency is deployed, each after the child workflows it starts."""
    ready: list[str] = []
    changed = True
    while changed:
        changed = False
        for name, workflow in WORKFLOWS.items():
            needs = requirements(workflow)
            if (
                name not in ready
                and needs["workflows"] <= set(ready)
                and needs["services"] <= services
                and needs["jobs"] <= jobs
                and (trains or not needs["training"])
            ):
                ready.append(name)
                changed = True
    return ready


class WorkflowsStack(Stack):
    def __init__(
        self,
        scope: Construct,
        settings: DeploymentSettings,
        workflows: list[str],
        bindings: Bindings,
        targets: WorkflowTargets,
        **kwargs,
    ) -> None:
        name = settings.stack_name("Workflows")
        super().__init__(scope, name, stack_name=name, description=f"{settings.deployment}: workflows", **kwargs)
        self.machines: dict[str, WorkflowStateMachine] = {}
        machines: dict[str, str] = {}
        for workflow in workflows:  # children first: parents reference their ARNs
            current = Bindings(
                functions=bindings.functions,
                job_definitions=bindings.job_definitions,
                job_queues=bindings.job_queues,
                state_machines=dict(machines),
                training=bindings.training,
            )
            machine = WorkflowStateMachine(self, WORKFLOWS[workflow], current, targets, settings)
            self.machines[workflow] = machine
            machines[workflow] = machine.state_machine.state_machine_arn
        publish(self, settings.deployment, {resources.state_machine_slot(w): arn for w, arn in machines.items()})


def training_tags(settings: DeploymentSettings) -> dict[str, str]:
    return {DEPLOYMENT_TAG: settings.deployment}
