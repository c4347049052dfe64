"""The local workflow runner: executes bioims.workflows definitions in this process.

Service steps call the service handlers in-process through the same JSON events a Lambda gets;
Batch steps run the job functions (in worker processes when a Map asks for them); training steps
go to the runtime. A failing step stops the workflow with its error and cause, like a Step
Functions Catch -> Fail. Steps are idempotent, so re-running a failed or interrupted workflow
does only the missing work.
"""

from __future__ import annotations

import atexit
import concurrent.futures as futures
import contextlib
import multiprocessing
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from bioims.runtime.ports import Observer, worker_context
from bioims.services.api import handle_json
from bioims.workflows import jobs
from bioims.workflows.definitions import workflow as lookup
from bioims.workflows.dsl import (
    BatchJob,
    Choice,
    Fail,
    Invoke,
    Map,
    PathError,
    StartWorkflow,
    Step,
    TrainingJob,
    Workflow,
    get_path,
    resolve,
)


class StepFailed(RuntimeError):
    def __init__(self, step: str, error: str, cause: str):
        super().__init__(f"{step}: {error}: {cause}")
        self.step, self.error, self.cause = step, error, cause

    def __reduce__(self):  # rebuilt from its parts when it crosses a process pool
        return (type(self), (self.step, self.error, self.cause), dict(vars(self)))


@dataclass
class RunResult:
    state: dict
    steps: list[str]


def local_worker_count() -> int:
    """Worker processes for CPU-heavy maps: one per core (BIOIMS_WORKERS overrides)."""
    configured = os.environ.get("BIOIMS_WORKERS", "").strip()
    if configured:
        return max(1, int(configured))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


class WorkflowRunner:
    def __init__(self, context, observer: Observer | None = None, *, allow_processes: bool = True):
        self.ctx = context
        self.observer = observer or Observer()
        self.allow_processes = allow_processes
        self.executed: list[str] = []

    # --- public --------------------------------------------------------------------------------
    def run(self, workflow: Workflow, payload: dict) -> dict:
        missing = [name for name in workflow.inputs if name not in payload]
        if missing:
            raise StepFailed(workflow.name, "InvalidInput", f"missing input fields {missing}")
        state = dict(payload)
        self._run_steps(workflow.name, workflow.steps, state)
        return state

    # --- steps ---------------------------------------------------------------------------------
    def _run_steps(self, workflow: str, steps, state: dict) -> Any:
        last = None
        for step in steps:
            last = self._run_step(workflow, step, state)
        return last

    def _run_step(self, workflow: str, step: Step, state: dict) -> Any:
        self.executed.append(step.name)
        self.observer.step_started(workflow, step.name)
        try:
            value = self._execute(workflow, step, state)
        except PathError as exc:
            raise StepFailed(step.name, "States.Runtime", str(exc)) from None
        result_field = getattr(step, "result", None)
        if result_field:
            state[result_field] = value
        self.observer.step_finished(workflow, step.name)
        return value

    def _execute(self, workflow: str, step: Step, state: dict) -> Any:
        if isinstance(step, Invoke):
            return self._invoke(step, state)
        if isinstance(step, BatchJob):
            params = resolve(step.params, state)
            try:
                return jobs.run_job(step.job, self.ctx, params)
            except Exception as exc:
                raise StepFailed(step.name, type(exc).__name__, str(exc)) from exc
        if isinstance(step, TrainingJob):
            request = self._invoke(step.request, state)
            self.executed.append(step.request.name)
            result = self.ctx.runtime.run_training_job(request, observer=self.observer)
            if result.get("TrainingJobStatus") != "Completed":
                raise StepFailed(
                    step.name, "TrainingJobFailed", result.get("FailureReason", "training job did not complete")
                )
            return result
        if isinstance(step, StartWorkflow):
            child = lookup(step.workflow)
            payload = resolve(step.input, state)
            outcome = self.ctx.runtime.run_workflow(child, payload, observer=self.observer)
            if outcome["status"] != "SUCCEEDED":
                raise StepFailed(step.name, outcome.get("error") or "ChildWorkflowFailed", outcome.get("cause") or "")
            return {"executionArn": outcome["executionArn"], "status": outcome["status"]}
        if isinstance(step, Choice):
            branch = step.then if get_path(state, step.path.path) == step.equals else step.otherwise
            return self._run_steps(workflow, branch, state)
        if isinstance(step, Fail):
            raise StepFailed(step.name, step.error, step.cause)
        if isinstance(step, Map):
            return self._map(workflow, step, state)
        raise TypeError(f"unknown step type {type(step).__name__}")

    def _invoke(self, step: Invoke, state: dict) -> Any:
        event = {"method": step.method, **resolve(step.params, state)}
        response = handle_json(self.ctx.service(step.service), event)
        if response["statusCode"] >= 300:  # every error body names the error and says why (errors.answer)
            body = response["body"]
            raise StepFailed(step.name, body["error"], body["message"])
        return response["body"]

    def _map(self, workflow: str, step: Map, state: dict) -> list:
        items = get_path(state, step.items.path)
        if not isinstance(items, list):
            raise StepFailed(step.name, "States.Runtime", f"{step.items.path} is not a list")
        total = len(items)
        self.observer.map_progress(workflow, step.name, 0, total, 0)
        if total == 0:
            return []
        base = {k: v for k, v in state.items() if k != "item"}
        use_processes = (
            step.local_workers == "processes" and self.allow_processes and local_worker_count() > 1 and total > 1
        )
        if use_processes:
            workers = local_worker_count()
        elif step.local_workers == "processes":
            workers = 1  # CPU-heavy work with one worker allowed: run it here, one item at a time
        else:
            workers = min(max(step.max_concurrency or 8, 1), 8)
        results: list[Any] = [None] * total
        errors: list[StepFailed] = []
        done = 0
        if workers == 1 or total == 1:
            for index, item in enumerate(items):
                results[index] = self._run_iteration(workflow, step, base, item)
                done += 1
                self.observer.map_progress(workflow, step.name, done, total, 0)
            return results
        if use_processes:
            executor: futures.Executor = shared_process_pool(workers)
            scope: Any = contextlib.nullcontext()  # the pool outlives the map (see shared_process_pool)
        else:
            executor = futures.ThreadPoolExecutor(max_workers=workers)
            scope = executor
        with scope:
            todo = list(range(total))
            # A shared pool whose worker died before this map (found broken now or while it runs)
            # is replaced once and the items it lost are run again (iterations are idempotent).
            for attempt in range(2 if use_processes else 1):
                pending = {}
                lost: list[int] = []
                try:
                    for index in todo:
                        if use_processes:
                            future = executor.submit(
                                _iteration_in_worker,
                                type(self.ctx),
                                self.ctx.settings,
                                workflow,
                                step.iterator,
                                base,
                                items[index],
                            )
                        else:
                            future = executor.submit(self._run_iteration, workflow, step, base, items[index])
                        pending[future] = index
                except futures.BrokenExecutor:
                    lost = [i for i in todo if i not in pending.values()]
                for future in futures.as_completed(pending):
                    index = pending[future]
                    try:
                        results[index] = future.result()
                    except StepFailed as exc:
                        errors.append(exc)
                    except futures.BrokenExecutor as exc:
                        if attempt == 0 and use_processes:
                            lost.append(index)
                            continue
                        errors.append(StepFailed(step.name, type(exc).__name__, str(exc)))
                    except Exception as exc:  # a worker crashed: report it as the step's failure
                        errors.append(StepFailed(step.name, type(exc).__name__, str(exc)))
                    done += 1
                    self.observer.map_progress(workflow, step.name, done, total, len(errors))
                if not lost:
                    break
                if attempt == 1:
                    errors.extend(StepFailed(step.name, "BrokenProcessPool", "a worker process died") for _ in lost)
                    break
                todo = sorted(lost)
                executor = shared_process_pool(workers, replace_broken=True)
        if use_processes:
            self.executed.extend(s.name for s in step.iterator)
        if errors:
            first = errors[0]
            raise StepFailed(first.step, first.error, f"{first.cause} ({len(errors)} of {total} items failed)")
        return results

    def _run_iteration(self, workflow: str, step: Map, base: dict, item: Any) -> Any:
        iteration_state = {**base, "item": item}
        return self._run_steps(workflow, step.iterator, iteration_state)


