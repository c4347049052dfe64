"""The translation of workflow definitions into Amazon States Language (no CDK, no AWS)."""

from __future__ import annotations

import json

import pytest

from bioims.workflows.definitions import WORKFLOWS
from bioims.workflows.dsl import BatchJob, Choice, Fail, Invoke, Item, Map, Ref, Workflow, walk_names
from stacks.asl import STEP_FAILED, Bindings, TrainingBindings, TranslationError, requirements, translate

FUNCTIONS = {
    s: f"arn:aws:lambda:us-east-1:123456789012:function:bioims-{s}"
    for s in ("image-management", "image-artifact", "training-configuration", "train", "search", "embedding")
}
FULL = Bindings(
    functions=FUNCTIONS,
    job_definitions={
        j: f"arn:aws:batch:us-east-1:123456789012:job-definition/{j}:1"
        for j in ("plate-preprocessing", "image-preprocessing", "embedding-compute")
    },
    job_queues={
        "on-demand": "arn:aws:batch:us-east-1:123456789012:job-queue/od",
        "spot": "arn:aws:batch:us-east-1:123456789012:job-queue/spot",
    },
    state_machines={w: f"arn:aws:states:us-east-1:123456789012:stateMachine:bioims-{w}" for w in WORKFLOWS},
    training=TrainingBindings(
        role_arn="arn:aws:iam::123456789012:role/sm",
        image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1",
        file_system_id="fs-0123456789abcdef0",
        mount_name="abcdefgh",
        subnet_ids=("subnet-1",),
        security_group_id="sg-1",
        data_bucket="data-bucket",
        environment={"BIOIMS_BACKEND": "aws"},
        tags={"bioims:deployment": "bioims"},
    ),
)


def _all_states(states: dict) -> dict:
    """States of a definition including those inside Map item processors."""
    found = {}
    for name, state in states.items():
        found[name] = state
        if state["Type"] == "Map":
            found.update(_all_states(state["ItemProcessor"]["States"]))
    return found


def _reachable(definition: dict) -> set[str]:
    states = definition["States"]
    seen, pending = set(), [definition["StartAt"]]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        pending += [c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])]
        pending += [n for n in (state.get("Next"), state.get("Default")) if n]
        if state["Type"] == "Map":
            assert _reachable(state["ItemProcessor"]) == set(state["ItemProcessor"]["States"])
    return seen


def _throttling_errors(resource: str) -> set[str]:
    """The error names under which Step Functions reports a throttled call of the task's service."""
    if resource.startswith("arn:aws:lambda:"):
        return {"Lambda.TooManyRequestsException"}
    service = resource.split(":::")[1].split(":")[0]
    return {
        "batch": {"Batch.AWSBatchException"},
        "sagemaker": {"SageMaker.AmazonSageMakerException", "ThrottlingException"},
        "states": {"StepFunctions.AWSStepFunctionsException"},
    }[service]


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_every_workflow_translates_to_a_valid_definition(name):
    workflow = WORKFLOWS[name]
    translation = translate(workflow, FULL)
    definition = json.loads(json.dumps(translation.definition))
    assert definition["TimeoutSeconds"] == workflow.timeout_minutes * 60
    assert _reachable(definition) == set(definition["States"])  # Step Functions rejects unreachable states
    states = _all_states(definition["States"])
    # every workflow step is a state, by its own name; everything else is auxiliary
    assert set(walk_names(workflow.steps)) == set(states) - translation.auxiliary
    for state_name, state in states.items():
        assert len(state_name) <= 80
        if state["Type"] == "Task":
            assert state["Retry"] and state["Retry"][0]["MaxAttempts"] >= 2, state_name
            retried = {name for retrier in state["Retry"] for name in retrier["ErrorEquals"]}
            assert retried & _throttling_errors(state["Resource"]), state_name
            assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"], state_name
        if state["Type"] == "Fail" and state_name in translation.auxiliary:
            assert state["Error"] == STEP_FAILED
    needs = requirements(workflow)
    assert translation.services == needs["services"] and translation.jobs == needs["jobs"]
    assert translation.children == needs["workflows"] and translation.trains == bool(needs["training"])


def test_invoke_passes_the_method_parameters_and_workflow_flag():
    definition = translate(WORKFLOWS["process-plate"], FULL).definition
    state = definition["States"]["Embedding Info"]
    assert state["Resource"] == FUNCTIONS["training-configuration"]
    assert state["Parameters"] == {
        "method": "getEmbeddingInfo",
        "bioimsWorkflowCall": True,
        "embeddingName.$": "$.embeddingName",
    }
    assert state["ResultPath"] == "$.embedding"
    assert definition["States"]["Plate Flat Fields"]["ResultPath"] is None  # discarded, as the runner does


def test_map_items_see_the_item_and_the_parent_fields_they_read():
    states = translate(WORKFLOWS["process-plate"], FULL).definition["States"]
    images = states["Process Images"]
    assert images["ItemsPath"] == "$.images.imageIds" and images["MaxConcurrency"] == 0
    assert images["ItemSelector"] == {
        "item.$": "$$.Map.Item.Value",
        "embeddingName.$": "$.embeddingName",
        "plateId.$": "$.plateId",
    }
    job = images["ItemProcessor"]["States"]["Image ROIs"]
    assert job["Resource"] == "arn:aws:states:::batch:submitJob.sync"
    assert job["Parameters"]["JobQueue"] == FULL.job_queues["on-demand"]
    assert job["Parameters"]["Parameters"] == {
        "imageId.$": "States.Format('{}', $.item)",
        "embeddingName.$": "States.Format('{}', $.embeddingName)",
        "plateId.$": "States.Format('{}', $.plateId)",
    }


