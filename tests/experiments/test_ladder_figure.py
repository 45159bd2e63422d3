"""The ladder's figure: gains over blurry with paired intervals, one panel per set, the targets marked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from blurkit.experiments.ladder_figure import gain_intervals, ladder_figure


def _per_image(gain: float = 1.0, n: int = 12, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    blurry = 20 + rng.normal(0, 2, n)
    rows = []
    for s in ("a>b", "reds-like>reds-like"):
        for i in range(n):
            image = f"{i:05d}"
            rows += [{"set": s, "method": "blurry", "image": image, "psnr": blurry[i]},
                     {"set": s, "method": "fast", "image": image, "psnr": blurry[i] + gain + rng.normal(0, 0.1)},
                     {"set": s, "method": "no_blur_margin", "image": image, "psnr": np.nan}]
        rows.append({"set": s, "method": "true_code", "image": "99999", "psnr": 30.0})  # no blurry cell: left out
    return pd.DataFrame(rows)


def test_gain_intervals_hold_the_known_gain() -> None:
    table = gain_intervals(_per_image(gain=1.0))
    assert list(table.method) == ["fast", "fast"] and (table.n == 12).all()  # blurry, the margin, unpaired: out
    assert np.allclose(table.gain_db, 1.0, atol=0.1)
    assert (table.ci_low < table.gain_db).all() and (table.gain_db < table.ci_high).all()
    assert (table.ci_low > 0.8).all() and (table.ci_high < 1.2).all()  # noise 0.1 over 12 images


def test_one_panel_per_set_and_the_targets_marked() -> None:
    fig = ladder_figure(_per_image(), targets={("reds-like>reds-like", "fast"): 2.0})
    axes = [ax for ax in fig.get_axes() if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["a>b", "reds-like>reds-like"]
    marks = [line.get_xdata()[0] for line in axes[1].get_lines() if line.get_color() == "tab:red"]
    assert marks == [2.0] and not [line for line in axes[0].get_lines() if line.get_color() == "tab:red"]
    assert axes[1].get_xlim()[1] > 2.0  # the target is inside the axes


def test_more_sets_than_columns_wrap() -> None:
    per = pd.concat([_per_image().assign(set=lambda d, i=i: d["set"] + str(i)) for i in range(2)])  # 4 sets
    fig = ladder_figure(per)
    shown = [ax for ax in fig.get_axes() if ax.get_visible()]
    assert len(shown) == 4 and len(fig.get_axes()) == 6  # 2 rows of 3, the last 2 panels hidden


def test_a_table_without_deblurred_rows_is_refused() -> None:
    per = _per_image()
    with pytest.raises(ValueError, match="no deblurred rows"):
        ladder_figure(per[per.method == "blurry"])
