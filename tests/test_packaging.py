"""Project plumbing: layout, pinned torch, environment.yml in step with pyproject, clean paired notebooks."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from blurkit.experiments.notebooks import find_notebook, list_notebooks, run_notebook

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_top_level_layout() -> None:
    for d in ("notebooks", "blurkit", "data_manifests", "results", "tests"):
        assert (ROOT / d).is_dir(), d
    for f in ("environment.yml", "pyproject.toml", "README.md", "Makefile", ".ci/run", "constraints.txt"):
        assert (ROOT / f).is_file(), f


def test_torch_a_range_in_the_package_pinned_in_constraints_and_torchvision_only_for_lpips() -> None:
    cons = (ROOT / "constraints.txt").read_text()
    assert re.search(r"^torch==2\.13\.0$", cons, re.M)
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    torch_req = next(r for r in py["dependencies"] if _name(r) == "torch").replace(" ", "")
    assert re.fullmatch(r"torch>=2\.\d+,<3", torch_req), "a range up to the next major, not a pin"
    extras = py["optional-dependencies"]
    assert {_name(r) for r in extras["lpips"]} == {"lpips", "torchvision"}
    assert {_name(r) for r in extras["lab"]} == {"jupyterlab"}
    others = [r for k, v in extras.items() if k != "lpips" for r in v] + py["dependencies"]
    assert not any("torchvision" in r for r in others)
    assert "torchvision" not in cons + (ROOT / "environment.yml").read_text()
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_environment_yml_in_step_with_pyproject() -> None:
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = {_name(r): r.replace(" ", "") for r in py["dependencies"] + py["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    env_reqs = {_name(r): r.replace(" ", "") for r in pip if not r.startswith("-e")}
    assert "python=3.11" in conda and "pytorch=2.13.0" in conda
    assert reqs.pop("torch").startswith("torch>=2.")  # the package takes a range; conda gets the pinned build
    assert env_reqs == reqs  # same packages, same version bounds


def test_every_constraint_pins_a_declared_or_transitive_package() -> None:
    pins = [ln for ln in (ROOT / "constraints.txt").read_text().splitlines() if ln and not ln.startswith("#")]
    assert all("==" in p for p in pins)
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in py["dependencies"] + py["optional-dependencies"]["dev"]}
    assert declared <= {_name(p) for p in pins}


NOTEBOOKS = list_notebooks()


def test_notebooks_exist() -> None:
    assert any(p.stem == "00_data" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_thin_paired_and_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    py = path.with_suffix(".py")
    assert py.is_file(), f"{path.name} has no paired py:percent file"
    paired = jupytext.read(py)
    assert [c.source for c in nb.cells] == [c.source for c in paired.cells], "ipynb and .py differ: run make notebooks"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and 'profile = "smoke"' in params[0].source
    assert "seed" in params[0].source and "results_dir" in params[0].source
    checked = [c for c in nb.cells if "nbval-check-output" in c.metadata.get("tags", [])]
    assert len(checked) == 1 and checked[0].outputs, "one summary cell with stored output for nbval"
    for c in nb.cells:
        if c.cell_type == "code":
            assert c in checked or (not c.outputs and c.execution_count is None), "only the summary cell keeps outputs"
        assert set(c.metadata) <= {"tags"}
    assert set(nb.metadata) <= {"jupytext", "kernelspec"}
    assert sum(len(c.source.splitlines()) for c in nb.cells if c.cell_type == "code") < 80, "notebooks stay thin"


def test_run_notebook_injects_parameters(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "smoke"\nseed = 0\nresults_dir = "x"')
    params.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell(
        "from pathlib import Path\nPath(results_dir, 'seen.txt').write_text(f'{profile} {seed}')")
    nb.cells = [params, body]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src = tmp_path / "nbs" / "07_demo.ipynb"
    src.parent.mkdir()
    nbformat.write(nb, src)
    assert find_notebook("07", src.parent) == src and find_notebook("demo", src.parent) == src
    out, secs = run_notebook(src, "cpu", tmp_path / "res", seed=5, progress=False)
    assert (tmp_path / "res" / "seen.txt").read_text() == "cpu 5"
    assert out == tmp_path / "res" / "notebooks" / "07_demo.ipynb" and out.exists() and secs > 0
