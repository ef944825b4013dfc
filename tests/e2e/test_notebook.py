"""examples/tutorial.ipynb runs top to bottom in a real Jupyter kernel (this venv's python, via nbclient)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def kernel_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernelspec of our own for this venv's python, found through JUPYTER_PATH: no user Jupyter setup needed."""
    folder = tmp_path / "jupyter" / "kernels" / "trainwise-test"
    folder.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"], "language": "python"}
    (folder / "kernel.json").write_text(json.dumps({**spec, "display_name": "trainwise test"}), encoding="utf-8")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # Jupyter's own inline backend, as a user gets it
    return "trainwise-test"


def outputs(cell: nbformat.NotebookNode) -> list[dict[str, object]]:
    return [dict(output) for output in cell.get("outputs", [])]


@pytest.mark.slow  # a kernel start plus two short runs: ~30 s alone, minutes on a busy machine
def test_the_tutorial_notebook_runs_and_shows_bar_plot_and_table(tmp_path: Path, kernel_name: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(EXAMPLES / "digits.toml", work)
    notebook = nbformat.read(EXAMPLES / "tutorial.ipynb", as_version=4)
    NotebookClient(
        notebook, kernel_name=kernel_name, timeout=300, iopub_timeout=120, resources={"metadata": {"path": str(work)}}
    ).execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert not [o for cell in code for o in outputs(cell) if o["output_type"] == "error"]

    fit_outputs = outputs(code[0])
    kinds = {kind for o in fit_outputs for kind in dict(o.get("data", {}))}  # type: ignore[call-overload]
    assert "application/vnd.jupyter.widget-view+json" in kinds  # rich's live bar, as a widget
    assert any("epoch 5/5" in str(o.get("data", o.get("text", ""))) for o in fit_outputs)
    assert "'BarProgress'" in str(outputs(code[1])[0]["data"])
    assert "image/png" in dict(outputs(code[2])[0]["data"])  # type: ignore[call-overload]
    table = str(dict(outputs(code[3])[0]["data"])["text/html"])  # type: ignore[call-overload]
    assert "val_accuracy" in table and table.count("<tr>") == 1 + 5  # header + one row per epoch
    assert "EMA" in str(outputs(code[4])[0].get("text"))
    assert len(list((work / "runs").iterdir())) == 2
