"""What `blurkit reproduce all` (papermill) left in a results folder: run by `make test` on its temporary run.

`make test` runs the notebooks through papermill into a temporary folder and then this module with
``BLURKIT_REPRODUCED`` pointing at it; without the variable (a plain ``pytest tests``) it is skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from blurkit.experiments.notebooks import list_notebooks
from blurkit.paths import RESULTS_DIR

FOLDER = os.environ.get("BLURKIT_REPRODUCED")
pytestmark = pytest.mark.skipif(not FOLDER, reason="set BLURKIT_REPRODUCED to a `blurkit reproduce all` folder "
                                                   "(make test does)")
PROVENANCE = {"config", "seed", "git_commit", "versions", "device", "wall_time_s", "created", "command"}


def _results(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.suffix in (".csv", ".png")}


@pytest.mark.parametrize("path", list_notebooks(), ids=lambda p: p.stem)
def test_every_notebook_ran_with_the_injected_parameters(path: Path) -> None:
    folder = Path(FOLDER)  # type: ignore[arg-type]
    nb = nbformat.read(folder / "notebooks" / path.name, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1, "papermill injects one parameters cell"
    ns: dict = {}
    exec(injected[0].source, ns)  # plain assignments written by papermill
    assert ns["profile"] == "smoke" and ns["seed"] == 0 and Path(ns["results_dir"]) == folder.resolve()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert any(name.startswith(path.stem[:2] + "_") for name in _results(folder)), "the notebook wrote no result"


def test_every_result_has_its_provenance_and_matches_the_committed_set() -> None:
    folder = Path(FOLDER)  # type: ignore[arg-type]
    results = _results(folder)
    for name in sorted(results):
        meta = json.loads((folder / name).with_suffix(".meta.json").read_text())
        assert PROVENANCE <= set(meta), name
        profile = meta["config"].get("profile", meta["config"])
        assert (profile.get("name") if isinstance(profile, dict) else profile) == "smoke", name
    # results/smoke/ is what `make reproduce` made: the same files (regenerate it when a notebook's outputs change)
    assert results == _results(RESULTS_DIR / "smoke")
