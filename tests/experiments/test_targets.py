"""The project's targets read against result CSVs: met and missed targets, intervals from the ladder's per-image
file, upper bounds, baselines, nothing measured, and the README's generated block."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blurkit.experiments import report
from blurkit.experiments.ladder_figure import LADDER_TARGETS
from blurkit.experiments.targets import (
    GUARDED_SETS,
    SECONDS_MAX,
    WORSE_FRAC_MAX,
    project_targets,
    target_markdown,
    target_table,
)

RED, GOPRO = "reds-like>reds-like", "reds-like>gopro-like"


def _per_image(set_name: str, method: str, gains: list[float]) -> list[dict]:
    rows = []
    for i, g in enumerate(gains):
        base = 20.0 + i
        rows += [{"set": set_name, "method": "blurry", "image": f"{i:05d}", "psnr": base},
                 {"set": set_name, "method": method, "image": f"{i:05d}", "psnr": base + g}]
    return rows


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """A results tree: `fast` gains 2.5 dB on reds-like (meets +2), 0.5 on gopro-like (misses +1); one set's
    `fast` leaves a fifth of its images worse and takes 40 s; SRN-Deblur's test gain misses its target."""
    folder = tmp_path / "cpu"
    folder.mkdir()
    per = _per_image(RED, "fast", [2.4, 2.6, 2.5, 2.5]) + _per_image(GOPRO, "fast", [0.4, 0.6, 0.5, 0.5])
    pd.DataFrame(per).drop_duplicates().to_csv(folder / "deblur_ladder_per_image.csv", index=False)
    pd.DataFrame([{"set": RED, "method": "fast", "worse_frac": 0.05, "sec_per_image": 12.0, "n": 4},
                  {"set": GOPRO, "method": "fast", "worse_frac": 0.2, "sec_per_image": 40.0, "n": 4}]).to_csv(
        folder / "deblur_ladder.csv", index=False)
    curves = [{"model": "srn", "data": "gopro-like", "diff_db": 2.0, "ci_low": 1.0, "ci_high": 3.0, "n": 44},
              {"model": "srn", "data": "reds-like", "diff_db": 0.6, "ci_low": 0.4, "ci_high": 0.9, "n": 44}]
    pd.DataFrame(curves).to_csv(folder / "baseline_learning_curves_test.csv", index=False)
    return tmp_path


def _row(table: pd.DataFrame, text: str) -> pd.Series:
    hit = table[table["target"] == text]
    assert len(hit) == 1, f"no single row {text!r} in {table['target'].tolist()}"
    return hit.iloc[0]


def test_every_issue_target_is_listed_once() -> None:
    targets = project_targets()
    assert len({t.what for t in targets}) == len(targets)
    gains = {(t.row, t.method): t.aim for t in targets if t.result == "deblur_ladder" and t.measure == "gain_db"}
    assert gains == LADDER_TARGETS
    assert {t.row for t in targets if t.measure == "worse_frac"} == set(GUARDED_SETS)
    assert all(t.at_most for t in targets if t.measure in ("worse_frac", "sec_per_image"))


def test_gains_are_read_with_their_interval_and_judged(results: Path) -> None:
    table = target_table(results)
    red = _row(table, f"`fast` gain over blurry, {RED}")
    assert red.ours == pytest.approx(2.5, abs=1e-9) and red.n == 4 and red.met
    assert red.ci_low <= red.ours <= red.ci_high and red.ci_low > 2.0  # the interval brackets the mean
    gopro = _row(table, f"`fast` gain over blurry, {GOPRO}")
    assert gopro.ours == pytest.approx(0.5, abs=1e-9) and not gopro.met


def test_upper_bounds_are_met_below_the_aim_only(results: Path) -> None:
    table = target_table(results)
    assert _row(table, f"`fast` share of images > 0.3 dB worse, {RED}").met
    worse = _row(table, f"`fast` share of images > 0.3 dB worse, {GOPRO}")
    assert worse.ours == pytest.approx(0.2) and worse.ours > WORSE_FRAC_MAX and not worse.met
    slow = _row(table, f"`fast` seconds per image, {GOPRO}")
    assert slow.ours > SECONDS_MAX and not slow.met


def test_baselines_and_what_is_not_measured(results: Path) -> None:
    table = target_table(results)
    srn = _row(table, "SRN-Deblur gain over blurry, reds-like test pairs")  # not the gopro-like run
    assert (srn.ours, srn.ci_low, srn.ci_high, srn.n, srn.met) == (0.6, 0.4, 0.9, 44, False)
    dgan = _row(table, "DeblurGAN-v2 gain over blurry, reds-like test pairs")
    assert np.isnan(dgan.ours) and dgan.met is None and dgan.n == 0
    uniform = _row(table, "`fast` gain over blurry, uniform-8>uniform-8")  # no such set in the per-image file
    assert np.isnan(uniform.ours) and uniform.met is None
    text = target_markdown(table)
    missing = "| 17 | DeblurGAN-v2 gain over blurry, reds-like test pairs | ≥ +1.0 dB | not measured | - | - |"
    assert missing in text
    assert "+0.60 [+0.40, +0.90] | 44 | **no** |" in text


def test_an_empty_results_folder_measures_nothing(tmp_path: Path) -> None:
    table = target_table(tmp_path)
    assert len(table) == len(project_targets()) and table["met"].isna().all()


def test_the_readme_block_follows_the_results(results: Path, tmp_path: Path) -> None:
    readme = (report.REPO_DIR / "README.md").read_text()
    assert report.TARGETS_BEGIN in readme and report.TARGETS_END in readme
    block = readme.split(report.TARGETS_BEGIN, 1)[1].split(report.TARGETS_END, 1)[0].strip()
    assert block == target_markdown(target_table(report.REPO_DIR / "results"))
    assert block != target_markdown(target_table(results))  # another results tree gives another block
