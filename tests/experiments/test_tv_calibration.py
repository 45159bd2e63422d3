"""The tv_code row's settings on held-out pairs (blurkit.experiments.tv_calibration): the rule's choice on
constructed measurements, the summary's arithmetic, and a resumable run on a tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from blurkit.deblur.guard import GuardConfig
from blurkit.deblur.tv_kernel import TVKernelConfig
from blurkit.experiments import tv_calibration
from blurkit.experiments.tv_calibration import choose_tv_rule, rule_gains, run_tv_calibration, tv_calibration_summary
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.netconfig import net_preset

pytestmark = pytest.mark.usefixtures("one_thread")


def _meas(gains: list[float], blobs: list[int], fit_gain: float = 10.0) -> pd.DataFrame:
    """Measurements the default guard trusts (fit gain 10 dB, gradient ratio 2, blur PSNR 30 dB)."""
    n = len(gains)
    return pd.DataFrame({"pair": range(n), "gain_db": gains, "blobs": blobs, "blur_psnr": [30.0] * n,
                         "fit_psnr": [30.0 + fit_gain] * n, "grad_ratio": [2.0] * n, "seconds": [1.0] * n})


def test_the_rule_keeps_the_blob_count_that_gains() -> None:
    one_blob_wins = _meas([2.0, 1.0, -3.0, -2.0, 0.5], [1, 1, 3, 2, 1])
    limit, cfg = choose_tv_rule(one_blob_wins)
    gains, keep = rule_gains(one_blob_wins, limit, cfg)
    assert limit == 1 and keep.tolist() == [True, True, False, False, True]
    assert gains.tolist() == [2.0, 1.0, 0.0, 0.0, 0.5]
    all_win = _meas([2.0, 1.0, 3.0, 2.0, 0.5], [1, 1, 3, 2, 1])
    assert choose_tv_rule(all_win)[0] == 3  # the 3-blob pair gains too: the smallest limit that keeps it
    with pytest.raises(ValueError, match="at least one"):
        choose_tv_rule(all_win.iloc[:0])


def test_the_guard_can_reject_what_the_blob_count_keeps() -> None:
    meas = _meas([2.0, -3.0], [1, 1])
    meas.loc[1, "fit_psnr"] = 31.0  # a poor fit: 1 dB
    gains, keep = rule_gains(meas, 1, GuardConfig())
    assert keep.tolist() == [True, False] and gains.tolist() == [2.0, 0.0]


def test_the_summary_scores_each_rule_and_the_difference_to_the_row_setting() -> None:
    rows = []
    for spread, shift in ((0.0, 0.0), (0.5, 1.0)):
        for part in ("calibration", "validation"):
            m = _meas([2.0 + shift, -1.0 + shift, 0.5 + shift, 1.0 + shift], [1, 2, 1, 3])
            rows.append(m.assign(model="m", data="d", part=part, spread=spread, size=23.0, lam=6e-4))
    table = tv_calibration_summary(pd.concat(rows), "m", "d", GuardConfig(), TVKernelConfig(size=23))
    assert len(table) == 2 * 2 * 3 and set(table["rule"]) == {"open", "row", "chosen"}
    open_half = table[(table["spread"] == 0.5) & (table["rule"] == "open") & (table["part"] == "validation")].iloc[0]
    assert open_half["gain_db"] == pytest.approx(np.mean([3.0, 0.0, 1.5, 2.0]))
    assert open_half["vs_row_setting_db"] == pytest.approx(1.0) and open_half["n"] == 4
    row_zero = table[(table["spread"] == 0.0) & (table["rule"] == "row") & (table["part"] == "calibration")].iloc[0]
    assert row_zero["kept"] == 2 and row_zero["gain_db"] == pytest.approx((2.0 + 0.5) / 4)
    assert np.isnan(row_zero["vs_row_setting_db"])


def test_a_run_measures_each_pair_once_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from imagegen import synthetic_pairs

    torch.manual_seed(0)
    model = KernelSpace(net_preset("smoke-kernel"))
    with torch.no_grad():
        model.F.dyn.to_kernel.weight.normal_(0.0, 1.0)
    path = str(model.save(tmp_path / "k.pt", provenance={"note": "untrained"}))
    folder = synthetic_pairs(tmp_path / "pairs", "gopro-like", 12, 32)  # the smoke estimator holds out 4
    out = tmp_path / "results"
    summary = run_tv_calibration(out, path, str(folder), [0.0, 0.5], profile="smoke", n=2, progress=False)
    pairs = pd.read_csv(out / "tv_calibration_pairs.csv")
    assert len(pairs) == 2 * 2 * 2 and not pairs.duplicated(["part", "spread", "pair"]).any()
    assert (out / "tv_calibration.meta.json").is_file() and len(summary) == 2 * 2 * 3

    real = tv_calibration.measure_pair

    def refuse(*args: object, **kwargs: object) -> dict:
        raise AssertionError("a measured pair was measured again")
    monkeypatch.setattr(tv_calibration, "measure_pair", refuse)
    again = run_tv_calibration(out, path, str(folder), [0.5], ["validation"], profile="smoke", n=2, progress=False)
    pd.testing.assert_frame_equal(again, summary)
    old = pairs.drop(columns=["size", "lam"])  # a file written before the side and weight were recorded
    old.to_csv(out / "tv_calibration_pairs.csv", index=False)
    pd.testing.assert_frame_equal(run_tv_calibration(out, path, str(folder), [0.5], ["validation"], profile="smoke",
                                                     n=2, progress=False), summary)
    monkeypatch.setattr(tv_calibration, "measure_pair", real)
    smaller = run_tv_calibration(out, path, str(folder), [0.0], ["calibration"], profile="smoke", n=2, size=9,
                                 progress=False)
    assert len(pd.read_csv(out / "tv_calibration_pairs.csv")) == 2 * 2 * 2 + 2
    nine = smaller[smaller["size"] == 9.0]
    assert set(smaller["size"]) == {9.0, 15.0} and len(nine) == 3 and nine["vs_row_setting_db"].notna().all()
    with pytest.raises(ValueError, match="parts must be"):
        run_tv_calibration(out, path, str(folder), [0.5], ["test"], profile="smoke", n=2, progress=False)
