"""Kernel retrieval, `blurkit deblur` (files, resume, CLI), `blurkit bench deblur`, and the report tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from blurkit.cli import main
from blurkit.data.images import read_image
from blurkit.deblur.deblur_config import DEBLUR_PRESETS
from blurkit.deblur.deblur_files import deblur_files, output_names
from blurkit.deblur.retrieval import RETRIEVAL_COLUMNS, retrieve_kernel
from blurkit.space.code_estimator import CodeEstimator, estimator_path
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import psnr
from imagegen import rand_rgb, save_png

SMOKE = DEBLUR_PRESETS["smoke"]


@pytest.fixture(scope="module")
def model() -> KernelSpace:
    torch.manual_seed(0)
    return KernelSpace("smoke").eval()


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = KernelSpace("smoke").save(tmp_path / "tiny.pt", provenance={"note": "untrained"})
    # the fast preset's code estimator, beside the model as `blurkit train-estimator` puts it (untrained: G's copy)
    CodeEstimator.from_kernel_space(KernelSpace.load(path)).save(estimator_path(path), {"note": "untrained"})
    return path


@pytest.mark.parametrize("k_param", ["dip", "code"])
def test_retrieval_shapes_and_trace(model: KernelSpace, k_param: str) -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, 3, 20, 30, generator=g), torch.rand(2, 3, 20, 30, generator=g)
    cfg = SMOKE.replace(k_param=k_param, k_init="extract")
    res = retrieve_kernel(model, x, y, cfg, progress=False)
    assert res.k.shape == (2, model.config.kdim, 1, 1) and res.y_hat.shape == y.shape
    assert res.psnr.shape == (2,) and list(res.trace.columns) == RETRIEVAL_COLUMNS
    assert torch.allclose(res.psnr, psnr(model.apply(x, res.k), y), atol=1e-4)


def test_retrieval_recovers_a_known_code(model: KernelSpace) -> None:
    """y = F(x, k_true): retrieving k from G's start gets F(x, k) closer to y than the start was."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 32, 32, generator=g)
    with torch.no_grad():
        k_true = model.encode(x, x) + 2.0 * torch.randn(1, model.config.kdim, 1, 1, generator=g)
        y = model.apply(x, k_true)
    cfg = DEBLUR_PRESETS["fast"].replace(steps=60, lam=0.0, k_lr=5e-2)
    res = retrieve_kernel(model, x, y, cfg, progress=False)
    assert float(res.psnr[0]) > float(res.psnr_start[0]) + 10.0  # measured +11.8 dB, 1.8 dB margin


def test_retrieval_bad_input(model: KernelSpace) -> None:
    with pytest.raises(ValueError, match="same shape"):
        retrieve_kernel(model, torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9), SMOKE, progress=False)


def test_deblur_files_grayscale_kernels_and_skip(tiny_model: Path, tmp_path: Path) -> None:
    save_png(tmp_path / "in" / "a.png", rand_rgb(21, 30, seed=1))
    save_png(tmp_path / "in" / "g.png", rand_rgb(16, 16, seed=2)[..., 0])
    inputs = [tmp_path / "in" / "a.png", tmp_path / "in" / "g.png"]
    log = deblur_files(inputs, tmp_path / "out", model=tiny_model, config="smoke", save_kernel=True, progress=False)
    assert list(log.status) == ["done", "done"]
    assert read_image(tmp_path / "out" / "a.png").shape == (21, 30, 3)
    assert read_image(tmp_path / "out" / "g.png", mode="keep").shape == (16, 16, 1)
    assert torch.load(tmp_path / "out" / "a.png.kernel.pt").shape[0] == 1
    assert pd.read_csv(tmp_path / "out" / "deblur_log.csv").shape[0] == 2
    assert (tmp_path / "out" / "deblur_log.meta.json").exists()
    again = deblur_files(inputs, tmp_path / "out", model=tiny_model, config="smoke", skip_existing=True,
                         progress=False)
    assert list(again.status) == ["skipped (exists)"] * 2


