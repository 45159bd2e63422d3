"""Learning curves of the learned baselines and their test gain against the targets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from blurkit.baselines.baseline_config import get_baseline_config
from blurkit.baselines.baseline_train import train_baseline
from blurkit.cli.app import app
from blurkit.errors import BlurkitError
from blurkit.experiments.baseline_curves import CURVE_COLUMNS, learning_curve, save_baseline_curves, gain_over_blurry
from imagegen import synthetic_pairs

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("curves")
    data = synthetic_pairs(root, "gopro-like", 40, 48)
    cfg = dataclasses.replace(get_baseline_config("srn", "smoke"), steps=6, val_every=2, val_pairs=2, crop=32)
    train_baseline("srn", cfg, data, root / "srn", progress=False)
    return root / "srn"


def test_curve_has_a_point_per_validation(run: Path) -> None:
    curve = learning_curve(run)
    assert list(curve.columns) == CURVE_COLUMNS
    assert curve.step.tolist() == [2, 4, 6]
    assert curve.wall_s.is_monotonic_increasing and (curve.wall_s > 0).all()
    assert (curve.gain_db == curve.val_psnr - curve.blurry_psnr).all()


def test_a_folder_run_is_tested_on_the_pairs_it_held_out(run: Path) -> None:
    from blurkit.baselines.baseline_config import BaselineTrainConfig
    from blurkit.baselines.baseline_train import baseline_pairs
    from blurkit.data.pairs import pair_folder
    from blurkit.experiments.baseline_curves import _run_meta, run_test_pairs

    meta = _run_meta(run)
    cfg = BaselineTrainConfig(**meta["train_config"])
    train, _ = baseline_pairs(cfg, meta["data"])
    test = run_test_pairs(meta["data"], cfg)
    assert test == pair_folder(meta["data"])[-2:] and not set(test) & set(train)


def test_test_gain_interval_and_verdict() -> None:
    per = pd.DataFrame({"image": list("abcdef"), "psnr": [21.0, 22.1, 23.2, 20.9, 22.0, 24.1],
                        "blurry_psnr": [20.0, 21.0, 22.0, 20.0, 21.0, 23.0]})
    g = gain_over_blurry(per)
    assert g["diff_db"] == pytest.approx(1.05, abs=1e-3) and g["n"] == 6
    assert g["ci_low"] <= g["diff_db"] <= g["ci_high"] and g["verdict"] == "holds"


def test_save_and_cli(run: Path, tmp_path: Path) -> None:
    table = save_baseline_curves([run], tmp_path, targets={"srn": 99.0})
    assert table.loc[0, "reached"] is False or table.loc[0, "reached"] == False  # noqa: E712 (numpy bool)
    assert table.loc[0, "n"] == 2 and table.loc[0, "steps"] == 6  # the 5 % of the 40 pairs training held out
    assert pd.isna(table.loc[0, "ceiling_db"])  # a folder records no blur
    for f in ("baseline_learning_curves.csv", "baseline_learning_curves_test.csv", "baseline_learning_curves_plot.png"):
        assert (tmp_path / f).is_file()
    res = CliRunner().invoke(app, ["baseline", "curves", str(run), "--results-dir", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    assert "srn (srn)" in res.output and "target +1.5 dB" in res.output


def test_ceiling_where_the_blur_is_recorded(pip_photo_manifest: Path) -> None:
    from blurkit.data.datasets import resolve_pairs
    from blurkit.data.default_data import build_default
    from blurkit.experiments.baseline_curves import ceiling_gain

    build_default("smoke", domains=("uniform-8",), progress=False)
    pairs = resolve_pairs("uniform-8", "test", "smoke")[:2]
    assert ceiling_gain("uniform-8", "smoke", pairs) > 1.0  # the exact kernel deblurs
    assert ceiling_gain("uniform-8", "smoke", []) is None
    assert ceiling_gain("gopro", "smoke", pairs) is None  # a real dataset: no recorded blur
    assert ceiling_gain(pairs[0][0].parent.parent, "smoke", pairs) is None  # a folder


def test_unfinished_or_missing_run(tmp_path: Path) -> None:
    with pytest.raises(BlurkitError, match="no history.csv"):
        learning_curve(tmp_path)
    with pytest.raises(BlurkitError, match="no baseline run"):
        save_baseline_curves([tmp_path], tmp_path / "out")


@pytest.mark.parametrize("model", ["srn", "deblurganv2"])
@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_a_named_set_run_is_tested_at_its_profile(model: str, profile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `cpu` nets are `cpu-carry` and `cpu-l1`: their runs read the `cpu` test pairs, not a profile of that name."""
    import blurkit.experiments.baseline_report as report
    from blurkit.experiments.baseline_curves import run_profile, run_test_pairs

    cfg = get_baseline_config(model, profile)
    asked: list[tuple] = []
    monkeypatch.setattr(report, "_test", lambda data, prof, n: asked.append((data, prof, n)) or [])
    assert run_profile(cfg) == profile
    assert run_test_pairs("reds-like", cfg) == [] and asked == [("reds-like", profile, None)]
