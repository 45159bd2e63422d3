"""The ``tv_code`` row's settings, chosen and checked on held-out training pairs (never on the ladder's images).

The blind TV kernel (:mod:`blurkit.experiments.tv_rows`) has settings that the ladder's test images must not choose:
the spread penalty of :class:`blurkit.deblur.tv_kernel.TVKernelConfig`, the largest blob count a trusted raw kernel
may have, and the guard's thresholds. Here they are measured on the kernel space's code estimator's held-out
training photos (:func:`blurkit.deblur.xstep_calibration.held_out_pairs`, the most textured pairs):

* ``calibration``: the 24 most textured held-out pairs, on which a rule is chosen;
* ``validation``: the next 24 most textured of the same photos, used only to check the choice.

A setting is the kernel's side, the TV weight and the spread penalty (:data:`SETTING`); the others are the row's.

Each pair goes through the ``tv_code`` path exactly (:func:`blurkit.experiments.tv_rows.tv_xstep` with the set's
x-step and blend), and its open gain over y, the raw kernel's blob count and the guard's three measurements are
stored per (model, data, part, setting, pair) in ``tv_calibration_pairs.csv``, so that a run resumes and several
runs (one per setting, say) can share the file. :func:`tv_calibration_summary` then scores, per setting and part, the
open estimate, the row's present rule (:data:`~blurkit.experiments.tv_rows.TV_MAX_BLOBS`, then the guard the row
reads) and the rule chosen on the calibration part (:func:`choose_tv_rule`), each with a paired 95 % interval, and
the difference to the row's own setting on the same pairs.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from blurkit.data.images import gradient_energy
from blurkit.deblur.blended_xstep import XStepBlend
from blurkit.deblur.guard import GuardConfig, guard, guard_reason
from blurkit.deblur.guard_calibration import OPEN_GUARD, choose_guard
from blurkit.deblur.linear_xstep import LinearXStep
from blurkit.deblur.tv_kernel import TVKernelConfig
from blurkit.deblur.xstep_calibration import WORSE_DB, held_out_pairs
from blurkit.experiments.ladder_files import replace_rows
from blurkit.experiments.nonblind_rows import set_blend, set_xstep
from blurkit.experiments.paired import paired_difference
from blurkit.experiments.tv_rows import TV_MAX_BLOBS, tv_guard, tv_settings, tv_xstep
from blurkit.progress import progress_bar
from blurkit.provenance import provenance, save_result
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import psnr

PARTS = ("calibration", "validation")
BLOB_LIMITS: tuple[int, ...] = (1, 2, 3, 10**6)  # the largest trusted blob count; the first is the row's present one
PAIRS_NAME, SUMMARY_NAME = "tv_calibration_pairs", "tv_calibration"
SETTING = ["size", "lam", "spread"]  # the TV settings a run varies; rows written before size and lam have NaN there
KEY = ["model", "data", "part", *SETTING, "pair"]


def tv_parts(data: str | os.PathLike, profile: str, n: int = 24) -> dict[str, list[tuple[torch.Tensor, torch.Tensor]]]:
    """The two parts: the ``n`` most textured held-out pairs, and the next ``n``.

    Shape:
        each pair ``(x, y)``, ``(1, 3, H, W)``.
    """
    both = held_out_pairs(data, profile, "textured", 2 * n)  # the 2n most textured, in the photos' order
    energy = [gradient_energy(x[0].permute(1, 2, 0).numpy()) for x, _ in both]
    first = set(np.argsort(energy, kind="stable")[::-1][:n].tolist())
    return {"calibration": [p for i, p in enumerate(both) if i in first],
            "validation": [p for i, p in enumerate(both) if i not in first]}


def measure_pair(model: KernelSpace, x: torch.Tensor, y: torch.Tensor, config: TVKernelConfig, fit_steps: int,
                 xstep: LinearXStep, blend: XStepBlend | None) -> dict:
    """One pair through the ``tv_code`` path: the open gain over y (dB), the raw kernel's blobs, the guard's
    measurements and the seconds. Shape: x, y ``(1, 3, H, W)`` in [0, 1]."""
    code, blobs, out, seconds = tv_xstep(model, y, xstep, blend, config, fit_steps)
    _, (d,) = guard(model, y, out, code, OPEN_GUARD)
    return {"gain_db": float(psnr(out, x) - psnr(y, x)), "blobs": int(blobs), "blur_psnr": d.blur_psnr,
            "fit_psnr": d.fit_psnr, "grad_ratio": d.gain, "seconds": float(seconds)}


def rule_gains(meas: pd.DataFrame, max_blobs: int, config: GuardConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, the gain under a rule (0 where it returns y) and whether the estimate was kept."""
    keep = np.array([r.blobs <= max_blobs and guard_reason(r.blur_psnr, r.fit_psnr, r.grad_ratio, config) == "trusted"
                     for r in meas.itertuples()], dtype=bool)
    return np.where(keep, meas["gain_db"].to_numpy(), 0.0), keep


