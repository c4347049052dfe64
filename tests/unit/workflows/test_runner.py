"""The local workflow runner executes definitions against real services (SQLite backend),
including Map iterations in worker processes that reopen the same database."""

from __future__ import annotations

import pytest

from bioims import errors
from bioims.services.api import handle_json
from bioims.workflows import definitions
from bioims.workflows.dsl import Choice, Fail, Invoke, Item, Map, Ref, StartWorkflow, Workflow, referenced_fields
from bioims.workflows.runner import StepFailed, WorkflowRunner
from tests.support.backends import installed, local_context


def _tag_workflow(workers: str) -> Workflow:
    return Workflow(
        name="test-tags",
        description="create tags for every value, then count them",
        inputs=("values", "category"),
        steps=(
            Invoke("Category", "label", "createCategory", {"category": Ref("$.category")}, result="category_row"),
            Map(
                "Tag Each",
                Ref("$.values"),
                (
                    Invoke("Create Tag", "tag", "createTag", {"tagValue": Item("$")}, result="tag"),
                    Invoke(
                        "Create Label",
                        "label",
                        "createLabel",
                        {"category": Ref("$.category"), "label": Item("$")},
                        result="label",
                    ),
                ),
                local_workers=workers,
                result="made",
            ),
            Invoke("All Tags", "tag", "getAllTags", result="all"),
        ),
    )


@pytest.mark.parametrize("workers", ["threads", "processes"])
def test_map_runs_every_item_and_keeps_results_in_order(tmp_path, workers, monkeypatch):
    monkeypatch.setenv("BIOIMS_WORKERS", "2")
    ctx = local_context(tmp_path)
    values = [f"value-{i}" for i in range(12)]
    with installed(ctx):
        state = WorkflowRunner(ctx).run(_tag_workflow(workers), {"values": values, "category": "c"})
    assert [r["label"] for r in state["made"]] == values
    assert sorted(t["tagValue"] for t in state["all"]["tags"]) == sorted(values)
    # label indices are dense and unique even when created from two processes at once
    assert sorted(r["index"] for r in state["made"]) == list(range(12))
    assert sorted(t["id"] for t in state["all"]["tags"]) == list(range(1, 13))


def test_failed_service_call_fails_the_workflow_with_its_cause(tmp_path):
    ctx = local_context(tmp_path)
    flow = Workflow(
        "test-fail",
        "label in a missing category",
        (Invoke("Orphan Label", "label", "createLabel", {"category": "missing", "label": "x"}),),
    )
    with installed(ctx), pytest.raises(StepFailed) as failure:
        WorkflowRunner(ctx).run(flow, {})
    assert failure.value.step == "Orphan Label"
    assert failure.value.error == "NotFound"
    assert "missing" in failure.value.cause


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("noSuchMethod", {}),  # 400 before the method runs
        ("createLabel", {"category": 7, "label": ["x"]}),  # 400 from the request's validation
        ("createLabel", {"category": "missing", "label": "x"}),  # 404 from the method itself
    ],
)
def test_a_failed_step_carries_the_error_and_message_of_the_services_answer(tmp_path, method, params):
    ctx = local_context(tmp_path)
    with installed(ctx):
        answer = handle_json(ctx.service("label"), {"method": method, **params})
        with pytest.raises(StepFailed) as failure:
            WorkflowRunner(ctx).run(Workflow("test-answer", "", (Invoke("Call", "label", method, params),)), {})
    assert answer["statusCode"] >= 400
    assert (failure.value.error, failure.value.cause) == (answer["body"]["error"], answer["body"]["message"])
    # an exception outside the error family is answered with a name and a message too
    assert set(errors.answer(ZeroDivisionError("x"), method)[1]) == {"error", "message"}


def test_choice_branches_and_fail_step(tmp_path):
    ctx = local_context(tmp_path)
    flow = Workflow(
        "test-choice",
        "",
        (
            Choice(
                "Go?",
                Ref("$.go"),
                True,
                then=(Invoke("Make", "tag", "createTag", {"tagValue": "went"}, result="made"),),
                otherwise=(Fail("Stop", "Stopped", "go was false"),),
            ),
        ),
    )
    with installed(ctx):
        assert WorkflowRunner(ctx).run(flow, {"go": True})["made"]["id"] == 1
        with pytest.raises(StepFailed) as failure:
            WorkflowRunner(ctx).run(flow, {"go": False})
    assert (failure.value.error, failure.value.cause) == ("Stopped", "go was false")


