"""The Table 2/4/5 experiment helpers: combined folders, the paper-vs-ours figure, baseline methods."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from blurkit.data.datasets import resolve_pairs
from blurkit.experiments.baseline_report import combine_folders
from blurkit.plots import paper_vs_ours
from tests.imagegen import rand_rgb, save_png

matplotlib.use("Agg")


def _folder(root: Path, n: int, seed: int) -> Path:
    for i in range(n):
        save_png(root / "sharp" / f"{i:03d}.png", rand_rgb(16, 16, seed=seed + i))
        save_png(root / "blur" / f"{i:03d}.png", rand_rgb(16, 16, seed=seed + 100 + i))
    return root


def test_combine_folders_links_every_pair_once(tmp_path: Path) -> None:
    a, b = _folder(tmp_path / "a", 2, 0), _folder(tmp_path / "b", 3, 10)
    out = combine_folders({"motion": a, "reds": b}, tmp_path / "both")
    pairs = resolve_pairs(out)
    assert [s.name for s, _ in pairs] == ["motion-000.png", "motion-001.png", "reds-000.png", "reds-001.png",
                                          "reds-002.png"]
    assert pairs[3][1].resolve() == (b / "blur" / "001.png").resolve()
    combine_folders({"motion": a, "reds": b}, out)  # re-running is a no-op
    assert len(resolve_pairs(out)) == 5


def test_paper_vs_ours_figure_marks_claims() -> None:
    table = pd.DataFrame({"entry": ["original/REDS", "blur-swapped/REDS"], "paper": [30.7, 29.43],
                          "ours": [28.0, 27.5], "claim_holds": [True, False], "blurry_psnr": [25.0, 25.0]})
    fig = paper_vs_ours(table, "t")
    ax = fig.axes[0]
    assert len(ax.patches) == 6  # paper, ours, blurry for two entries
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert "claim holds" in labels[0] and "claim fails" in labels[1]


def test_paper_vs_ours_figure_marks_verdicts_with_their_interval() -> None:
    table = pd.DataFrame({"entry": ["a", "b", "c"], "paper": [30.0, 29.0, 28.0], "ours": [27.0, 26.0, 25.0],
                          "verdict": ["holds", None, "inconclusive"], "ci_low": [0.2, None, -0.4],
                          "ci_high": [1.1, None, 0.3]})
    labels = [t.get_text() for t in paper_vs_ours(table, "t").axes[0].get_xticklabels()]
    assert labels == ["a\nclaim holds\n[+0.2, +1.1] dB", "b", "c\nclaim inconclusive\n[-0.4, +0.3] dB"]


def test_paper_vs_ours_without_optional_columns() -> None:
    fig = paper_vs_ours(pd.DataFrame({"entry": ["x"], "paper": [1.0], "ours": [2.0]}), "t")
    assert len(fig.axes[0].patches) == 2


@pytest.mark.parametrize("missing", ["ours", "paper"])
def test_paper_vs_ours_needs_both_columns(missing: str) -> None:
    table = pd.DataFrame({"entry": ["x"], "paper": [1.0], "ours": [2.0]}).drop(columns=missing)
    with pytest.raises(KeyError):
        paper_vs_ours(table, "t")


def test_baseline_per_image_names_each_test_pair_and_its_psnrs(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from blurkit.experiments import baseline_report as br
    from blurkit.space.losses import psnr

    folder = _folder(tmp_path / "pairs", 3, 0)
    pairs = resolve_pairs(folder)
    monkeypatch.setattr(br, "load_baseline", lambda run: "net")
    monkeypatch.setattr(br, "predict_views", lambda net, y, views: (y + br._tensor(pairs[0][0])) / 2)  # halfway to image 0
    per = br.baseline_per_image(tmp_path / "run", pairs)
    assert list(per.columns) == ["image", "psnr", "blurry_psnr"] and per.image.tolist() == ["000", "001", "002"]
    for (s, b), r in zip(pairs, per.itertuples()):
        x, y = br._tensor(s), br._tensor(b)
        assert r.blurry_psnr == pytest.approx(float(psnr(y, x)))
        assert r.psnr == pytest.approx(float(psnr((y + br._tensor(pairs[0][0])) / 2, x)))
    assert per.psnr[0] > per.blurry_psnr[0]  # halfway to its own sharp image
    means = br.baseline_psnr(tmp_path / "run", pairs)
    assert means == pytest.approx({"psnr": per.psnr.mean(), "blurry_psnr": per.blurry_psnr.mean(), "n_test": 3})
    assert np.isfinite(per.to_numpy()[:, 1:].astype(float)).all()