def choose_tv_rule(meas: pd.DataFrame, base: GuardConfig = GuardConfig(),
                   limits: Sequence[int] = BLOB_LIMITS) -> tuple[int, GuardConfig]:
    """The largest blob count and guard thresholds with the best mean gain over the pairs among those that make at
    most 10 % of them worse (:func:`blurkit.deblur.guard_calibration.choose_guard`, with the pairs above the blob
    count returning y); among equals the earlier limit."""
    if meas.empty:
        raise ValueError("choosing the TV rule needs at least one measured pair")
    best: tuple[float, int, GuardConfig] | None = None
    for limit in limits:
        masked = meas.assign(gain_db=np.where(meas["blobs"] <= limit, meas["gain_db"], 0.0))
        cfg, _ = choose_guard(masked, base)
        gain = float(rule_gains(meas, limit, cfg)[0].mean())
        if best is None or gain > best[0]:  # the same kept pairs give the same mean: ties keep the earlier limit
            best = (gain, limit, cfg)
    assert best is not None
    return best[1], best[2]


def read_pairs(path: Path, base: TVKernelConfig) -> pd.DataFrame:
    """The pairs file, with rows written before a setting column existed given ``base``'s value there."""
    if not path.exists():
        return pd.DataFrame(columns=KEY)
    held = pd.read_csv(path)
    for name in SETTING:
        value = float(getattr(base, name))
        held[name] = held[name].fillna(value) if name in held else value
    return held


def run_tv_calibration(out_dir: str | os.PathLike, model_name: str, data: str, spreads: Sequence[float],
                       parts: Sequence[str] = PARTS, profile: str = "cpu", n: int = 24, size: int | None = None,
                       lam: float | None = None, progress: bool = True) -> pd.DataFrame:
    """Measure every pair of ``parts`` at every spread (with the kernel side ``size`` and TV weight ``lam``, the
    row's own where None), skipping pairs the pairs file already holds, and write the summary over everything the
    file holds for the model and data. Returns the summary."""
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not spreads or any(not s >= 0 for s in spreads):
        raise ValueError(f"parts must be among {PARTS} and spreads >= 0, got {list(parts)} and {list(spreads)}")
    path = Path(out_dir) / f"{PAIRS_NAME}.csv"
    model = KernelSpace.load(model_name).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    base, fit_steps = tv_settings(model, profile)
    xstep, blend = set_xstep(model_name), set_blend(model_name)
    pairs = tv_parts(data, profile, n)
    t0 = time.perf_counter()
    for spread in spreads:
        config = dataclasses.replace(base, spread=float(spread), size=base.size if size is None else size,
                                     lam=base.lam if lam is None else lam)
        setting = {name: float(getattr(config, name)) for name in SETTING}
        for part in parts:
            held = read_pairs(path, base)
            mask = (held["model"] == model_name) & (held["data"] == data) & (held["part"] == part)
            for name, value in setting.items():
                mask &= held[name] == value
            done = set(held.loc[mask, "pair"].astype(int))
            todo = [i for i in range(len(pairs[part])) if i not in done]
            for i in progress_bar(todo, desc=f"TV {part} {setting}", disable=not progress):
                x, y = pairs[part][i]
                row = {"model": model_name, "data": data, "part": part, **setting, "pair": i,
                       **measure_pair(model, x, y, config, fit_steps, xstep, blend)}
                record = provenance(config={"tv": dataclasses.asdict(config), "fit_steps": fit_steps, "n": n,
                                            "profile": profile}, wall_time_s=time.perf_counter() - t0)
                replace_rows(path, [row], record, KEY, lambda held_path: read_pairs(held_path, base))
    summary = tv_calibration_summary(read_pairs(path, base), model_name, data, tv_guard(model_name), base)
    save_result(summary, SUMMARY_NAME, out_dir, provenance(config={"n": n, "profile": profile, "model": model_name,
                                                                    "data": data, "worse_db": WORSE_DB,
                                                                    "row_tv": dataclasses.asdict(base)},
                                                            wall_time_s=time.perf_counter() - t0))
    return summary


