"""Regenerate notebooks/*.ipynb from their paired py:percent files and refresh the checked outputs.

The .py file is the source of truth. Each notebook is executed at the ``smoke`` profile (results go to a
temporary folder); only the outputs of cells tagged ``nbval-check-output`` are kept (nbval compares them in CI),
everything volatile (execution counts, timings, other outputs) is stripped.

    python scripts/sync_notebooks.py [NAME ...]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
CHECK_TAG = "nbval-check-output"


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip everything volatile, keeping outputs of checked cells."""
    nb.metadata = {k: v for k, v in nb.metadata.items() if k in ("jupytext", "kernelspec")}
    for i, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        cell.metadata = {"tags": tags} if tags else {}
        cell.id = f"cell-{i:02d}"  # stable ids: no diff noise between syncs
        if cell.cell_type == "code":
            cell.execution_count = None
            if CHECK_TAG in tags:
                cell.execution_count = 1  # nbval refuses stored outputs of a cell that looks unrun
                for out in cell.outputs:
                    out.pop("execution_count", None)
                    out.metadata = {}
            else:
                cell.outputs = []
    return nb


def sync(py: Path) -> Path:
    nb = jupytext.read(py)
    with tempfile.TemporaryDirectory() as tmp:
        for cell in nb.cells:  # run against a throw-away results folder
            if "parameters" in cell.metadata.get("tags", []):
                cell.source += f"\nresults_dir = {str(tmp)!r}"
        NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(py.parent)}}).execute()
        for cell in nb.cells:
            if "parameters" in cell.metadata.get("tags", []):
                cell.source = cell.source.rsplit("\nresults_dir = ", 1)[0]
    out = py.with_suffix(".ipynb")
    nb.nbformat_minor = 5
    nbformat.write(clean(nb), out)
    return out


if __name__ == "__main__":
    names = sys.argv[1:]
    for py in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        if not names or py.stem in names or py.stem[:2] in names:
            print("synced", sync(py))