def test_missing_input_and_bad_paths_are_clear_failures(tmp_path):
    ctx = local_context(tmp_path)
    with installed(ctx):
        with pytest.raises(StepFailed, match="missing input fields"):
            WorkflowRunner(ctx).run(definitions.PROCESS_PLATE, {"plateId": "x"})
        flow = Workflow("test-path", "", (Invoke("Read", "tag", "createTag", {"tagValue": Ref("$.nope")}),))
        with pytest.raises(StepFailed, match=r"\$\.nope"):
            WorkflowRunner(ctx).run(flow, {})


def test_executions_are_recorded_and_described(tmp_path):
    ctx = local_context(tmp_path)
    with installed(ctx):
        outcome = ctx.runtime.run_workflow(
            Workflow("test-rec", "", (Invoke("Tag", "tag", "createTag", {"tagValue": Ref("$.v")}, result="t"),)),
            {"v": "a"},
        )
        assert outcome["status"] == "SUCCEEDED"
        assert ctx.runtime.describe_execution(outcome["executionArn"])["steps"] == ["Tag"]
        failed = ctx.runtime.run_workflow(Workflow("test-rec2", "", (Fail("F", "E", "because"),)), {})
        assert failed["status"] == "FAILED" and failed["error"] == "E" and "because" in failed["cause"]


def test_child_workflow_failure_fails_the_parent(tmp_path, monkeypatch):
    ctx = local_context(tmp_path)
    child = Workflow("test-child", "", (Fail("Child Fails", "ChildError", "no"),))
    monkeypatch.setitem(definitions.WORKFLOWS, "test-child", child)
    parent = Workflow("test-parent", "", (StartWorkflow("Run Child", "test-child", {}),))
    with installed(ctx), pytest.raises(StepFailed) as failure:
        WorkflowRunner(ctx).run(parent, {})
    assert failure.value.error == "ChildError"


def test_map_iterations_receive_only_what_they_reference():
    iterator = definitions.PROCESS_PLATE.steps[-1].iterator
    assert referenced_fields(iterator) == {"embeddingName", "plateId"}


def test_every_definition_has_unique_step_names():
    for flow in definitions.WORKFLOWS.values():
        names = flow.step_names()
        assert len(names) == len(set(names)), flow.name


def test_maps_share_worker_processes_and_survive_a_dead_worker(tmp_path, monkeypatch):
    """Process maps reuse one pool of spawned workers (no start-up per map); a worker killed
    between maps costs nothing: the pool is replaced and every item still runs."""
    import os
    import signal

    from bioims.workflows import runner as runner_module

    monkeypatch.setenv("BIOIMS_WORKERS", "2")
    ctx = local_context(tmp_path)
    runner_module.shutdown_process_pool()
    with installed(ctx):
        WorkflowRunner(ctx).run(_tag_workflow("processes"), {"values": ["a0", "a1", "a2"], "category": "c"})
        first = set(runner_module.shared_process_pool(2)._processes)
        WorkflowRunner(ctx).run(_tag_workflow("processes"), {"values": ["b0", "b1", "b2"], "category": "d"})
        assert set(runner_module.shared_process_pool(2)._processes) == first and len(first) == 2
        killed = runner_module.shared_process_pool(2)._processes[sorted(first)[0]]
        os.kill(killed.pid, signal.SIGKILL)
        state = WorkflowRunner(ctx).run(
            _tag_workflow("processes"), {"values": ["c0", "c1", "c2", "c3"], "category": "e"}
        )
        assert [r["label"] for r in state["made"]] == ["c0", "c1", "c2", "c3"]
        assert sorted(t["tagValue"] for t in state["all"]["tags"]) == [
            "a0",
            "a1",
            "a2",
            "b0",
            "b1",
            "b2",
            "c0",
            "c1",
            "c2",
            "c3",
        ]
        # compared as process objects, not pids: a new worker may be given the dead one's pid
        assert all(p is not killed for p in runner_module.shared_process_pool(2)._processes.values())
    monkeypatch.setenv("BIOIMS_SOME_SETTING", "changed")  # another environment: other workers
    assert runner_module.shared_process_pool(2) is not runner_module.shared_process_pool(1)
    runner_module.shutdown_process_pool()


def test_shared_workers_exit_when_their_parent_is_killed(tmp_path):
    """kill -9 of a process holding the shared pool leaves no idle worker behind."""
    import os
    import signal
    import subprocess
    import sys
    import time

    code = (
        "import os, time\n"
        "from bioims.workflows.runner import shared_process_pool\n"
        "pool = shared_process_pool(2)\n"
        "print(pool.submit(os.getpid).result(), flush=True)\n"
        "time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    worker = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and os.path.exists(f"/proc/{worker}"):
        with open(f"/proc/{worker}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.2)
    else:
        if os.path.exists(f"/proc/{worker}"):
            os.kill(worker, signal.SIGKILL)
            raise AssertionError(f"worker {worker} outlived its killed parent")
