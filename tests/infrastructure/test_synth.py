"""The app synthesises every stack offline, deterministically, and `python app.py` does it in one run
(its duration is measured by benchmarks/synth.py, not here)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from aws_cdk import aws_ssm as ssm

from bioims import resources
from stacks.app_builder import create_app
from stacks.images import REPO_ROOT
from stacks.search_service import SEARCH_DOCKERFILE

ALWAYS = ("Network", "Storage", "Queues", "Batch", "Training")


def test_every_stack_is_synthesised_with_the_deployment_prefix(assembly):
    names = set(assembly.templates)
    assert {f"bioims-{part}" for part in ALWAYS} <= names
    assert all(name.startswith("bioims-") for name in names)
    has_service = (REPO_ROOT / SEARCH_DOCKERFILE).is_file()
    assert ("bioims-SearchService" in names) == has_service


def test_complete_layout_adds_the_parts_waiting_for_their_dockerfiles(full_assembly):
    assert "bioims-SearchService" in full_assembly.templates
    jobs = full_assembly.resources("AWS::Batch::JobDefinition")
    assert len(jobs) == 3
    assert full_assembly.resources("AWS::ECS::Service")


def test_deployment_context_renames_stacks_and_parameters():
    app, deployment = create_app(context={"deployment": "screen7"}, env={})
    assert {s.stack_name for s in deployment.stacks} >= {f"screen7-{part}" for part in ALWAYS}
    names = {c.node.default_child.name for c in app.node.find_all() if isinstance(c, ssm.StringParameter)}
    assert resources.ssm_parameter_name("screen7", resources.DATA_BUCKET) in names
    assert names and all(name.startswith("/screen7/") for name in names)


def test_python_app_py_synthesises_offline_in_one_run_and_deterministically(assembly, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env.update({"CDK_OUTDIR": str(tmp_path), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"})
    # How long it takes is measured by benchmarks/synth.py; the timeout only catches a hang.
    run = subprocess.run(
        [sys.executable, "app.py"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    stacks = [a for a, v in manifest["artifacts"].items() if v["type"] == "aws:cloudformation:stack"]
    assert set(stacks) == set(assembly.templates)
    # A second synthesis, in another process, gives the same templates (no random ids, no
    # dependence on the account, the clock or dict order). Asset hashes are masked: they are
    # content hashes of the source tree, which may change between the two runs while it is edited.
    for name, template in assembly.templates.items():
        again = json.loads((tmp_path / f"{name}.template.json").read_text())
        assert _mask_hashes(again) == _mask_hashes(template), name


def _mask_hashes(template: dict) -> str:
    return re.sub(r"[0-9a-f]{64}", "<asset-hash>", json.dumps(template, sort_keys=True))


def test_bad_context_is_a_clear_error_and_writes_nothing(tmp_path):
    env = dict(os.environ, CDK_OUTDIR=str(tmp_path / "out"), CDK_CONTEXT_JSON=json.dumps({"natGateways": "0"}))
    run = subprocess.run(
        [sys.executable, "app.py"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2
    assert "natGateways" in run.stderr
    assert not list((tmp_path / "out").glob("*.template.json"))
