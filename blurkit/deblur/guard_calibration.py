"""The guard's thresholds, chosen per kernel space on held-out training photos.

The defaults of :class:`blurkit.deblur.guard.GuardConfig` were set by hand. Whether a blind estimate can be trusted
depends on how well the kernel space and its code estimator describe the blur: with ``uniform-8`` every estimate
gains, with ``reds-like`` a fit gain of 3 dB says little (on its estimator's 24 most textured held-out training
pairs the blind x-step made 5 of 24 more than 0.3 dB worse, and the worst of them, -2.9 dB, had a high fit gain).
So, like the x-step's prior weight (:mod:`blurkit.deblur.xstep_calibration`, on the same pairs, with the same
gamma), the two thresholds ``min_fit_gain`` and ``max_gain`` are chosen per kernel space:

* on each held-out pair the blind ``fast`` x-step (code ``E(y)``) is run once and its gain over y and the guard's
  three measurements are recorded (:func:`guard_measurements`);
* every pair of thresholds on a small grid is scored by the mean gain *with the guard* (an image the guard rejects
  gains 0) and the share of pairs made more than 0.3 dB worse;
* the thresholds with the highest mean gain among those that make at most :data:`MAX_WORSE` of the pairs worse are
  kept. Where several do equally well the one nearest the hand-set defaults is kept: the held-out pairs only move
  a threshold as far as they give a reason to (taking the strictest of equals would put it at the edge of the
  measured pairs: 8 dB of fit gain for ``uniform-8``, where every estimate gains). Rejecting everything is always
  allowed, so a kernel space whose estimates cannot be told apart from bad ones gets a guard that returns y.

The choice is stored in the estimator's record (``guard``) and read by the ``fast`` preset
(:func:`calibrated_guard`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from blurkit.deblur.guard import GuardConfig, guard, guard_reason
from blurkit.deblur.linear_xstep import LinearXStep, linear_xstep
from blurkit.deblur.xstep_calibration import WORSE_DB, calibrated_xstep, held_out_pairs
from blurkit.progress import progress_bar
from blurkit.space.code_estimator import CodeEstimator, estimator_path
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import psnr

MAX_WORSE = 0.1  # the largest share of held-out pairs the guarded x-step may make worse (issue 15's bound)
FIT_GAINS: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, math.inf)
MAX_GAINS: tuple[float, ...] = (1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0, 12.0, math.inf)
OPEN_GUARD = GuardConfig(max_blur_psnr=math.inf, min_fit_gain=-math.inf, max_gain=math.inf)  # trusts everything


def guard_measurements(model: KernelSpace, estimator: CodeEstimator,
                       pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], xstep: LinearXStep,
                       progress: bool = False) -> pd.DataFrame:
    """Per pair: the blind x-step's gain over y (``gain_db``) and the guard's measurements of it.

    Shape:
        pairs: ``(x, y)`` each ``(1, 3, H, W)`` in [0, 1].
    """
    rows = []
    for i, (x, y) in enumerate(progress_bar(list(pairs), desc="guard measurements", disable=not progress)):
        with torch.no_grad():
            k = estimator(y)
        out = linear_xstep(model, y, k, config=xstep)
        _, (d,) = guard(model, y, out, k, OPEN_GUARD)
        rows.append({"pair": i, "gain_db": float(psnr(out, x) - psnr(y, x)), "blur_psnr": d.blur_psnr,
                     "fit_psnr": d.fit_psnr, "grad_ratio": d.gain})
    return pd.DataFrame(rows)


def choose_guard(measurements: pd.DataFrame, base: GuardConfig = GuardConfig(), fit_gains: Sequence[float] = FIT_GAINS,
                 max_gains: Sequence[float] = MAX_GAINS,
                 max_worse: float = MAX_WORSE) -> tuple[GuardConfig, pd.DataFrame]:
    """The thresholds (``min_fit_gain``, ``max_gain``) with the best guarded mean gain among those that make at most
    ``max_worse`` of the pairs worse; ``base`` gives ``max_blur_psnr``. Returns the config and the scored grid."""
    if measurements.empty:
        raise ValueError("choosing the guard's thresholds needs at least one measured pair")
    gains = measurements["gain_db"].to_numpy()
    rows = []
    for fg, mg in itertools.product(fit_gains, max_gains):
        cfg = dataclasses.replace(base, min_fit_gain=float(fg), max_gain=float(mg))
        keep = np.array([guard_reason(r.blur_psnr, r.fit_psnr, r.grad_ratio, cfg) == "trusted"
                         for r in measurements.itertuples()])
        rows.append({"min_fit_gain": float(fg), "max_gain": float(mg), "kept_frac": float(keep.mean()),
                     "gain_db": float(np.where(keep, gains, 0.0).mean()),
                     "worse_frac": float((keep & (gains < -WORSE_DB)).mean()), "n": len(gains)})
    table = pd.DataFrame(rows)
    # best gain; among equals the thresholds nearest the defaults (fit gain in dB, gradient ratio on a log scale)
    table["dist_fit"] = (table["min_fit_gain"] - base.min_fit_gain).abs()
    table["dist_ratio"] = (np.log(table["max_gain"]) - math.log(base.max_gain)).abs()
    ok = table[table["worse_frac"] <= max_worse + 1e-12]
    best = ok.sort_values(["gain_db", "dist_fit", "dist_ratio"], ascending=[False, True, True]).iloc[0]
    table = table.drop(columns=["dist_fit", "dist_ratio"])
    table["chosen"] = (table["min_fit_gain"] == best["min_fit_gain"]) & (table["max_gain"] == best["max_gain"])
    return dataclasses.replace(base, min_fit_gain=float(best["min_fit_gain"]), max_gain=float(best["max_gain"])), table


def calibrate_guard_file(model: str | os.PathLike, data: str | os.PathLike, profile: str = "cpu",
                         select: str = "textured", progress: bool = True) -> tuple[GuardConfig, pd.DataFrame,
                                                                                 pd.DataFrame]:
    """Choose the guard for the kernel space ``model`` on its estimator's held-out training pairs of ``data``, with
    the x-step the ``fast`` preset uses (its calibrated gamma), and store it in the estimator's record (``guard``).
    Returns the config, the per-pair measurements and the scored grid."""
    from blurkit.deblur.deblur_config import DEBLUR_PRESETS

    path = estimator_path(model)
    est = CodeEstimator.load(path)
    ks = KernelSpace.load(model).eval()
    for p in ks.parameters():
        p.requires_grad_(False)
    xstep = calibrated_xstep(DEBLUR_PRESETS["fast"].linear, est)
    meas = guard_measurements(ks, est, held_out_pairs(data, profile, select), xstep, progress)
    cfg, table = choose_guard(meas)
    record = dict(est.provenance or {})
    record.update(guard=dataclasses.asdict(cfg), guard_calibration_select=select, guard_calibration_data=str(data),
                  guard_max_worse=MAX_WORSE)
    est.save(path, record)
    return cfg, meas, table


def calibrated_guard(estimator: CodeEstimator | None, base: GuardConfig = GuardConfig()) -> GuardConfig:
    """The guard stored in the estimator's record, else ``base``."""
    stored = (getattr(estimator, "provenance", None) or {}).get("guard")
    return base if not stored else GuardConfig(**{k: float(v) for k, v in stored.items()})


__all__ = ["FIT_GAINS", "MAX_GAINS", "MAX_WORSE", "OPEN_GUARD", "calibrate_guard_file", "calibrated_guard",
           "choose_guard", "guard_measurements"]