def test_interrupted_run_keeps_finished_images(tiny_model: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import blurkit.deblur.deblur_files as mod

    save_png(tmp_path / "a.png", rand_rgb(16, 16, seed=1))
    save_png(tmp_path / "b.png", rand_rgb(16, 16, seed=2))
    real = mod.deblur
    calls = []

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(mod, "deblur", flaky)
    with pytest.raises(KeyboardInterrupt):
        deblur_files([tmp_path / "a.png", tmp_path / "b.png"], tmp_path / "out", model=tiny_model, config="smoke",
                     progress=False)
    assert (tmp_path / "out" / "a.png").exists() and not (tmp_path / "out" / "b.png").exists()
    assert pd.read_csv(tmp_path / "out" / "deblur_log.csv").status.tolist() == ["done"]


def test_output_names_tell_clashing_inputs_apart(tmp_path: Path) -> None:
    assert output_names([tmp_path / "s1" / "a.png", tmp_path / "s2" / "a.png"]) == ["s1__a.png", "s2__a.png"]


def test_deblur_cli(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    save_png(tmp_path / "a.png", rand_rgb(20, 20, seed=1))
    args = ["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--model", str(tiny_model)]
    assert main([*args, "--profile", "smoke"]) == 0
    assert "deblurred 1 image" in capsys.readouterr().out
    assert main([*args, "--profile", "quick"]) == 2
    assert "fast" in capsys.readouterr().err
    assert main(["deblur", str(tmp_path / "nope.png"), "-o", str(tmp_path / "o2"), "--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "nope.png" in err and "Traceback" not in err


def test_bench_deblur_smoke(pip_photo_manifest: Path, tiny_model: Path, tmp_path: Path) -> None:
    from blurkit.data.default_data import build_default
    from blurkit.experiments.bench_deblur import bench_deblur

    build_default("smoke", domains=("gopro-like",), progress=False)
    summary = bench_deblur(tmp_path, profile="smoke", model=str(tiny_model), n_images=1)
    assert list(summary.image) == ["00000", "mean"]
    assert {"paper_psnr", "fast_psnr", "time_ratio_fast_to_paper", "selfdeblur_psnr", "fast_gain_vs_selfdeblur_db",
            "fast_gain_vs_blurry_db"} <= set(summary.columns)
    trace = pd.read_csv(tmp_path / "deblur_trace.csv")
    assert set(trace.schedule) == {"paper", "fast"}
    assert (tmp_path / "deblur_psnr_vs_time.png").exists() and (tmp_path / "deblur.meta.json").exists()
    assert len(list((tmp_path / "deblur_cells").glob("00000.*.json"))) == 2


def test_bench_deblur_resumes_finished_cells(pip_photo_manifest: Path, tiny_model: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from blurkit.data.default_data import build_default
    from blurkit.experiments import bench_deblur as bd

    build_default("smoke", domains=("gopro-like",), progress=False)
    first = bd.bench_deblur(tmp_path, profile="smoke", model=str(tiny_model), n_images=1, with_selfdeblur=False)
    monkeypatch.setattr(bd, "deblur", lambda *a, **k: pytest.fail("a finished cell was computed again"))
    again = bd.bench_deblur(tmp_path, profile="smoke", model=str(tiny_model), n_images=1, with_selfdeblur=False)
    pd.testing.assert_frame_equal(first, again)
    assert bd.time_to_reach(pd.DataFrame({"phase": ["start", "solve"], "psnr": [30.0, 29.0],
                                          "time_s": [0.0, 1.0]}), 29.5) != 0.0  # the start row does not count


def test_report_tables(pip_photo_manifest: Path, model: KernelSpace) -> None:
    from blurkit.data.default_data import build_default
    from blurkit.experiments.deblur_report import (
        deblur_methods,
        load_pairs,
        method_blurry,
        method_ours,
        methods_summary,
        retrieval_rows,
        table3,
        to_tensor,
    )

    build_default("smoke", domains=("reds-like", "gopro-like"), progress=False)
    rows = retrieval_rows({"reds-like": model, "gopro-like": model}, ["reds-like", "gopro-like"], "smoke",
                          SMOKE.replace(k_param="code", k_init="extract"), limit=2)
    t3 = table3(rows)
    assert list(t3.entry) == ["train REDS/test REDS4", "train REDS/test GOPRO", "train GOPRO/test REDS4",
                              "train GOPRO/test GOPRO"]
    assert t3.paper.notna().all() and t3.ours.notna().all()
    assert t3.verdict.isna().tolist() == [True, False, False, True]  # cross-domain entries only
    assert set(t3.verdict.dropna()) <= {"holds", "fails", "inconclusive"} and (t3.n.dropna() == 2).all()
    pairs = load_pairs("gopro-like", "smoke", limit=2, size=32)
    per, outs = deblur_methods(pairs, model, {"blurry": method_blurry(), "ours": method_ours("smoke")}, seed=3,
                               progress=False)
    summary = methods_summary(per).set_index("method")
    assert list(summary.index) == ["blurry", "ours"] and (summary.images == 2).all()
    # every number recomputed here from the images: the blurry row is PSNR(y, x), ours PSNR(solver output, x)
    from blurkit.deblur.metrics import psnr as psnr_np
    from blurkit.deblur.solver import deblur

    blurry = [psnr_np(y, x) for _, x, y in pairs]
    assert summary.psnr["blurry"] == pytest.approx(np.mean(blurry), abs=1e-9)
    for i, (_, x, y) in enumerate(pairs):
        np.testing.assert_array_equal(outs["blurry"][i], y)
        # the same solver run again (same seed, the image index added as the method sees it) gives the same output
        again = deblur(model, to_tensor(y), "smoke", seed=3 + i, reference=to_tensor(x), progress=False).x
        np.testing.assert_array_equal(outs["ours"][i], again[0].permute(1, 2, 0).clamp(0, 1).numpy())
        assert np.abs(outs["ours"][i] - y).mean() > 1e-3  # the solver changed the image
    ours = [psnr_np(o, x) for o, (_, x, _) in zip(outs["ours"], pairs)]
    assert per[per.method == "ours"].psnr.tolist() == pytest.approx(ours, abs=1e-9)
    assert summary.psnr["ours"] == pytest.approx(np.mean(ours), abs=1e-9)
    assert summary.psnr_gain_vs_blurry["ours"] == pytest.approx(np.mean(ours) - np.mean(blurry), abs=1e-9)
    assert summary.psnr_gain_vs_blurry["blurry"] == 0  # the reference row


def test_table3_keys_each_kernel_space_by_its_training_domain(pip_photo_manifest: Path, model: KernelSpace) -> None:
    import copy

    from blurkit.data.default_data import build_default
    from blurkit.errors import BlurkitError
    from blurkit.experiments.deblur_report import retrieval_rows, table3

    build_default("smoke", domains=("reds-like", "gopro-like"), progress=False)
    named = copy.copy(model)  # the same networks under another name, trained (says its record) on reds-like
    named.provenance = {"config": {"data": "reds-like"}}
    assert named.training_domain == "reds-like" and model.training_domain is None
    rows = retrieval_rows({"my-space": named, "gopro-like": model}, ["reds-like", "gopro-like"], "smoke",
                          SMOKE.replace(k_param="code", k_init="extract"), limit=2)
    assert rows.groupby("model", sort=False).train.first().to_dict() == {"my-space": "reds-like",
                                                                         "gopro-like": "gopro-like"}
    t3 = table3(rows)
    assert list(t3.entry) == ["train REDS/test REDS4", "train REDS/test GOPRO", "train GOPRO/test REDS4",
                              "train GOPRO/test GOPRO"]
    assert t3.verdict.isna().tolist() == [True, False, False, True]
    with pytest.raises(BlurkitError, match="one kernel space per training domain"):
        table3(rows.assign(train="reds-like"))


def test_bench_cells_are_keyed_on_the_model_and_estimator_files(tiny_model: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from blurkit.deblur.deblur_config import DEBLUR_PRESETS
    from blurkit.experiments.bench_deblur import _cell_path
    from blurkit.space.code_estimator import CodeEstimator, estimator_path
    from blurkit.space.kernel_space import KernelSpace

    model = tmp_path / "m" / "model.pt"
    model.parent.mkdir()
    shutil.copy(tiny_model, model)
    paper, fast = DEBLUR_PRESETS["smoke"], DEBLUR_PRESETS["fast"]
    ks = KernelSpace.load(model)  # the bench's loaded space (the fallback's record reads its side and domain)
    before = {c: _cell_path(tmp_path, "00000", c, cfg, str(model), 0, ks) for c, cfg in (("p", paper), ("f", fast))}
    CodeEstimator.from_kernel_space(ks).save(estimator_path(model))
    assert _cell_path(tmp_path, "00000", "p", paper, str(model), 0, ks) == before["p"]  # no estimator in its schedule
    assert _cell_path(tmp_path, "00000", "f", fast, str(model), 0, ks) != before["f"]
    with torch.no_grad():
        next(ks.parameters()).add_(1.0)
    ks.save(model)
    assert _cell_path(tmp_path, "00000", "p", paper, str(model), 0, ks) != before["p"]
    # the fallback's settings key fast's cells (a changed blend is run again), not the paper schedule's
    from blurkit.deblur import tv_fallback

    keyed = {c: _cell_path(tmp_path, "00000", c, cfg, str(model), 0, ks) for c, cfg in (("p", paper), ("f", fast))}
    monkeypatch.setattr(tv_fallback, "TV_KERNEL_BLEND", 0.5)
    assert _cell_path(tmp_path, "00000", "f", fast, str(model), 0, ks) != keyed["f"]
    assert _cell_path(tmp_path, "00000", "p", paper, str(model), 0, ks) == keyed["p"]