def _iteration_in_worker(context_class, settings, workflow: str, iterator, base: dict, item: Any) -> Any:
    """Run one Map iteration in a worker process with the worker's context for `settings`
    (bioims.runtime.ports.worker_context: stores reopened once per worker)."""
    runner = WorkflowRunner(worker_context(context_class, settings), allow_processes=False)
    return runner._run_steps(workflow, iterator, {**base, "item": item})


# --- worker processes shared by the maps of this process ------------------------------------------
# Starting a spawned worker (a fresh interpreter importing numpy, scipy, scikit-image, bioims)
# takes 1-3 s; a pool per map paid that twice per plate (thumbnails, ROIs), minutes over BBBC021's
# 55 plates (benchmarks/scale.py). The pool now lives as long as this process and is replaced
# when the worker count or the environment the workers were started with changes, or when a
# worker died (a broken pool).
_pool_lock = threading.Lock()
_pool: tuple[tuple, futures.ProcessPoolExecutor] | None = None


def _pool_key(workers: int) -> tuple:
    return (workers, tuple(sorted(os.environ.items())), tuple(sys.path), os.getcwd())


def shared_process_pool(workers: int, *, replace_broken: bool = False) -> futures.ProcessPoolExecutor:
    """The process pool of `workers` spawned workers that the maps of this process share
    (`replace_broken`: a map saw it broken, even if the pool has not marked itself yet)."""
    global _pool
    key = _pool_key(workers)
    with _pool_lock:
        if _pool is not None and (_pool[0] != key or replace_broken or _unusable(_pool[1])):
            _pool[1].shutdown(wait=False, cancel_futures=True)
            _pool = None
        if _pool is None:
            pool = futures.ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
            _pool = (key, pool)
        return _pool[1]


def _unusable(pool: futures.ProcessPoolExecutor) -> bool:
    """Broken, or holding a worker that has died. The executor marks itself broken only once its
    manager thread has seen the death; a map given the pool before that could run wholly on the
    other workers and leave the dead one in the pool (seen on a loaded machine), so dead workers
    are looked for here too."""
    if getattr(pool, "_broken", False):
        return True
    workers = getattr(pool, "_processes", None) or {}
    return any(process.exitcode is not None for process in list(workers.values()))


def _exit_with_parent(parent: int, interval: float = 1.0) -> None:
    """Worker initializer: an idle worker would outlive a parent killed with SIGKILL (it waits on
    the task queue forever), so a daemon thread ends the worker once its parent is gone."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def shutdown_process_pool() -> None:
    """Stop the shared workers (they also stop when this process exits)."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool[1].shutdown(wait=True, cancel_futures=True)
            _pool = None


# The pool is let go before the interpreter tears modules down: an executor collected after
# concurrent.futures' own module globals are gone prints "Exception ignored ... weakref_cb".
atexit.register(shutdown_process_pool)
