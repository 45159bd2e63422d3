"""The tables and the figure of a batch evaluation (:mod:`blurkit.experiments.evaluate`).

``summary.csv``: per method the means of PSNR, SSIM, LPIPS and seconds, and the gain in PSNR over the identity
(the blurry input itself, on the same images) with its paired 95 % bootstrap interval
(:func:`blurkit.experiments.paired.paired_difference`). The figure shows, per method, its best, median and worst
image by PSNR (by name when there is no reference).
"""

from __future__ import annotations

from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from blurkit.experiments.paired import paired_difference

PER_IMAGE_COLUMNS = ["image", "method", "psnr", "ssim", "lpips", "wall_s"]
SUMMARY_COLUMNS = ["method", "n", "psnr", "ssim", "lpips", "wall_s", "gain_db", "ci_low", "ci_high", "n_paired"]


def _gain(values: pd.Series, identity: dict[str, float], images: pd.Series) -> tuple[float, float, float, int]:
    """Mean PSNR gain over identity on the images where both are finite, its interval, and that count."""
    ref = np.array([identity.get(i, np.nan) for i in images], dtype=np.float64)
    val = values.to_numpy(dtype=np.float64)
    keep = np.isfinite(ref) & np.isfinite(val)
    a, b = val[keep], ref[keep]
    if len(a) == 0:
        return np.nan, np.nan, np.nan, 0
    if len(a) == 1:
        return float(a[0] - b[0]), np.nan, np.nan, 1
    d = paired_difference(a, b)
    return d.diff_db, d.ci_low, d.ci_high, d.n


def summarise(per_image: pd.DataFrame, identity_psnr: dict[str, float], methods: Sequence[str]) -> pd.DataFrame:
    """One row per method (in ``methods`` order); ``identity_psnr`` maps an image to the blurry input's PSNR."""
    rows = []
    for m in methods:
        g = per_image[per_image["method"] == m]
        num = g[["psnr", "ssim", "lpips", "wall_s"]].apply(pd.to_numeric, errors="coerce")
        gain, lo, hi, paired = _gain(num["psnr"], identity_psnr, g["image"])
        rows.append({"method": m, "n": len(g), "psnr": num["psnr"].mean(), "ssim": num["ssim"].mean(),
                     "lpips": num["lpips"].mean(), "wall_s": num["wall_s"].mean(), "gain_db": gain,
                     "ci_low": lo, "ci_high": hi, "n_paired": paired})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def picks(group: pd.DataFrame) -> list[tuple[str, pd.Series]]:
    """``[("best", row), ("median", row), ("worst", row)]`` of one method's rows, by PSNR (else by name)."""
    scores = pd.to_numeric(group["psnr"], errors="coerce")
    if scores.notna().any():
        ranked = group.assign(_s=scores.fillna(-np.inf)).sort_values(["_s", "image"], ascending=[False, True])
        labels = ("best", "median", "worst")
    else:
        ranked = group.sort_values("image")
        labels = ("first", "middle", "last")
    rows = [ranked.iloc[0], ranked.iloc[len(ranked) // 2], ranked.iloc[-1]]
    return list(zip(labels, rows))


def evaluation_figure(per_image: pd.DataFrame, load: Callable[[str, str], np.ndarray], scale: float = 1.9) -> Figure:
    """A row per method: its best, median and worst output (``load(method, image)`` gives an ``(H, W, 3)`` image)."""
    methods = list(dict.fromkeys(per_image["method"]))
    fig, axes = plt.subplots(len(methods), 3, figsize=(3 * scale, len(methods) * scale), squeeze=False)
    for r, m in enumerate(methods):
        for c, (label, row) in enumerate(picks(per_image[per_image["method"] == m])):
            ax = axes[r, c]
            ax.imshow(np.clip(load(m, row["image"]), 0, 1))
            ax.set_xticks([])
            ax.set_yticks([])
            score = pd.to_numeric(pd.Series([row["psnr"]]), errors="coerce").iloc[0]
            detail = f"{score:.2f} dB" if np.isfinite(score) else f"{row['wall_s']:.2f} s"
            ax.set_xlabel(f"{label}: {row['image']}\n{detail}", fontsize=7)
            if c == 0:
                ax.set_ylabel(m, fontsize=8)
    fig.tight_layout(pad=0.3)
    return fig


__all__ = ["PER_IMAGE_COLUMNS", "SUMMARY_COLUMNS", "evaluation_figure", "picks", "summarise"]
