"""The example notebooks run end to end (nbclient) and report the metrics they promise."""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "examples" / "data_scientist_workflow.ipynb"
KERNEL = "fedlab-test-python"


def _kernel_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernelspec that starts this interpreter (the venv's python, whatever PATH says)."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "fedlab tests",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return KERNEL


def _texts(nb: Any) -> list[str]:
    """Every code cell's output as text (stream text, text/plain and text/html)."""
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        parts = []
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                parts.append(o.get("text", ""))
            data = o.get("data", {})
            parts += [data.get("text/plain", ""), data.get("text/html", "")]
        out.append("".join(p if isinstance(p, str) else "".join(p) for p in parts))
    return out


MODELS = ("hetero LR", "SecureBoost", "scorecard")


def _check_outputs(nb: Any) -> None:
    text = "\n".join(_texts(nb))
    assert "refused:" in text and "'epochs'=100000 is out of bounds" in text
    assert re.search(r"social_insurance: \[.*\] missing", text)
    assert "worker ran experiments [1, 2, 3]" in text
    assert "succeeded succeeded succeeded" in text
    # the HTML progress bars wait() left: epochs of the LRs (the scorecard's: lr.epochs),
    # trees of SecureBoost
    assert re.search(r"<b>hetero LR</b> \[succeeded\] [1-8]/8 epochs · loss 0\.\d+", text)
    assert re.search(r"<b>SecureBoost</b> \[succeeded\] [1-5]/5 trees · loss 0\.\d+", text)
    assert re.search(r"<b>scorecard</b> \[succeeded\] [1-8]/8 epochs · loss 0\.\d+", text)
    aucs = {
        name: (float(a), float(k))
        for name, a, k in re.findall(
            r"^(hetero LR|SecureBoost|scorecard)\s+AUC ([0-9.]+)\s+KS ([0-9.]+)$", text, re.M
        )
    }
    assert set(aucs) == set(MODELS), text
    assert all(0.6 < a <= 1.0 and 0.1 < k <= 1.0 for a, k in aucs.values()), aucs
    # The comparison table shows the same AUCs the models report
    for a, _ in aucs.values():
        assert f"{a:.3f}" in text
    roc_counts = {
        name: int(n)
        for name, n in re.findall(
            r"^(hetero LR|SecureBoost|scorecard): (\d+) ROC points stored", text, re.M
        )
    }
    assert set(roc_counts) == set(MODELS)
    assert roc_counts["scorecard"] >= 3  # a real scorecard run files its ROC points
    images = sum(
        "image/png" in o.get("data", {})
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )
    assert images >= 1  # the ROC figure
    _check_scorecard(next(t for t in _texts(nb) if "your columns in the scorecard" in t))
    assert re.search(r"^published bank_a/(hetero LR|SecureBoost|scorecard) v1 ", text, re.M)
    assert re.search(r"audit chain OK: \d+ events", text)


def _check_scorecard(text: str) -> None:
    """The scorecard cell: score AUC, grade table and the bank's own points table."""
    m = re.search(r"^score AUC ([0-9.]+)\s+KS ([0-9.]+)\s+scores (\d+)-(\d+)$", text, re.M)
    assert m, text
    assert 0.6 < float(m[1]) <= 1.0 and 400 <= int(m[3]) <= int(m[4]) <= 700
    grades = re.findall(r"^([A-F])\s+\d+-\d+\s+(\d+|<k)\s", text, re.M)
    assert [g for g, _ in grades] == list("ABCDEF")
    columns = re.search(r"^base points [0-9.]+; your columns in the scorecard: (.+)$", text, re.M)
    assert columns, text
    own = {
        "acct_avg_monthly_inflow",
        "acct_avg_balance",
        "loan_overdue_count_24m",
        "credit_line_utilization",
    }  # bank_a's columns among the notebook's FEATURES
    shown = set(columns[1].split(", "))
    assert shown and shown <= own, shown
    # the points table lists bins of those columns only (no agency's column)
    assert re.search(r"\d+\s+(" + "|".join(sorted(shown)) + r")\s+1 \[-inf, ", text)
    for agency_column in ("taxes_paid_12m", "insured_employees", "lawsuits_defendant_24m"):
        assert not re.search(rf"^\d+\s+{agency_column}\s", text, re.M)


@pytest.mark.slow
def test_data_scientist_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []  # run from scratch, not from the committed outputs
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name=_kernel_here(tmp_path, monkeypatch),
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    _check_outputs(nb)
    assert (tmp_path / "runs" / "data_scientist_workflow" / "catalog.db").is_file()
    assert str(tmp_path) not in json.dumps(nb.cells)  # outputs name relative paths only


def test_committed_notebook_is_executed_and_machine_neutral() -> None:
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code), "commit it executed"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    _check_outputs(nb)
    raw = NOTEBOOK.read_text(encoding="utf-8")
    for local in (str(REPO), str(Path.home()), tempfile.gettempdir() + "/"):
        assert local not in raw, f"the committed notebook mentions {local!r}"