def test_training_runs_the_requested_job_in_the_vpc_on_lustre_tagged_with_the_deployment():
    states = translate(WORKFLOWS["train"], FULL).definition["States"]
    assert states["Train Model"] == {"Type": "Pass", "Next": "Training Job Request"}
    assert states["Training Job Request"]["ResultPath"] == "$.trainingJobRequest"
    choice = states["Train Model Spot?"]
    assert choice["Choices"][0]["Variable"] == "$.trainingJobRequest.useSpot"
    on_demand, spot = states["Train Model On Demand"]["Parameters"], states["Train Model On Spot"]["Parameters"]
    source = on_demand["InputDataConfig"][0]["DataSource"]["FileSystemDataSource"]
    assert source["FileSystemId"] == "fs-0123456789abcdef0" and source["FileSystemType"] == "FSxLustre"
    assert source["DirectoryPath.$"] == "States.Format('/abcdefgh/{}', $.trainingJobRequest.channelPrefix)"
    assert on_demand["VpcConfig"] == {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}
    assert on_demand["Tags"] == [{"Key": "bioims:deployment", "Value": "bioims"}]
    assert "EnableManagedSpotTraining" not in on_demand and spot["EnableManagedSpotTraining"] is True
    assert "MaxWaitTimeInSeconds.$" in spot["StoppingCondition"]
    assert states["Train Model On Demand"]["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"


def test_child_workflows_are_awaited_and_their_status_kept():
    train = translate(WORKFLOWS["train"], FULL).definition["States"]
    start = train["Process Plates"]["ItemProcessor"]["States"]["Process Plate"]
    assert start["Resource"] == "arn:aws:states:::states:startExecution.sync:2"
    assert start["Parameters"]["StateMachineArn"] == FULL.state_machines["process-plate"]
    assert start["ResultSelector"] == {"executionArn.$": "$.ExecutionArn", "status.$": "$.Status"}


def test_choice_compares_by_the_literal_type_and_joins_after():
    workflow = Workflow(
        "w",
        "test",
        (
            Choice("Flag?", Ref("$.flag"), True, then=(Fail("Stop", "Stopped", "flag set"),)),
            Choice("Mode?", Ref("$.mode"), "fast", otherwise=(Invoke("Slow", "train", "slow"),)),
            Choice("Count?", Ref("$.n"), 3),
        ),
    )
    states = translate(workflow, FULL).definition["States"]
    assert states["Flag?"]["Choices"][0] == {"Variable": "$.flag", "BooleanEquals": True, "Next": "Stop"}
    assert states["Flag?"]["Default"] == "Mode?"
    assert states["Mode?"]["Choices"][0]["StringEquals"] == "fast"
    assert states["Mode?"]["Choices"][0]["Next"] == "Count?" and states["Mode?"]["Default"] == "Slow"
    assert states["Count?"]["Choices"][0]["NumericEquals"] == 3
    assert states["Stop"] == {"Type": "Fail", "Error": "Stopped", "Cause": "flag set"}


def test_failures_name_the_step_in_the_cause():
    states = translate(WORKFLOWS["process-plate"], FULL).definition["States"]
    handler = states["Embedding Info Failed"]
    assert (
        handler["Parameters"]["Cause.$"]
        == "States.Format('{}: {}: {}', 'Embedding Info', $.failure.Error, $.failure.Cause)"
    )
    assert states[handler["Next"]] == {"Type": "Fail", "Error": STEP_FAILED, "CausePath": "$.Cause"}
    # a Map passes its iteration's cause on unchanged (it already names the failed step)
    assert states["Process Images Failed"]["Parameters"]["Cause.$"] == "$.failure.Cause"


@pytest.mark.parametrize(
    "workflow, bindings, message",
    [
        ("upload-source-plate", Bindings(functions={}), "has no function"),
        ("process-plate", Bindings(functions=FUNCTIONS, job_queues=FULL.job_queues), "has no job definition"),
        ("process-plate", Bindings(functions=FUNCTIONS, job_definitions=FULL.job_definitions), "job queue"),
        ("train", Bindings(functions=FUNCTIONS, state_machines=FULL.state_machines), "no training image"),
        ("train", Bindings(functions=FUNCTIONS, training=FULL.training), "is not deployed"),
    ],
)
def test_missing_resources_are_translation_errors(workflow, bindings, message):
    with pytest.raises(TranslationError, match=message):
        translate(WORKFLOWS[workflow], bindings)


def test_job_parameters_must_match_the_job():
    workflow = Workflow("w", "t", (BatchJob("Job", "plate-preprocessing", {"plateId": Ref("$.p"), "extra": "x"}),))
    with pytest.raises(TranslationError, match="takes"):
        translate(workflow, FULL)


def test_duplicate_step_names_and_map_results_without_a_last_result_are_rejected():
    twice = Workflow("w", "t", (Invoke("A", "train", "x"), Invoke("A", "train", "y")))
    with pytest.raises(TranslationError, match="used twice"):
        translate(twice, FULL)
    kept = Workflow("w", "t", (Map("M", Ref("$.xs"), (Invoke("A", "train", "x", {"v": Item("$")}),), result="out"),))
    with pytest.raises(TranslationError, match="last step"):
        translate(kept, FULL)
    fine = Workflow("w", "t", (Map("M", Ref("$.xs"), (Invoke("A", "train", "x", result="r"),), result="out"),))
    states = translate(fine, FULL).definition["States"]["M"]
    assert states["ResultPath"] == "$.out"
    assert states["ItemProcessor"]["States"]["M Item Result"] == {"Type": "Pass", "OutputPath": "$.r", "End": True}
