"""Where the notebooks write: an injected folder, else $BLURKIT_RESULTS_DIR / $BLURKIT_WORK_DIR, else the repository's."""

from __future__ import annotations

from pathlib import Path

import jupytext
import pytest

from blurkit.errors import UnknownNameError
from blurkit.experiments.notebooks import RESULTS_ENV, WORK_ENV, list_notebooks, results_folder, work_folder
from blurkit.paths import REPO_DIR, RESULTS_DIR


def test_results_folder_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    assert results_folder("smoke") == RESULTS_DIR / "smoke"
    assert results_folder("cpu", None) == RESULTS_DIR / "cpu"
    with pytest.raises(UnknownNameError):
        results_folder("huge")
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "env"))
    assert results_folder("smoke") == tmp_path / "env"
    assert results_folder("smoke", tmp_path / "given") == tmp_path / "given"  # an injected folder wins


def test_work_folder_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WORK_ENV, raising=False)
    assert work_folder("smoke") == REPO_DIR / "runs" / "smoke" / "baselines"
    monkeypatch.setenv(WORK_ENV, str(tmp_path / "env"))
    assert work_folder("cpu") == tmp_path / "env"
    assert work_folder("cpu", str(tmp_path / "given")) == tmp_path / "given"


@pytest.mark.parametrize("path", list_notebooks(), ids=lambda p: p.stem)
def test_notebooks_take_their_folders_from_the_helpers(path: Path) -> None:
    """No notebook hard-codes where it writes: nbval runs them in place, and that must not touch results/."""
    cells = jupytext.read(path.with_suffix(".py")).cells
    params = next(c.source for c in cells if "parameters" in c.metadata.get("tags", []))
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    assert "\nresults_dir = None" in f"\n{params}"
    assert "results_dir = results_folder(prof.name, results_dir)" in code
    assert "../results" not in code.replace("../results/<profile>", "")
    if "work_dir" in params:
        assert "\nwork_dir = None" in f"\n{params}" and "work_dir = work_folder(prof.name, work_dir)" in code


def test_use_threads_sets_torch_for_the_process_and_refuses_nonsense() -> None:
    import torch

    from blurkit.experiments.notebooks import use_threads

    before = torch.get_num_threads()
    try:
        assert use_threads(1) == 1 == torch.get_num_threads()
        assert use_threads(None) == 1  # None leaves the count as it is
        assert use_threads(2) == 2 == torch.get_num_threads()
        with pytest.raises(ValueError, match="at least 1"):
            use_threads(0)
        assert torch.get_num_threads() == 2  # a refused count changes nothing
    finally:
        torch.set_num_threads(before)


def test_notebooks_with_a_threads_parameter_apply_it_to_every_step() -> None:
    """A notebook whose `threads` only reached its training calls ran its deblurring with torch's default threads
    when the trained baselines were reused (notebook 04, 2026-12-07: SelfDeblur moved by up to 0.8 dB an image)."""
    from blurkit.paths import NOTEBOOK_DIR

    for source in sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py")):
        text = source.read_text()
        if "\nthreads = " in text:
            assert "use_threads(threads)" in text and "set_num_threads" not in text, source.name
