"""The generated pages: the README status table, docs/results.md and the preset table are never stale, and the
generator reads its numbers from the result CSVs (a changed CSV changes the page)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from blurkit.cli import app
from blurkit.experiments import report
from blurkit.paths import REPO_DIR
from blurkit.space.netconfig import NET_PRESETS


def test_generated_pages_are_up_to_date() -> None:
    stale = [str(p.relative_to(REPO_DIR)) for p in report.stale_pages()]
    assert not stale, f"stale generated pages {stale}: run `blurkit report`"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the repository's README, docs and a small results tree."""
    shutil.copy(REPO_DIR / "README.md", tmp_path / "README.md")
    shutil.copytree(REPO_DIR / "docs", tmp_path / "docs")
    res = tmp_path / "results" / "cpu"
    res.mkdir(parents=True)
    pd.DataFrame({"entry": ["a", "b"], "paper": [30.0, 32.0], "ours": [27.0, 29.0],
                  "verdict": ["holds", "inconclusive"]}).to_csv(res / "02_table2_blur_swapped_training.csv",
                                                                  index=False)
    pd.DataFrame({"method": ["blurry", "ours"], "psnr": [20.0, 23.5], "images": [16, 16]}).to_csv(
        res / "04_fig3_summary.csv", index=False)
    return tmp_path


def test_status_rows_read_the_csvs(repo: Path) -> None:
    table = report.status_table(repo)
    row2 = next(line for line in table.splitlines() if line.startswith("| Table 2 |"))
    assert "31.00 dB (mean of 2)" in row2 and "28.00 dB (mean of 2) (`cpu`)" in row2
    assert "holds 1, inconclusive 1" in row2
    fig3 = next(line for line in table.splitlines() if line.startswith("| Fig. 3 |"))
    assert "ours 23.50 dB, blurry 20.00 dB (n=16)" in fig3
    assert "| Table 1 |" in table and "not built yet" in table.split("| Table 1 |")[1].split("\n")[0]


def test_a_changed_result_makes_the_pages_stale_and_write_fixes_them(repo: Path) -> None:
    report.write_report(repo)
    assert report.stale_pages(repo) == []
    csv = repo / "results" / "cpu" / "04_fig3_summary.csv"
    pd.DataFrame({"method": ["blurry", "ours"], "psnr": [20.0, 25.0], "images": [16, 16]}).to_csv(csv, index=False)
    stale = report.stale_pages(repo)
    assert repo / "README.md" in stale and repo / "docs" / "results.md" in stale
    assert report.write_report(repo) == stale
    assert "ours 25.00 dB" in (repo / "README.md").read_text()
    assert "04_fig3_summary" in (repo / "docs" / "results.md").read_text()


def test_missing_block_is_one_clear_error(repo: Path) -> None:
    (repo / "README.md").write_text("# no generated block\n")
    with pytest.raises(ValueError, match="README.md has no generated block"):
        report.pages(repo)


def test_net_presets_table_lists_every_preset_and_the_shipped_models() -> None:
    table = report.net_presets_table().set_index("preset")
    assert list(table.index) == list(NET_PRESETS)
    assert "reds-like-basis" in table.loc["cpu-fine-dynamic", "shipped as"].split(", ")
    assert "reds-like" in table.loc["cpu-fine-lsq", "shipped as"].split(", ")
    assert table.loc["paper", "parameters"] > 40_000_000 > table.loc["cpu", "parameters"]


def test_cli_profiles_nets_and_report_check() -> None:
    out = CliRunner().invoke(app, ["profiles", "--nets"])
    assert out.exit_code == 0 and "cpu-fine-dynamic" in out.output
    out = CliRunner().invoke(app, ["report", "--check"])
    assert out.exit_code == 0, out.output
