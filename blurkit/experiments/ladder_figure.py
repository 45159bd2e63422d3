"""The deblurring ladder as a figure: every method's gain over the blurry input, per set, with its 95 % interval.

One panel per set (kernel space > test data), one bar per method: the mean PSNR gain over ``blurry`` on the ladder's
images, with the paired bootstrap interval of :func:`blurkit.experiments.paired.paired_difference`, and a mark at the
target the deblurring issue sets for the row, where it sets one (:data:`LADDER_TARGETS`). ``blurkit bench ladder``
draws it beside its tables (``<name>_plot.png``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from blurkit.experiments.paired import paired_difference

LADDER_TARGETS: dict[tuple[str, str], float] = {
    ("reds-like>reds-like", "true_code"): 3.0,
    ("reds-like>reds-like", "fast"): 2.0,
    ("reds-like>gopro-like", "fast"): 1.0,
    ("uniform-8>uniform-8", "fast"): 3.0,
}
"""The gains (dB over blurry) the deblurring issue asks of these rows at ``cpu``, 128 px."""

NOT_DEBLURRED = ("blurry", "no_blur_margin")  # rows that are not a deblurred image
COLUMNS = 3  # panels per row of the figure


def gain_intervals(per_image: pd.DataFrame) -> pd.DataFrame:
    """Per set and method: the mean gain over ``blurry`` on the images both have, its 95 % interval and n.

    Methods with fewer than 2 such images get the mean and no interval.

    Shape:
        per_image: the ladder's per-image table (``set, method, image, psnr``) -> columns ``set, method, gain_db,
        ci_low, ci_high, n`` in the table's order.
    """
    rows = []
    blurry_by_set = {s: g[["image", "psnr"]] for s, g in per_image[per_image["method"] == "blurry"].groupby("set")}
    for (set_name, method), g in per_image.groupby(["set", "method"], sort=False):
        if method in NOT_DEBLURRED or set_name not in blurry_by_set:
            continue
        both = g.merge(blurry_by_set[set_name], on="image", suffixes=("", "_blurry")).dropna(
            subset=["psnr", "psnr_blurry"])
        if not len(both):
            continue
        a, b = both["psnr"].to_numpy(float), both["psnr_blurry"].to_numpy(float)
        if len(both) >= 2:
            d = paired_difference(a, b)
            lo, hi = d.ci_low, d.ci_high
        else:
            lo = hi = np.nan
        rows.append({"set": set_name, "method": method, "gain_db": float(np.mean(a - b)), "ci_low": lo,
                     "ci_high": hi, "n": len(both)})
    return pd.DataFrame(rows, columns=["set", "method", "gain_db", "ci_low", "ci_high", "n"])


def ladder_figure(per_image: pd.DataFrame,
                  targets: Mapping[tuple[str, str], float] = LADDER_TARGETS) -> Figure:
    """One panel per set (:data:`COLUMNS` to a row): a horizontal bar per method (gain over blurry, dB) with its
    95 % interval, and a red mark at each row's target."""
    table = gain_intervals(per_image)
    if not len(table):
        raise ValueError("the ladder's per-image table holds no deblurred rows with a blurry baseline")
    sets = list(dict.fromkeys(table["set"]))
    height = max(2.0, 0.26 * table.groupby("set").size().max() + 0.9)
    cols = min(COLUMNS, len(sets))
    rows = -(-len(sets) // cols)
    fig = Figure(figsize=(4.6 * cols, height * rows))
    grid = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in grid[len(sets):]:
        ax.set_visible(False)
    axes = grid[:len(sets)]
    lo, hi = float(np.nanmin(table[["gain_db", "ci_low"]].to_numpy())), float(
        np.nanmax(table[["gain_db", "ci_high"]].to_numpy()))
    lo, hi = min(lo, 0.0, *targets.values()), max(hi, 0.0, *targets.values())
    for ax, set_name in zip(axes, sets):
        t = table[table["set"] == set_name].reset_index(drop=True)
        pos = np.arange(len(t))[::-1]
        err = np.vstack([t["gain_db"] - t["ci_low"], t["ci_high"] - t["gain_db"]])
        colors = ["tab:blue" if g >= 0 else "tab:gray" for g in t["gain_db"]]
        ax.barh(pos, t["gain_db"], color=colors, xerr=np.nan_to_num(err), capsize=2, error_kw={"lw": 0.8})
        for p, method in zip(pos, t["method"]):
            if (set_name, method) in targets:
                ax.plot([targets[(set_name, method)]] * 2, [p - 0.4, p + 0.4], color="tab:red", lw=2)
        ax.axvline(0, color="black", lw=0.6)
        ax.set_yticks(pos, [f"{m} (n {n})" for m, n in zip(t["method"], t["n"])], fontsize=7)
        ax.set_xlim(lo - 0.5, hi + 0.5)
        ax.set_title(set_name, fontsize=9)
        ax.set_xlabel("gain over blurry (dB), 95 % interval", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    fig.suptitle("Deblurring ladder (red: the target)", fontsize=10)
    fig.tight_layout()
    return fig


__all__ = ["LADDER_TARGETS", "NOT_DEBLURRED", "gain_intervals", "ladder_figure"]
