"""Runtime.map_parts on both adapters: parts in order on other processes where more than one CPU
is there, in this process otherwise; a part's error reaches the caller."""

from __future__ import annotations

import os

import pytest

from bioims.runtime import aws
from bioims.workflows import runner as runner_module


def _where(ctx, part: list[int]) -> tuple[int, str, list[int]]:
    """A part function: its process, the backend of the context it got, its items."""
    return os.getpid(), ctx.settings.backend, part


def _fails_on_seven(ctx, part: list[int]) -> list[int]:
    if 7 in part:
        raise ValueError(f"part {part} holds 7")
    return part


@pytest.mark.aws
def test_aws_runtime_runs_parts_on_the_container_cpus(aws_ctx, monkeypatch):
    monkeypatch.setenv("BIOIMS_WORKERS", "2")
    results = aws_ctx.runtime.map_parts(_where, list(range(5)))
    assert [part for _, _, part in results] == [[0, 1], [2, 3, 4]]
    assert {backend for _, backend, _ in results} == {"aws"} and os.getpid() not in {pid for pid, _, _ in results}
    monkeypatch.setenv("BIOIMS_WORKERS", "1")
    assert aws_ctx.runtime.map_parts(_where, list(range(5))) == [(os.getpid(), "aws", list(range(5)))]
    assert aws_ctx.runtime.map_parts(_where, []) == []


def test_container_cpus_follow_the_cgroup_quota(tmp_path, monkeypatch):
    monkeypatch.delenv("BIOIMS_WORKERS", raising=False)
    cpu_max = tmp_path / "cpu.max"
    monkeypatch.setattr(aws, "CGROUP_CPU_MAX", cpu_max)
    affinity = len(os.sched_getaffinity(0))
    assert aws.container_cpus() == affinity  # no cgroup file
    cpu_max.write_text("max 100000\n")
    assert aws.container_cpus() == affinity
    cpu_max.write_text("150000 100000\n")  # 1.5 CPUs: one process
    assert aws.container_cpus() == 1
    monkeypatch.setenv("BIOIMS_WORKERS", "3")
    assert aws.container_cpus() == 3


def test_a_failed_part_raises_its_error_locally(local_ctx, monkeypatch):
    monkeypatch.setenv("BIOIMS_WORKERS", "2")
    with pytest.raises(ValueError, match="holds 7"):
        local_ctx.runtime.map_parts(_fails_on_seven, list(range(10)))
    assert local_ctx.runtime.map_parts(_fails_on_seven, list(range(6))) == [[0, 1, 2], [3, 4, 5]]
    runner_module.shutdown_process_pool()
