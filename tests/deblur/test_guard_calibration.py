"""The guard's thresholds, chosen per kernel space on held-out pairs and read back by the fast preset."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from test_xstep_calibration import ConstantCode, _blocks
from toymodels import switch_blur_kernel_space

from blurkit.deblur.deblur_config import DEBLUR_PRESETS
from blurkit.deblur.guard import GuardConfig
from blurkit.deblur.guard_calibration import calibrated_guard, choose_guard, guard_measurements
from blurkit.deblur.linear_xstep import LinearXStep
from blurkit.deblur.solver import deblur

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def switch():  # type: ignore[no-untyped-def]
    return switch_blur_kernel_space()


def _meas(rows: list[tuple[float, float, float]]) -> pd.DataFrame:
    """(gain_db, fit gain over the blur PSNR, gradient ratio) per pair; the blur PSNR is 30 dB everywhere."""
    return pd.DataFrame([{"pair": i, "gain_db": g, "blur_psnr": 30.0, "fit_psnr": 30.0 + f, "grad_ratio": r}
                         for i, (g, f, r) in enumerate(rows)])


def test_chooses_the_thresholds_that_drop_the_harmful_estimates() -> None:
    # two good estimates, one harmful with a high gradient ratio, one harmful with a poor fit
    meas = _meas([(2.0, 6.0, 1.5), (1.0, 5.0, 1.8), (-3.0, 7.0, 5.0), (-1.0, 0.5, 1.2)])
    cfg, table = choose_guard(meas, fit_gains=(0.0, 1.0, math.inf), max_gains=(2.0, math.inf), max_worse=0.0)
    assert (cfg.min_fit_gain, cfg.max_gain) == (1.0, 2.0)
    best = table[table["chosen"]].iloc[0]
    assert best["gain_db"] == pytest.approx(3.0 / 4) and best["worse_frac"] == 0.0 and best["kept_frac"] == 0.5
    assert len(table) == 6 and table["chosen"].sum() == 1 and set(table["n"]) == {4}


def test_rejects_everything_when_no_threshold_tells_good_from_bad() -> None:
    # the harmful estimates look exactly like the good ones: only returning y keeps worse_frac at 0
    meas = _meas([(1.0, 5.0, 1.5), (-2.0, 5.0, 1.5), (0.5, 5.0, 1.5), (-1.0, 5.0, 1.5)])
    cfg, table = choose_guard(meas, fit_gains=(0.0, 3.0, math.inf), max_gains=(2.0, math.inf), max_worse=0.0)
    assert cfg.min_fit_gain == math.inf
    assert table[table["chosen"]].iloc[0]["kept_frac"] == 0.0
    with pytest.raises(ValueError, match="at least one"):
        choose_guard(meas.iloc[:0])


def test_ties_go_to_the_thresholds_nearest_the_defaults() -> None:
    meas = _meas([(1.0, 5.0, 1.5), (0.5, 6.0, 1.2)])  # every threshold up to 5 dB keeps both
    base = GuardConfig(min_fit_gain=3.0, max_gain=12.0)
    cfg, _ = choose_guard(meas, base, fit_gains=(0.0, 2.0, 5.0, 6.0), max_gains=(2.0, 4.0, math.inf), max_worse=0.0)
    assert (cfg.min_fit_gain, cfg.max_gain) == (2.0, 4.0)  # 2 dB is nearer the default 3 dB than 5 dB is
    cfg, _ = choose_guard(meas, GuardConfig(min_fit_gain=4.0, max_gain=3.0), fit_gains=(0.0, 2.0, 5.0),
                          max_gains=(2.0, 4.0), max_worse=0.0)
    assert (cfg.min_fit_gain, cfg.max_gain) == (5.0, 4.0)


def test_measurements_and_the_fast_preset_reading_the_stored_guard(switch) -> None:  # type: ignore[no-untyped-def]
    ks, _, box = switch
    x = _blocks(0)
    with torch.no_grad():
        y = ks.apply(x, box)
    meas = guard_measurements(ks, ConstantCode(box), [(x, y)], LinearXStep(outer=1, gamma=0.01, robust=True))
    assert list(meas.columns) == ["pair", "gain_db", "blur_psnr", "fit_psnr", "grad_ratio"] and len(meas) == 1
    assert meas["gain_db"].iloc[0] > 3.0 and meas["fit_psnr"].iloc[0] > meas["blur_psnr"].iloc[0]
    assert calibrated_guard(None) == GuardConfig() and calibrated_guard(ConstantCode(box)) == GuardConfig()
    shut = {"max_blur_psnr": 45.0, "min_fit_gain": math.inf, "max_gain": 12.0}
    assert calibrated_guard(ConstantCode(box, {"guard": shut})).min_fit_gain == math.inf
    # the same true code: kept by the default guard, returned as y by a stored guard that trusts nothing
    kept = deblur(ks, y, "fast", progress=False, estimator=ConstantCode(box))
    shut_out = deblur(ks, y, DEBLUR_PRESETS["fast"].replace(fallback="none"), progress=False,
                      estimator=ConstantCode(box, {"guard": shut}))  # the guard alone: y where it rejects
    ignored = deblur(ks, y, DEBLUR_PRESETS["fast"].replace(calibrated_gamma=False), progress=False,
                     estimator=ConstantCode(box, {"guard": shut}))
    assert not torch.equal(kept.x, y) and torch.equal(shut_out.x, y)
    assert torch.equal(ignored.x, kept.x)  # calibrated_gamma=False: the default guard
