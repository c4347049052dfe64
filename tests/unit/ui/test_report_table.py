"""The report page's per-compound table equals the evaluation report's (bioims.evaluation.report.
compound_table), and the UI imports no pandas/matplotlib (it must run in the search service's
image, which installs only numpy, FAISS, pydantic and boto3)."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

from bioims.evaluation.report import compound_table
from bioims.ui.views import _compounds


def _query(compound, moa, predicted):
    return {
        "query": f"{compound}@1",
        "compound": compound,
        "true_moa": moa,
        "predicted_moa": predicted,
        "correct": moa == predicted,
    }


METRICS = {
    "queries": {
        "nsc": [
            _query("taxol", "Microtubule stabilizers", "Microtubule stabilizers"),
            _query("taxol", "Microtubule stabilizers", "Eg5 inhibitors"),
            _query("AZ-C", "Eg5 inhibitors", "Eg5 inhibitors"),
            _query("emetine", "Protein synthesis", "DNA damage"),
            _query("emetine", "Protein synthesis", "Actin disruptors"),
        ],
        "nscb": [
            _query("taxol", "Microtubule stabilizers", "Eg5 inhibitors"),
            _query("AZ-C", "Eg5 inhibitors", "Eg5 inhibitors"),
        ],
    },
    "compound_vote": {
        "per_compound": [
            {"compound": "taxol", "true_moa": "Microtubule stabilizers", "predicted_moa": "Eg5 inhibitors"},
            {"compound": "mevinolin", "true_moa": "Cholesterol-lowering", "predicted_moa": "DMSO"},
        ]
    },
}


def test_per_compound_table_equals_the_reports():
    expected = compound_table(METRICS)
    cells = [html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", _compounds(METRICS))]
    headers = [html.unescape(h) for h in re.findall(r"<th>(.*?)</th>", _compounds(METRICS))]
    assert headers == list(expected.columns)
    assert cells == ["" if v != v else str(v) for row in expected.itertuples(index=False) for v in row]
    assert "No per-compound results" in _compounds({})


def test_the_ui_imports_only_what_the_search_image_has():
    code = (
        "import sys; import bioims.ui.server, bioims.ui.views, bioims.ui.data, search_service.main; "
        "bad = [m for m in ('pandas', 'matplotlib', 'torch', 'click', 'rich', 'PIL', 'scipy', 'skimage', "
        "'sklearn', 'tifffile') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    # from the checkout's root: search_service/ is a deployment folder there, not an installed package
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
