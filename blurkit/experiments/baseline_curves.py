"""Learning curves of the learned baselines: validation PSNR against step and wall time, and the final gain on the
test pairs with its interval (issue: a reader sees whether the training budget was enough).

A run folder of :func:`blurkit.baselines.baseline_train.train_baseline` holds ``history.csv`` (one row per step;
``val_psnr`` on the validation steps, ``wall_s`` the training seconds so far) and ``model.pt``. The validation pairs
are the first ``val_pairs`` test pairs of the run's data (of a folder: the pairs training held out); their blurry
PSNR is measured here, so the curve shows the gain over doing nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from blurkit.baselines.baseline_config import BaselineTrainConfig
from blurkit.baselines.baseline_train import baseline_pairs, run_profile
from blurkit.data.datasets import has_test_split
from blurkit.data.images import read_image
from blurkit.errors import BlurkitError
from blurkit.experiments.paired import paired_by_image, verdict_columns
from blurkit.space.losses import psnr

CURVE_COLUMNS = ["model", "step", "wall_s", "val_psnr", "blurry_psnr", "gain_db"]


def _run_meta(run: Path) -> dict[str, Any]:
    path = run / "model.pt" if (run / "model.pt").is_file() else run / "last.pt"
    if not path.is_file():
        raise BlurkitError(f"'{run}' holds no baseline run (no model.pt or last.pt)")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    config = ckpt["provenance"]["config"]
    return {"model": config["model"], "data": config["data"], "train_config": config["train_config"]}


def _image(path: str | os.PathLike) -> torch.Tensor:
    return torch.from_numpy(read_image(path)).permute(2, 0, 1)[None]


def _blurry_psnr(pairs: Sequence[tuple[Path, Path]]) -> float:
    vals = [float(psnr(_image(b), _image(s))) for s, b in pairs]
    return float(np.mean(vals)) if vals else float("nan")


def learning_curve(run: str | os.PathLike) -> pd.DataFrame:
    """One run's validation curve. Columns: :data:`CURVE_COLUMNS` (``gain_db`` = ``val_psnr - blurry_psnr``)."""
    run = Path(run)
    hist_path = run / "history.csv"
    if not hist_path.is_file():
        raise BlurkitError(f"'{run}' has no history.csv: train it first (blurkit baseline train ... --out {run})")
    meta = _run_meta(run)
    hist = pd.read_csv(hist_path)
    if "wall_s" not in hist.columns:
        raise BlurkitError(f"'{hist_path}' records no wall time (made by an older blurkit): train the run again")
    cfg = BaselineTrainConfig(**meta["train_config"])
    _, val = baseline_pairs(cfg, meta["data"])
    val_rows = hist[hist.val_psnr.notna()]
    blurry = _blurry_psnr(val)
    return pd.DataFrame({"model": meta["model"], "step": val_rows.step.astype(int).to_numpy(),
                         "wall_s": val_rows.wall_s.to_numpy(float), "val_psnr": val_rows.val_psnr.to_numpy(float),
                         "blurry_psnr": blurry, "gain_db": val_rows.val_psnr.to_numpy(float) - blurry},
                        columns=CURVE_COLUMNS)


def run_test_pairs(data: str | os.PathLike, cfg: BaselineTrainConfig) -> list:
    """The pairs a run is tested on: every test pair of a named dataset; of a folder, every pair training held out
    (a folder has no test split of its own, so its whole content would be the training pairs)."""
    from blurkit.experiments.baseline_report import _test

    if has_test_split(data):
        return _test(data, run_profile(cfg), None)
    return baseline_pairs(cfg, data, every_held_out=True)[1]


def ceiling_gain(data: str | os.PathLike, profile: str, pairs: Sequence[tuple[Path, Path]]) -> float | None:
    """The mean gain over blurry (dB) of non-blind deconvolution with each pair's recorded blur on ``pairs``: what the
    blur allows when it is known, the scale a baseline's gain is read against.

    It is the ladder's ``oracle`` solver (:func:`blurkit.baselines.oracle.cell_kernel_deconvolution`: the camera PSF
    of every 32 px cell, or a uniform domain's kernel, in the domain's camera curve) with :data:`PRESET_XSTEP` as it
    stands (its margin, gamma 0.1); the ladder's row takes each kernel space's calibrated gamma instead (0.1 for
    reds-like). None where the data records no blur: a folder, a real dataset, or a profile without default sets.
    """
    from blurkit.baselines.oracle import cell_kernel_deconvolution
    from blurkit.data.domains import get_domain
    from blurkit.deblur.linear_xstep import PRESET_XSTEP
    from blurkit.experiments.recorded_truth import known_kernels

    if not pairs or Path(str(data)).is_dir():
        return None
    try:
        crf = get_domain(str(data)).crf
    except BlurkitError:
        return None
    size = int(read_image(pairs[0][0]).shape[0])
    kernels = known_kernels(str(data), profile, size)
    if any(Path(s).stem not in kernels for s, _ in pairs):
        return None
    gains = []
    for s, b in pairs:
        x, y = _image(s), _image(b)
        out = cell_kernel_deconvolution(y, kernels[Path(s).stem], crf, PRESET_XSTEP)
        gains.append(float(psnr(out, x) - psnr(y, x)))
    return float(np.mean(gains))


