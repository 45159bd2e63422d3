"""Blur transfer (CLI and library), the Table 1 protocol, and the training benchmark, on a tiny untrained model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from blurkit.cli import main
from blurkit.data.images import read_image
from blurkit.data.kernels import eight_kernels
from blurkit.experiments.bench import time_train_step
from blurkit.experiments.levin_protocol import disjoint_crops, kernel_transfer_psnr
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.transfer import transfer_files
from imagegen import rand_rgb, save_png


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return KernelSpace("smoke").save(tmp_path / "tiny.pt", provenance={"note": "untrained"})


def test_transfer_any_sizes_and_grayscale(tiny_model: Path, tmp_path: Path) -> None:
    save_png(tmp_path / "x.png", rand_rgb(50, 70, seed=1))
    save_png(tmp_path / "y.png", rand_rgb(50, 70, seed=2))
    save_png(tmp_path / "t.png", rand_rgb(33, 141, seed=3))
    save_png(tmp_path / "g.png", rand_rgb(40, 40, seed=4)[..., 0])
    out = transfer_files(tiny_model, tmp_path / "x.png", tmp_path / "y.png", tmp_path / "t.png", tmp_path / "o.png")
    assert read_image(out).shape == (33, 141, 3)
    out = transfer_files(tiny_model, tmp_path / "x.png", tmp_path / "y.png", tmp_path / "g.png", tmp_path / "og.png")
    assert read_image(out, mode="keep").shape == (40, 40, 1)


def test_transfer_cli_errors_are_one_line(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    save_png(tmp_path / "x.png", rand_rgb(20, 20))
    save_png(tmp_path / "y.png", rand_rgb(24, 20))
    args = ["transfer", "--source-sharp", str(tmp_path / "x.png"), "--source-blur", str(tmp_path / "y.png"),
            "--target", str(tmp_path / "x.png"), "-o", str(tmp_path / "o.png")]
    assert main([*args, "--model", str(tmp_path / "nope.pt")]) == 2
    assert "nope.pt" in capsys.readouterr().err
    assert main([*args, "--model", str(tiny_model)]) == 2
    err = capsys.readouterr().err
    assert "pair size mismatch" in err and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_levin_protocol_shapes_and_disjoint_photos(tiny_model: Path) -> None:
    S, T, photos = disjoint_crops(3, 2, 32, seed=0)
    assert S.shape == (3, 3, 32, 32) and T.shape == (2, 3, 32, 32)
    assert photos["S"] and photos["T"] and not set(photos["S"]) & set(photos["T"])
    S2, _, _ = disjoint_crops(3, 2, 32, seed=0)
    assert torch.equal(S, S2)
    table = kernel_transfer_psnr(KernelSpace.load(tiny_model), eight_kernels()[:2], S, T, progress=False)
    assert list(table.kernel) == ["kernel 1", "kernel 2"] and (table.n_pairs == 6).all()
    assert np.isfinite(table.psnr_mean).all() and (table.psnr_mean > 30).all()  # measured 33.8, 34.4 dB


def test_identity_model_scores_the_blur_gap() -> None:
    # a model that returns x unchanged scores PSNR(x_hat, k * x_hat): a known, finite number per kernel
    class Identity(KernelSpace):
        def apply(self, x, k):  # type: ignore[override]
            return x

    S, T, _ = disjoint_crops(2, 2, 32, seed=1)
    table = kernel_transfer_psnr(Identity("smoke"), eight_kernels()[:1], S, T, progress=False)
    from blurkit.data.kernels import convolve
    from blurkit.space.train import psnr

    expected = float(psnr(T, convolve(T, eight_kernels()[0]).clamp(0, 1)).mean())
    assert table.psnr_mean.iloc[0] == pytest.approx(expected, abs=1e-4)


def test_bench_times_a_step() -> None:
    secs, n = time_train_step("smoke", 64, 1, bf16=False, channels_last=True, repeats=1)
    assert secs > 0 and n == 1  # how fast is for the benchmarks to say, not a test on a busy machine


def test_transfer_ground_truth_table(pip_photo_manifest: Path, tiny_model: Path) -> None:
    from blurkit.data.default_data import build_default
    from blurkit.experiments.transfer_report import transfer_ground_truth_table

    build_default("smoke", domains=("reds-like",), progress=False)
    table = transfer_ground_truth_table({"tiny": KernelSpace.load(tiny_model)}, ["reds-like"], "smoke",
                                        n_sources=2, n_targets=1)
    assert table.transfers.iloc[0] == 2
    # an untrained F is close to the identity, so it scores close to leaving the target sharp (measured 0.58 dB)
    assert abs(table.psnr_transfer_vs_truth.iloc[0] - table.psnr_sharp_vs_truth.iloc[0]) < 1.5


def test_other_pairs_code_detects_an_operator_that_ignores_k(tmp_path: Path) -> None:
    from blurkit.experiments.transfer_report import other_pairs_code_psnr

    pairs = []
    for i in range(3):
        save_png(tmp_path / f"x{i}.png", rand_rgb(32, 32, seed=i))
        save_png(tmp_path / f"y{i}.png", rand_rgb(32, 32, seed=10 + i))
        pairs.append((tmp_path / f"x{i}.png", tmp_path / f"y{i}.png"))
    torch.manual_seed(0)
    model = KernelSpace("smoke")
    from skimage.metrics import peak_signal_noise_ratio

    def own_code_psnr() -> float:  # F(x_i, G(x_i, y_i)) against y_i, measured as other_pairs_code_psnr measures
        vals = []
        with torch.no_grad():
            for s, b in pairs:
                x, y = (torch.from_numpy(read_image(p)).permute(2, 0, 1)[None] for p in (s, b))
                out = model(x, y)[0].clamp(0, 1).permute(1, 2, 0).numpy()
                vals.append(peak_signal_noise_ratio(y[0].permute(1, 2, 0).numpy(), out, data_range=1.0))
        return float(np.mean(vals))

    # a fresh F reads k, weakly (small init): measured 4.6e-4 dB apart, against 0 when k is ignored
    assert abs(other_pairs_code_psnr(model, pairs) - own_code_psnr()) > 1e-4
    with torch.no_grad():
        model.F.dec[0][0].weight[model.config.f_widths[-1]:].zero_()  # cut k off (bottleneck ...
        model.F.k_weights.weight.zero_()  # ... and the basis head's direct path)
    # k now only meets exact zeros (0 * k = 0, and adding 0 leaves any sum unchanged, whatever the summation order
    # a CPU picks), so the two measures run the same arithmetic on the same numbers: equal, not just close
    assert other_pairs_code_psnr(model, pairs) == own_code_psnr()


def test_reconstruction_per_pair_and_the_noise_free_ceiling(pip_photo_manifest: Path, tiny_model: Path) -> None:
    from blurkit.data.datasets import resolve_pairs
    from blurkit.data.default_data import build_default, default_set, noise_free_blur
    from blurkit.errors import BlurkitError
    from blurkit.experiments.transfer_report import reconstruction_per_pair
    from blurkit.space.train import validate

    build_default("smoke", domains=("reds-like", "uniform-8"), progress=False)
    model = KernelSpace.load(tiny_model)
    table = reconstruction_per_pair(model, "reds-like", "smoke", limit=3)
    assert list(table.columns) == ["pair", "moving_objects", "psnr_blurry", "psnr_reconstruction", "psnr_noise_free"]
    pairs = resolve_pairs("reds-like", "test", "smoke")[:3]
    assert len(table) == len(pairs) >= 2 and set(table.moving_objects) <= {0, 1}
    assert table.psnr_reconstruction.mean() == pytest.approx(validate(model, pairs, torch.device("cpu")), abs=0.05)
    # reds-like pairs carry noise: the noise-free render differs from the stored image, but only by the noise
    assert table.psnr_noise_free.between(40, 52).all()  # measured 42.7 and 46.1 dB
    # uniform-8 has no noise: the render is the stored image up to 8-bit rounding
    folder = default_set("uniform-8", "test", "smoke")
    name = resolve_pairs("uniform-8", "test", "smoke")[0][1].name
    assert np.abs(noise_free_blur(folder, name) - read_image(folder / "blur" / name)).max() <= 0.5 / 255 + 1e-6
    with pytest.raises(BlurkitError, match="not a pair"):
        noise_free_blur(folder, "nope.png")


def test_reconstruct_cli_compares_models(pip_photo_manifest: Path, tiny_model: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    import json

    import pandas as pd

    from blurkit.data.default_data import build_default

    build_default("smoke", domains=("reds-like",), progress=False)
    coarse = KernelSpace.load(tiny_model)
    fine = KernelSpace("smoke-fine")
    fine.init_from(coarse)
    fine_path = fine.save(tmp_path / "fine.pt", provenance={"steps": 7})
    args = ["reconstruct", "-m", f"coarse={tiny_model}", "-m", f"fine={fine_path}", "--data", "reds-like",
            "--limit", "3", "--out-dir", str(tmp_path / "res"), "--name", "ablation"]
    assert main(args) == 0
    summary = pd.read_csv(tmp_path / "res" / "ablation.csv")
    per_pair = pd.read_csv(tmp_path / "res" / "ablation_per_pair.csv")
    assert list(summary.model) == ["coarse", "fine"] and list(summary.code_stride) == [128, 32]
    assert summary.delta_vs_first.iloc[0] == 0 and abs(summary.delta_vs_first.iloc[1]) < 1e-3  # exact init
    assert summary.steps.iloc[1] == 7 and len(per_pair) == 2 * summary.pairs.iloc[0]
    assert set(per_pair.model) == {"coarse", "fine"}
    moving = per_pair[per_pair.model == "coarse"].moving_objects > 0
    coarse_pp = per_pair[per_pair.model == "coarse"].psnr_reconstruction
    if moving.any():
        assert summary.psnr_moving_object.iloc[0] == pytest.approx(coarse_pp[moving].mean(), abs=1e-3)
    meta = json.loads((tmp_path / "res" / "ablation.meta.json").read_text())
    assert len(meta["config"]["models"]["fine"]["sha256"]) == 64 and meta["config"]["data"] == "reds-like"
    capsys.readouterr()
    assert main(["reconstruct", "-m", "a=x.pt", "-m", "a=y.pt"]) == 2
    assert "given twice" in capsys.readouterr().err
