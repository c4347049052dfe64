"""Step Functions state machines built from the workflow definitions (bioims.workflows), the same
definitions the local runner executes; the translation itself is stacks/asl.py.

Each state machine has a physical name `<Workflow>-<deployment>` (`EmbeddingCompute-bioims`), so
the service functions that start it can be granted access by name without a reference cycle
(functions start workflows, workflows invoke functions), and the original's client, which finds a
state machine by name prefix (`EmbeddingCompute`, `SearchTagLoader`, ...; bioims/discovery.py),
finds it too. Its role may do exactly what its definition does: invoke the
functions it calls, submit its Batch jobs, run its SageMaker training jobs, start its child
workflows. Executions log everything to CloudWatch and are traced with X-Ray.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from bioims.discovery import workflow_prefix
from bioims.workflows.dsl import Workflow
from stacks.asl import Bindings, Translation, translate
from stacks.grants import TRAINING_JOBS_REASON, deployment_tag_condition, training_jobs_arn
from stacks.log_groups import log_group
from stacks.nag import acknowledge, scoped_wildcards
from stacks.settings import DeploymentSettings

BATCH_EVENTS_RULE = "StepFunctionsGetEventsForBatchJobsRule"
SAGEMAKER_EVENTS_RULE = "StepFunctionsGetEventsForSageMakerTrainingJobsRule"
SFN_EVENTS_RULE = "StepFunctionsGetEventsForStepFunctionsExecutionRule"


def state_machine_name(settings: DeploymentSettings, workflow: str) -> str:
    """The original's name prefix first (its client matches `name.startswith(prefix)`), then the
    deployment, so two deployments in one account and region do not collide."""
    return f"{workflow_prefix(workflow)}-{settings.deployment}"


@dataclass
class WorkflowTargets:
    """What a state machine's role must reach, by resource."""

    functions: dict[str, str] = field(default_factory=dict)  # service -> function ARN
    job_definitions: dict[str, str] = field(default_factory=dict)
    job_queues: dict[str, str] = field(default_factory=dict)
    sagemaker_role_arn: str | None = None


class WorkflowStateMachine(Construct):
    """One workflow as a Standard state machine with its own least-privilege role."""

    def __init__(
        self,
        scope: Construct,
        workflow: Workflow,
        bindings: Bindings,
        targets: WorkflowTargets,
        settings: DeploymentSettings,
    ) -> None:
        super().__init__(scope, "".join(p.capitalize() for p in workflow.name.split("-")) + "Workflow")
        self.workflow = workflow
        self.translation: Translation = translate(workflow, bindings)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description=f"{settings.deployment} workflow {workflow.name}",
        )
        self._grant(stack, targets, settings)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=state_machine_name(settings, workflow.name),
            # json.dumps, not Stack.to_json_string: that one drops `"ResultPath": null` (discard the
            # result); the ARNs inside stay tokens and become an Fn::Join at synthesis.
            definition_body=sfn.DefinitionBody.from_string(json.dumps(self.translation.definition)),
            state_machine_type=sfn.StateMachineType.STANDARD,
            role=self.role,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=log_group(self, "Logs", settings), level=sfn.LogLevel.ALL, include_execution_data=True
            ),
            comment=workflow.description,
        )
        acknowledge(
            self.role,
            "IAM5[Resource::*]",
            "CloudWatch Logs delivery and X-Ray segment APIs (added for execution logging and tracing) and "
            "batch:DescribeJobs have no resource-level permissions.",
        )

    def _grant(self, stack: Stack, targets: WorkflowTargets, settings: DeploymentSettings) -> None:
        t = self.translation
        acks = scoped_wildcards(self)
        role = self.role
        if t.services:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["lambda:InvokeFunction"], resources=sorted(targets.functions[s] for s in t.services)
                )
            )
        if t.jobs:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["batch:SubmitJob"],
                    resources=[*(targets.job_definitions[j] for j in sorted(t.jobs)), *targets.job_queues.values()],
                )
            )
            jobs = stack.format_arn(service="batch", resource="job", resource_name="*")
            role.add_to_principal_policy(iam.PolicyStatement(actions=["batch:TerminateJob"], resources=[jobs]))
            role.add_to_principal_policy(iam.PolicyStatement(actions=["batch:DescribeJobs"], resources=["*"]))
            acks.add(":job/*", "Batch job ids are assigned at submission: stopping an execution terminates its jobs.")
            self._events_rule(stack, BATCH_EVENTS_RULE)
        if t.trains:
            if targets.sagemaker_role_arn is None:
                raise ValueError(f"workflow {self.workflow.name} trains but no SageMaker role was given")
            created = training_jobs_arn(stack)
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["sagemaker:CreateTrainingJob", "sagemaker:AddTags"],
                    resources=[created],
                    conditions=deployment_tag_condition(settings.deployment, request=True),
                )
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob", "sagemaker:ListTags"],
                    resources=[created],
                    conditions=deployment_tag_condition(settings.deployment),
                )
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["iam:PassRole"],
                    resources=[targets.sagemaker_role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
                )
            )
            acks.add(":training-job/*", TRAINING_JOBS_REASON)
            self._events_rule(stack, SAGEMAKER_EVENTS_RULE)
        if t.children:
            for child in sorted(t.children):
                name = state_machine_name(settings, child)
                machine = stack.format_arn(
                    service="states",
                    resource="stateMachine",
                    resource_name=name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
                executions = stack.format_arn(
                    service="states",
                    resource="execution",
                    resource_name=f"{name}:*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
                role.add_to_principal_policy(
                    iam.PolicyStatement(actions=["states:StartExecution"], resources=[machine])
                )
                role.add_to_principal_policy(
                    iam.PolicyStatement(
                        actions=["states:DescribeExecution", "states:StopExecution"], resources=[executions]
                    )
                )
                acks.add(f":execution:{name}:*", f"Executions of the {child} workflow this one starts and waits for.")
            self._events_rule(stack, SFN_EVENTS_RULE)

    def _events_rule(self, stack: Stack, rule: str) -> None:
        """The managed EventBridge rule through which Step Functions waits for a `.sync` task."""
        arn = stack.format_arn(service="events", resource="rule", resource_name=rule)
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"], resources=[arn])
        )