def tv_calibration_summary(pairs: pd.DataFrame, model_name: str, data: str, row_guard: GuardConfig,
                           base: TVKernelConfig) -> pd.DataFrame:
    """Per setting (with a measured calibration part), part and rule (``open``; ``row``: the present blob limit and
    ``row_guard``; ``chosen``: :func:`choose_tv_rule` on that setting's calibration part): the mean gain over y with
    its paired 95 % interval, worse_frac, kept, n, and the difference to ``base``'s setting under its own rule of the
    same name, on the pairs both measured."""
    pairs = pairs[(pairs["model"] == model_name) & (pairs["data"] == data)].sort_values(KEY)
    settings = pairs[SETTING].drop_duplicates().sort_values(SETTING).itertuples(index=False)
    home = tuple(float(getattr(base, name)) for name in SETTING)

    def of(setting: tuple, part: str) -> pd.DataFrame:
        return pairs[(pairs[SETTING] == pd.Series(setting, index=SETTING)).all(axis=1) & (pairs["part"] == part)]

    def rules(setting: tuple) -> dict[str, tuple[int, GuardConfig]] | None:
        calib = of(setting, "calibration")
        if calib.empty:
            return None
        return {"open": (10**9, OPEN_GUARD), "row": (TV_MAX_BLOBS, row_guard), "chosen": choose_tv_rule(calib)}

    chosen = {setting: rules(setting) for setting in map(tuple, settings)}
    home_rules = chosen.get(home)
    rows = []
    for setting, mine in chosen.items():
        if mine is None:
            continue
        for part in PARTS:
            meas = of(setting, part)
            if len(meas) < 2:
                continue
            ref = of(home, part).set_index("pair")
            for rule, (max_blobs, cfg) in mine.items():
                gains, keep = rule_gains(meas, max_blobs, cfg)
                d = paired_difference(gains, np.zeros_like(gains))
                row = {"model": model_name, "data": data, **dict(zip(SETTING, setting)), "part": part, "rule": rule,
                       "max_blobs": max_blobs if rule != "open" else math.inf, "min_fit_gain": cfg.min_fit_gain,
                       "max_gain": cfg.max_gain, "gain_db": d.diff_db, "ci_low": d.ci_low, "ci_high": d.ci_high,
                       "worse_frac": float((gains < -WORSE_DB).mean()), "kept": int(keep.sum()),
                       "one_blob": int((meas["blobs"] <= 1).sum()), "n": len(gains),
                       "sec_per_pair": float(meas["seconds"].mean())}
                common = meas.set_index("pair").index.intersection(ref.index)
                if setting != home and home_rules is not None and len(common) >= 2:
                    ref_gains, _ = rule_gains(ref.loc[common].reset_index(), *home_rules[rule])
                    m_gains, _ = rule_gains(meas.set_index("pair").loc[common].reset_index(), max_blobs, cfg)
                    dz = paired_difference(m_gains, ref_gains)
                    row.update(vs_row_setting_db=dz.diff_db, vs_row_setting_low=dz.ci_low,
                               vs_row_setting_high=dz.ci_high)
                rows.append(row)
    return pd.DataFrame(rows)


__all__ = ["BLOB_LIMITS", "PARTS", "choose_tv_rule", "measure_pair", "rule_gains", "run_tv_calibration",
           "read_pairs", "tv_calibration_summary", "tv_parts"]
