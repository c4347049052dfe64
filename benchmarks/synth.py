"""How long does `python app.py` take to synthesise every stack offline, and are the templates clean?

The issue's bar is one offline run under a minute on this machine. Each run is a fresh process
(what a user or `cdk synth` pays: Python and jsii start-up included) writing a new cloud assembly;
then the templates of the last run go through cfn-lint (errors and warnings by rule) and the
validation report (cdk-nag AwsSolutions + CloudFormation rules) is counted.

Run: python benchmarks/synth.py [--runs 3] [--context '{"deployment": "screen1"}']
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def synthesise(outdir: Path, context: dict | None) -> float:
    """Seconds for one `python app.py` into `outdir`; raises with stderr when it fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env.update({"CDK_OUTDIR": str(outdir), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"})
    if context:
        env["CDK_CONTEXT_JSON"] = json.dumps(context)
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "app.py"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise RuntimeError(f"python app.py failed ({run.returncode}):\n{run.stderr[-3000:]}")
    return seconds


def lint(outdir: Path) -> collections.Counter:
    """cfn-lint findings of every template in `outdir`, counted by rule id."""
    from cfnlint.api import lint as cfn_lint

    found: collections.Counter = collections.Counter()
    for path in sorted(outdir.glob("*.template.json")):
        for match in cfn_lint(path.read_text(), regions=["us-east-1", "eu-west-1"]):
            found[match.rule.id] += 1
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--context", type=json.loads, default=None, help="CDK context as JSON")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    with tempfile.TemporaryDirectory() as tmp:
        times = []
        for run in range(args.runs):
            outdir = Path(tmp) / f"run{run}"
            times.append(synthesise(outdir, args.context))
            print(f"run {run + 1}: python app.py {times[-1]:.1f} s")
        templates = sorted(outdir.glob("*.template.json"))
        resources = sum(len(json.loads(p.read_text()).get("Resources", {})) for p in templates)
        report = json.loads((outdir / "validation-report.json").read_text())
        violations = sum(len(p.get("violations", [])) for p in report.get("pluginReports", []))
        findings = lint(outdir)
    errors = sum(n for rule, n in findings.items() if rule.startswith("E"))
    print(
        f"synthesis: median {statistics.median(times):.1f} s, min {min(times):.1f} s, max {max(times):.1f} s "
        f"over {args.runs} runs (bar: 60 s)"
    )
    print(f"templates: {len(templates)} stacks, {resources} resources")
    print(f"cdk-nag + CloudFormation rules: {violations} unacknowledged findings")
    print(f"cfn-lint: {errors} errors; by rule: {dict(sorted(findings.items())) or 'none'}")


if __name__ == "__main__":
    main()
