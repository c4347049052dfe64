"""write_report(): real PNG figures, a Markdown report that shows them, metrics.json."""

from __future__ import annotations

import json

from bioims.evaluation import compound_table, evaluate, write_report

from .synthetic import synthetic_images

PNG = b"\x89PNG\r\n\x1a\n"


def test_report_folder(tmp_path):
    images = synthetic_images(0, sites=2, noise=1.2)
    metrics = evaluate(images, n_boot=100, k=5)
    paths = write_report(metrics, images, tmp_path / "report")
    for name in ("confusion_nsc", "confusion_nscb", "tsne", "compounds"):
        data = paths[name].read_bytes()
        assert data.startswith(PNG) and len(data) > 5000, name
    report = paths["report"].read_text()
    for name in ("confusion_nsc.png", "confusion_nscb.png", "tsne.png", "compounds.png"):
        assert f"({name})" in report
    assert f"{metrics['nsc']['correct']}/{metrics['nsc']['total']}" in report
    assert json.loads(paths["metrics"].read_text())["nsc"] == metrics["nsc"]
    table = compound_table(metrics)
    assert set(table["compound"]) == {f"c{i}" for i in range(1, 11)}
    nsc_counts = table["NSC"].str.split("/", expand=True).astype(int)
    assert nsc_counts[0].sum() == metrics["nsc"]["correct"]
    assert nsc_counts[1].sum() == metrics["nsc"]["total"]
    assert table["vote predicted"].notna().all()
    # re-running over the same folder rewrites it without leftovers
    again = write_report(metrics, images, tmp_path / "report")
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == sorted(p.name for p in again.values())
