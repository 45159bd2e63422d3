"""Figs. 4 and 6 (Sec. 3.3): the sized text crops, the claim operationalisation of both summaries, the row and trace
builders on a tiny random generator and kernel space, the figures, and the one-line error of a missing generator."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from blurkit import paths
from blurkit.data.images import read_image, write_image
from blurkit.deblur.generator_prior import GENERATOR_PRIOR_PRESETS
from blurkit.errors import BlurkitError, ImageSizeError, UnknownNameError
from blurkit.experiments.deblur_report import method_blurry
from blurkit.experiments.generator_figures import (PRIORS, TextPair, _sized, fig4_bars, fig4_grid, fig4_rows,
                                                   fig4_summary, fig6_figure, fig6_summary, fig6_traces,
                                                   load_text_pairs, manifold_config, manifold_generator,
                                                   method_generator, motion_sizes)
from blurkit.generator.stylegan2 import StyleGAN2Generator, generator_preset
from blurkit.space.kernel_space import KernelSpace

matplotlib.use("Agg")
pytestmark = pytest.mark.usefixtures("one_thread")
TINY = GENERATOR_PRIOR_PRESETS["smoke"].replace(steps=2)


@pytest.fixture(scope="module")
def gen() -> StyleGAN2Generator:
    torch.manual_seed(0)
    return StyleGAN2Generator(generator_preset("smoke")).eval()  # 32 px, random weights


@pytest.fixture(scope="module")
def space() -> KernelSpace:
    torch.manual_seed(0)
    return KernelSpace("smoke").eval()


def _pairs(n: int, seed: int, size: int = 32) -> list[TextPair]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x = rng.random((size, size, 3), dtype=np.float32)
        y = (0.5 * x + 0.5 * x.mean()).astype(np.float32)  # a blur-like loss of contrast
        out.append(TextPair(f"{i:05d}.png", f"word{i}", x, y))
    return out


def _fake_ocr(img: np.ndarray, word: str) -> float:
    """A stand-in for Tesseract: the contrast of the image, a number in [0, 1]."""
    return float(np.clip(img.std() * 3, 0, 1))


def _oracle(y: torch.Tensor, model: KernelSpace, seed: int, reference: torch.Tensor) -> tuple[torch.Tensor, float]:
    return 0.9 * reference + 0.1 * y, 0.0


def test_motion_sizes_are_odd_and_scale_with_the_crop() -> None:
    assert motion_sizes(32) == (5, 9) and motion_sizes(64) == (11, 19) and motion_sizes(16) == (3, 3)
    for size in range(16, 300, 7):
        lo, hi = motion_sizes(size)
        assert lo % 2 == hi % 2 == 1 and 3 <= lo <= hi < size


def test_unknown_profile_and_missing_cpu_generator_are_one_line(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnknownNameError, match="choose one of: smoke, cpu, paper"):
        manifold_config("laptop")
    monkeypatch.setattr(paths, "PACKAGE_DIR", tmp_path)  # where the shipped text-cpu checkpoint would be
    with pytest.raises(BlurkitError) as info:
        manifold_generator("cpu", tmp_path / "work")
    msg = str(info.value)
    assert "\n" not in msg and "text-cpu" in msg and "blurkit gan train --profile cpu" in msg


def test_sized_crops_box_filter_skip_when_built_and_refuse_other_sizes(tmp_path: Path) -> None:
    src = tmp_path / "crops"
    rng = np.random.default_rng(0)
    crops = [{"name": f"{i:05d}.png", "word": f"w{i}"} for i in range(3)]
    for c in crops:
        write_image(src / "sharp" / c["name"], rng.random((64, 64, 3), dtype=np.float32))
    (src / "manifest.json").write_text(json.dumps({"crops": crops}))
    out = tmp_path / "sized"
    assert _sized(src, out, 32, 2) is True
    assert sorted(p.name for p in out.glob("*.png")) == ["00000.png", "00001.png"]
    big = read_image(src / "sharp" / "00001.png")
    want = big.reshape(32, 2, 32, 2, 3).mean(axis=(1, 3))
    assert np.abs(read_image(out / "00001.png") - want).max() <= 0.5 / 255 + 1e-6  # one 8-bit rounding
    assert _sized(src, out, 32, 2) is False  # built: skipped
    assert _sized(src, out, 32, 3) is True and len(list(out.glob("*.png"))) == 3
    with pytest.raises(ImageSizeError, match="not a multiple"):
        _sized(src, tmp_path / "other", 48, 1)
    for c in crops:  # a paired folder of them loads with its words
        write_image(tmp_path / "pairs" / "sharp" / c["name"], read_image(out / c["name"]))
        write_image(tmp_path / "pairs" / "blur" / c["name"], read_image(out / c["name"]))
    pairs = load_text_pairs(tmp_path / "pairs", {c["name"]: c["word"] for c in crops}, limit=2)
    assert [(p.name, p.word, p.x.shape) for p in pairs] == [("00000.png", "w0", (32, 32, 3)),
                                                             ("00001.png", "w1", (32, 32, 3))]


def _per_image(values: dict[str, list[float]], ocr: dict[str, list[float]], sets: tuple[str, ...]) -> pd.DataFrame:
    rows = [{"set": s, "image": f"{i}", "word": "w", "method": m, "psnr": v + (s == "motion"), "ssim": 0.5,
             "ocr": ocr[m][i], "ocr_sharp": 1.0, "note": "", "wall_s": 0.0}
            for s in sets for m, vals in values.items() for i, v in enumerate(vals)]
    return pd.DataFrame(rows)


def test_fig4_summary_tests_the_claim_on_the_claimed_set_only() -> None:
    psnr = {"blurry": [20.0, 21.0, 19.0, 22.0], "ours-generator": [24.0, 26.0, 23.0, 25.0],
            "better": [30.0, 31.0, 32.0, 29.0], "same": [24.0, 26.0, 23.0, 25.0]}
    ocr = {"blurry": [0.0, 0.2, 0.0, 0.1], "ours-generator": [0.5, 0.6, 0.4, 0.7], "better": [0.5, 0.6, 0.4, 0.7],
           "same": [0.5, 0.6, 0.4, 0.7]}
    summary = fig4_summary(_per_image(psnr, ocr, ("transferred", "motion")))
    by = summary.set_index(["set", "method"])
    assert list(by.index.get_level_values(0)) == ["transferred"] * 4 + ["motion"] * 4
    assert by.loc[("transferred", "blurry"), ["verdict", "ocr_verdict"]].tolist() == ["holds", "holds"]
    assert by.loc[("transferred", "blurry"), "diff_db"] == pytest.approx(4.0)
    assert by.loc[("transferred", "blurry"), "ocr_diff"] == pytest.approx(0.475)
    assert by.loc[("transferred", "better"), ["verdict", "ocr_verdict"]].tolist() == ["fails", "inconclusive"]
    same = by.loc[("transferred", "same")]
    assert same.verdict == "inconclusive" and same.ci_low == same.ci_high == 0.0 and same.n == 4
    assert by.loc[("transferred", "blurry"), "claim"] == "ours-generator > blurry"
    untested = summary[(summary.set == "motion") | (summary.method == "ours-generator")]
    assert untested[["claim", "verdict", "diff_db", "n", "ocr_verdict", "ocr_diff"]].isna().all().all()
    assert by.loc[("motion", "blurry"), "psnr"] == pytest.approx(21.5) and str(summary.n.dtype) == "Int64"


def _traces(final_psnr: dict[str, list[float]], data: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for prior in final_psnr:
        for i, (p, d) in enumerate(zip(final_psnr[prior], data[prior])):
            rows += [{"image": f"{i}", "kernel_prior": prior, "phase": "solve", "step": 0, "loss": 100.0 * d * 10,
                      "data": d * 10, "psnr": 5.0},
                     {"image": f"{i}", "kernel_prior": prior, "phase": "solve", "step": 1, "loss": 100.0 * d * 2,
                      "data": d * 2, "psnr": p - 1},
                     {"image": f"{i}", "kernel_prior": prior, "phase": "final", "step": 2, "loss": 100.0 * d,
                      "data": d, "psnr": p}]
    return pd.DataFrame(rows)


def test_fig6_summary_operationalises_convergence_per_image() -> None:
    psnr = {"encoded": [12.0, 14.0, 13.0], "conv": [8.0, 9.0, 7.5], "bicubic": [12.0, 14.0, 13.0]}
    data = {"encoded": [1e-3, 2e-3, 1e-3], "conv": [1e-2, 2e-2, 3e-2], "bicubic": [1e-4, 1e-4, 1e-4]}
    s = fig6_summary(_traces(psnr, data)).set_index("kernel_prior")
    assert list(s.index) == ["encoded", "conv", "bicubic"]
    assert s.loc["encoded", ["claim", "verdict", "fit_verdict"]].isna().all()
    assert s.loc["conv", ["claim", "verdict", "fit_verdict"]].tolist() == ["encoded > conv", "holds", "holds"]
    assert s.loc["bicubic", ["verdict", "fit_verdict"]].tolist() == ["inconclusive", "fails"]
    assert s.loc["bicubic", "fit_diff"] == pytest.approx(-10 - 10 * np.log10(2) / 3, abs=1e-3)  # 3 decimals kept
    assert s.loc["encoded", "fit_db"] == pytest.approx(np.mean(-10 * np.log10(data["encoded"])))
    assert s.loc["conv", "loss_drop_db"] == pytest.approx(10.0)  # loss 10x lower than at step 0, every image
    assert s.loc["conv", ["psnr_start", "images", "n"]].tolist() == [5.0, 3, 3]


def test_rows_traces_and_figures_on_a_tiny_generator(gen: StyleGAN2Generator, space: KernelSpace) -> None:
    sets = {"transferred": _pairs(2, 0), "motion": _pairs(2, 1)}
    methods = {"blurry": method_blurry(), "ours-generator": method_generator(gen, TINY), "oracle": _oracle}
    per_image, outputs = fig4_rows(sets, methods, space, seed=3, ocr=_fake_ocr)
    assert len(per_image) == 2 * 2 * 3 and list(outputs["motion"]) == list(methods)
    for s, g in per_image.groupby("set"):  # every method on the same images
        assert all(set(m.image) == {"00000.png", "00001.png"} for _, m in g.groupby("method"))
    ours = per_image[per_image.method == "ours-generator"]
    others = per_image[per_image.method != "ours-generator"]
    assert ours.note.str.startswith("guard: ").all() and (others.note == "").all()
    first = per_image.iloc[0]
    assert first.ocr_sharp == pytest.approx(_fake_ocr(sets["transferred"][0].x, "")) and first.ocr == pytest.approx(
        _fake_ocr(sets["transferred"][0].y, ""))
    oracle = per_image[per_image.method == "oracle"].psnr.to_numpy()
    assert (oracle > per_image[per_image.method == "blurry"].psnr.to_numpy()).all()
    traces = fig6_traces(space, gen, sets["transferred"], TINY, steps=3, seed=1)
    assert set(traces.kernel_prior) == set(PRIORS) and set(traces.image) == {"00000.png", "00001.png"}
    counts = traces.groupby(["kernel_prior", "image", "phase"]).size()
    assert (counts.xs("solve", level="phase") == 3).all() and (counts.xs("final", level="phase") == 1).all()
    start = traces[(traces.step == 0) & (traces.phase == "solve")].pivot(index="image", columns="kernel_prior",
                                                                          values="psnr")
    assert np.allclose(start.to_numpy(), start[["encoded"]].to_numpy())  # same starting latents for every prior
    for fig in (fig4_grid(sets, outputs, per_image, n_show=1), fig4_bars(per_image), fig6_figure(traces)):
        assert isinstance(fig, Figure)
