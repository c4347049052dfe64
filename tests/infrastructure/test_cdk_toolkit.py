"""The real CDK toolkit (the `aws-cdk` version package.json pins, installed by .ci/run) runs the
app as a user does: `cdk synth` with and without an account and region, with the `-c` values the
README documents, then `cdk ls` and an offline `cdk diff --template`.

The toolkit always hands the app a region (and an account when one is known), so these runs see
what `python app.py` without CDK_* variables never saw: concrete ARNs in cdk-nag's findings and
context lookups that need AWS calls. No credentials exist here: a synthesis that wanted AWS calls
fails. Each test runs one synthesis (20-60 s on two loaded cores), so xdist never repeats one.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.support.tools import CDK, REPO_ROOT, require_tool

ACCOUNT = "123456789012"
REGION = "eu-west-1"
TIMEOUT = 600  # only catches a hang; synthesis takes 20-60 s


def readme_context() -> list[str]:
    """The `-c key=value` arguments of the README's `cdk deploy` example with the most of them."""
    text = (REPO_ROOT / "README.md").read_text().replace("\\\n", " ")  # join continued lines
    commands = re.findall(r"^cdk deploy[^\n]*", text, flags=re.M)
    best: list[str] = []
    for command in commands:
        words = shlex.split(command, comments=True)
        pairs = [words[i + 1] for i, word in enumerate(words[:-1]) if word == "-c"]
        if len(pairs) > len(best):
            best = pairs
    assert best, "the README documents no `cdk deploy -c key=value` example"
    return best


def toolkit_env(**extra: str) -> dict[str, str]:
    """The caller's environment without AWS or CDK settings (no credentials, no region), with the
    venv's python first on PATH (cdk.json runs `python3 app.py`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    env["AWS_EC2_METADATA_DISABLED"] = "true"  # no instance-metadata credential probing offline
    env.update(extra)
    return env


def cdk(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [require_tool("cdk", CDK, override_env="BIOIMS_CDK"), *args, "--no-notices"]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)


def stacks_of(outdir: Path) -> dict[str, str]:
    """Stack name -> environment ("aws://account/region") of a cloud assembly."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    return {n: a["environment"] for n, a in manifest["artifacts"].items() if a["type"] == "aws:cloudformation:stack"}


def test_toolkit_version_is_the_one_package_json_pins():
    pinned = json.loads((REPO_ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), "pin one exact version"
    run = cdk("--version", env=toolkit_env())
    assert run.returncode == 0, run.stderr
    assert run.stdout.split()[0] == pinned


def test_synth_ls_and_offline_diff_without_account_or_region(tmp_path):
    out = tmp_path / "cdk.out"
    env = toolkit_env()
    run = cdk("synth", "-q", "-o", str(out), env=env)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    stacks = stacks_of(out)
    assert {"bioims-Network", "bioims-Storage", "bioims-Queues", "bioims-Batch", "bioims-Training"} <= set(stacks)
    # No account is known: the toolkit says so, and the app stays account-agnostic.
    assert all(e.startswith("aws://unknown-account/") for e in stacks.values()), stacks

    listed = cdk("ls", "--app", str(out), env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == list(stacks)  # dependency order, as the manifest has it

    # Offline diff: against a template file instead of the deployed stack (which needs credentials).
    queues = out / "bioims-Queues.template.json"
    same = cdk("diff", "--app", str(out), "--template", str(queues), "--fail", "bioims-Queues", env=env)
    assert same.returncode == 0, (same.stdout + same.stderr)[-3000:]
    assert "Number of stacks with differences: 0" in same.stdout + same.stderr
    older = json.loads(queues.read_text())
    removed = next(i for i, r in older["Resources"].items() if r["Type"] == "AWS::SQS::Queue")
    del older["Resources"][removed]
    (tmp_path / "older.json").write_text(json.dumps(older))
    changed = cdk(
        "diff", "--app", str(out), "--template", str(tmp_path / "older.json"), "--fail", "bioims-Queues", env=env
    )
    assert changed.returncode == 1, (changed.stdout + changed.stderr)[-3000:]
    assert "[+] AWS::SQS::Queue" in changed.stdout + changed.stderr
    assert removed in changed.stdout + changed.stderr


def test_synth_with_account_region_and_the_readme_context(tmp_path):
    out = tmp_path / "cdk.out"
    context = readme_context()
    arguments = [word for pair in context for word in ("-c", pair)]
    env = toolkit_env(CDK_DEFAULT_ACCOUNT=ACCOUNT, CDK_DEFAULT_REGION=REGION, AWS_REGION=REGION)
    run = cdk("synth", "--all", "-q", "-o", str(out), *arguments, env=env)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]

    deployment = dict(pair.split("=", 1) for pair in context).get("deployment", "bioims")
    stacks = stacks_of(out)
    assert stacks and all(name.startswith(f"{deployment}-") for name in stacks), stacks
    assert set(stacks.values()) == {f"aws://{ACCOUNT}/{REGION}"}
    # The ARNs are concrete now; the training role's log-stream wildcard is still acknowledged
    # (synthesis above would have failed on the cdk-nag finding otherwise) and is really there.
    training = (out / f"{deployment}-Training.template.json").read_text()
    assert f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/TrainingJobs:log-stream:*" in training
    # The VPC's zones are chosen at deploy time: no context lookup (AWS calls) at synthesis.
    network = json.loads((out / f"{deployment}-Network.template.json").read_text())
    assert "Fn::GetAZs" in json.dumps(network)
    assert (
        not (REPO_ROOT / "cdk.context.json").exists()
        or "availability-zones" not in (REPO_ROOT / "cdk.context.json").read_text()
    )