def gain_over_blurry(per_image: pd.DataFrame, seed: int = 0) -> dict[str, Any]:
    """The mean gain over blurry on the test pairs with its 95 % paired bootstrap interval.

    ``per_image`` has columns ``image, psnr, blurry_psnr``
    (:func:`blurkit.experiments.baseline_report.baseline_per_image`).
    Returns ``psnr, blurry_psnr`` (means) and the verdict columns of "output > blurry".
    """
    out = per_image.set_index("image")
    d = paired_by_image(out.psnr, out.blurry_psnr, "greater", seed=seed)
    return {"psnr": float(out.psnr.mean()), "blurry_psnr": float(out.blurry_psnr.mean()), **verdict_columns(d)}


def plot_learning_curves(curves: pd.DataFrame, targets: Mapping[str, float] | None = None) -> Any:
    """Validation gain over blurry (dB) against step and against wall minutes, one line per model; a dotted line at
    each model's target gain where given."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for (model, c), colour in zip(curves.groupby("model", sort=True), ("C0", "C1", "C2", "C3")):
        axes[0].plot(c.step, c.gain_db, "o-", ms=3, color=colour, label=model)
        axes[1].plot(c.wall_s / 60, c.gain_db, "o-", ms=3, color=colour, label=model)
        if targets and model in targets:
            for ax in axes:
                ax.axhline(targets[model], ls=":", color=colour, lw=1)
    for ax, xlabel in zip(axes, ("step", "training wall time (min)")):
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation PSNR - blurry (dB)")
    axes[0].legend(frameon=False)
    fig.suptitle("Learned baselines: gain over the blurry input on the validation pairs (dotted: target)")
    fig.tight_layout()
    return fig


# The in-domain gains the cpu recipes must reach on their own domain's test pairs (issue: baselines that learn).
CPU_TARGETS_DB = {"srn": 1.5, "deblurganv2": 1.0}


def save_baseline_curves(runs: Sequence[str | os.PathLike], results_dir: str | os.PathLike,
                         targets: Mapping[str, float] | None = None, seed: int = 0,
                         name: str = "baseline_learning_curves") -> pd.DataFrame:
    """Write ``<name>.csv`` (every run's curve), ``<name>.png`` (:func:`plot_learning_curves`) and
    ``<name>_test.csv``: per run, the mean PSNR on ALL the test pairs of its data (:func:`run_test_pairs`), the gain
    over blurry with its interval (:func:`gain_over_blurry`), the steps and training wall time, whether the
    target gain is reached, and ``ceiling_db``, the non-blind gain with the recorded blur on the same pairs
    (:func:`ceiling_gain`; empty where none is recorded). Returns the test table."""
    from blurkit.experiments.baseline_report import baseline_per_image
    from blurkit.provenance import provenance, save_figure, save_result

    targets = dict(CPU_TARGETS_DB if targets is None else targets)
    curves, rows, metas = [], [], {}
    ceilings: dict[tuple[str, str], float | None] = {}  # (data, profile) -> ceiling_gain, computed once
    for run in map(Path, runs):
        meta = metas[str(run)] = _run_meta(run)
        if not (run / "model.pt").is_file():
            raise BlurkitError(f"'{run}' has not finished (no model.pt): resume it with "
                               "blurkit baseline train --resume")
        curve = learning_curve(run)
        curves.append(curve)
        cfg = BaselineTrainConfig(**meta["train_config"])
        test_pairs = run_test_pairs(meta["data"], cfg)
        per = baseline_per_image(run, test_pairs)
        gain = gain_over_blurry(per, seed)
        target = targets.get(meta["model"])
        key = (str(meta["data"]), run_profile(cfg))
        if key not in ceilings:
            ceilings[key] = ceiling_gain(meta["data"], run_profile(cfg), test_pairs)
        rows.append({"model": meta["model"], "run": run.name, "data": meta["data"], "steps": int(curve.step.max()),
                     "train_wall_s": float(curve.wall_s.max()), **gain, "target_db": target,
                     "reached": None if target is None else bool(gain["diff_db"] >= target),
                     "ceiling_db": ceilings[key]})
    table = pd.DataFrame(rows)
    all_curves = pd.concat(curves, ignore_index=True)
    record = provenance(config={"runs": metas, "targets": targets}, seed=seed)
    save_result(all_curves, name, results_dir, record)
    save_result(table, f"{name}_test", results_dir, record)
    import matplotlib.pyplot as plt

    fig = plot_learning_curves(all_curves, targets)
    save_figure(fig, f"{name}_plot", results_dir, record)
    plt.close(fig)
    return table


__all__ = ["CPU_TARGETS_DB", "CURVE_COLUMNS", "ceiling_gain", "gain_over_blurry", "learning_curve",
           "plot_learning_curves", "save_baseline_curves"]
