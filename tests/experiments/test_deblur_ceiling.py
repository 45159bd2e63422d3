"""The deblurring ceiling table on smoke data: rows, resume, the exact blur deblurs, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from blurkit.deblur.denoiser import DENOISER_PRESETS, Denoiser
from blurkit.errors import UnknownNameError
from blurkit.experiments import deblur_ceiling

pytestmark = pytest.mark.usefixtures("one_thread")


def test_domain_noise_follows_the_synthesis() -> None:
    reds, gopro, uniform = (deblur_ceiling.domain_noise(d) for d in ("reds-like", "gopro-like", "uniform-8"))
    assert gopro > reds > uniform  # the GOPRO-like synthesis is the noisier; uniform-8 adds none
    assert uniform == pytest.approx(1 / (255 * 12 ** 0.5))  # only 8-bit quantisation is left


def test_unknown_operator_and_prior() -> None:
    with pytest.raises(UnknownNameError, match="unknown blur operator 'blurry'"):
        deblur_ceiling.blur_operator("blurry", {}, "gopro-like", 64)
    with pytest.raises(UnknownNameError, match="unknown blur operator 'cells_24'"):
        deblur_ceiling.blur_operator("cells_24", {}, "gopro-like", 64)  # not a whole number of cells
    op = (lambda u: u, 0)
    with pytest.raises(UnknownNameError, match="unknown prior 'tv'"):
        deblur_ceiling.deblur_known(torch.rand(1, 3, 8, 8), op, "gopro-like", "tv", None, None, None)  # type: ignore


def test_ceiling_on_smoke_data_resumes(pip_photo_manifest: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from blurkit.data.default_data import build_default, default_dir

    build_default("smoke", domains=("gopro-like",), progress=False)
    side = json.loads((default_dir("smoke", "gopro-like", "test") / "manifest.json").read_text())["size"]
    den = Denoiser(DENOISER_PRESETS["smoke"]).save(tmp_path / "den.pt")  # a fresh denoiser: the identity
    kw = dict(domains=("gopro-like",), operators=("exact", "cells_32"), profile="smoke", n=2, size=side,
              denoiser=str(den), progress=False)
    summary = deblur_ceiling.run_ceiling(tmp_path / "out", **kw)
    assert len(summary) == 4 and (summary.n == 2).all()
    rows = summary.set_index(["operator", "prior"])
    assert rows.loc[("exact", "hyper_laplacian"), "gain_db"] > 1.0  # the renderer's own blur deblurs
    per = pd.read_csv(tmp_path / "out" / "deblur_ceiling_per_image.csv", dtype={"image": str})
    assert len(per) == 8 and (tmp_path / "out" / "deblur_ceiling.meta.json").exists()
    meta = json.loads((tmp_path / "out" / "deblur_ceiling.meta.json").read_text())
    assert meta["config"]["pnp_noise"] == {"gopro-like": deblur_ceiling.domain_noise("gopro-like")}
    calls = []
    monkeypatch.setattr(deblur_ceiling, "deblur_known", lambda *a: calls.append(a) or None)
    again = deblur_ceiling.run_ceiling(tmp_path / "out", **kw)
    assert calls == [] and list(again.operator) == list(summary.operator)  # every cell is on file
    # the stored PSNRs are rounded to 1e-4 dB, so a mean gain moves by at most that
    assert (again.gain_db - summary.gain_db).abs().max() <= 1e-4
    # a run of one prior resumes the same table (the denoiser's hash is in the key either way)
    monkeypatch.setattr(deblur_ceiling, "deblur_known", lambda *a: calls.append(a) or None)
    one = deblur_ceiling.run_ceiling(tmp_path / "out", **{**kw, "priors": ("hyper_laplacian",)})
    assert calls == [] and len(one) == 4 and len(pd.read_csv(tmp_path / "out" / "deblur_ceiling_per_image.csv")) == 8
    with pytest.raises(UnknownNameError, match="no recorded dynamic blur"):
        deblur_ceiling.run_ceiling(tmp_path / "out", **{**kw, "size": side // 2})


def test_kernel_variants_against_the_exact_psf(pip_photo_manifest: Path, tmp_path: Path) -> None:
    from blurkit.data.default_data import build_default, default_dir
    from blurkit.deblur.linear_xstep import XSTEP_MARGIN

    build_default("smoke", domains=("gopro-like",), progress=False)
    side = json.loads((default_dir("smoke", "gopro-like", "test") / "manifest.json").read_text())["size"]
    params = next(iter(deblur_ceiling.recorded_blur("gopro-like", "smoke", side).values()))
    apply, margin = deblur_ceiling.blur_operator("psf_mirror", params, "gopro-like", side)
    assert margin == XSTEP_MARGIN and apply(torch.rand(1, 3, side + 2 * margin, side + 2 * margin)).shape[-1] == side
    kw = dict(domains=("gopro-like",), operators=("psf", "psf_scale0", "psf_mirror"), priors=("hyper_laplacian",),
              profile="smoke", n=2, size=side, progress=False, name="tolerance", reference="psf")
    rows = deblur_ceiling.run_ceiling(tmp_path, **kw).set_index("operator")
    assert rows.loc["psf", "vs_ref_db"] == 0.0 and rows.loc["psf", "vs_ref_low"] == 0.0  # itself, image by image
    # no blur at all is a deconvolution with the identity: it returns about y, so it loses the exact PSF's gain
    assert rows.loc["psf", "gain_db"] > 1.0 and abs(rows.loc["psf_scale0", "gain_db"]) < 0.5
    assert rows.loc["psf_scale0", "vs_ref_high"] < 0
    # a run over a subset keeps the table: every cell on file stays in the per-image file and in the summary
    again = deblur_ceiling.run_ceiling(tmp_path, **{**kw, "operators": ("psf",), "reference": None})
    assert list(again.operator) == ["psf", "psf_scale0", "psf_mirror"] and "vs_ref_db" not in again
    assert (again.gain_db - rows.gain_db.reindex(again.operator).to_numpy()).abs().max() <= 1e-4  # 4-decimal file
    per = pd.read_csv(tmp_path / "tolerance_per_image.csv")
    assert sorted(per.operator.unique()) == ["psf", "psf_mirror", "psf_scale0"]
    meta = json.loads((tmp_path / "tolerance.meta.json").read_text())
    assert meta["config"]["operators"] == ["psf", "psf_scale0", "psf_mirror"]
    # a reference on file need not be run again; one neither run nor on file is refused before anything is written
    on_file = deblur_ceiling.run_ceiling(tmp_path, **{**kw, "operators": ("psf_mirror",)}).set_index("operator")
    assert abs(on_file.loc["psf_mirror", "vs_ref_db"] - rows.loc["psf_mirror", "vs_ref_db"]) <= 1e-4  # 4 decimals
    with pytest.raises(UnknownNameError, match="the reference operator 'psf_line' is neither"):
        deblur_ceiling.run_ceiling(tmp_path / "new", **{**kw, "reference": "psf_line"})
    assert not (tmp_path / "new").exists()


def test_tolerance_table_and_figure(pip_photo_manifest: Path, tmp_path: Path) -> None:
    from blurkit.data.default_data import build_default, default_dir
    from blurkit.experiments import kernel_tolerance

    build_default("smoke", domains=("gopro-like",), progress=False)
    side = json.loads((default_dir("smoke", "gopro-like", "test") / "manifest.json").read_text())["size"]
    summary = kernel_tolerance.run_tolerance(tmp_path, ("gopro-like",), profile="smoke", n=2, size=side,
                                             progress=False)
    assert list(summary.operator) == list(kernel_tolerance.TOLERANCE_OPERATORS) and (summary.n == 2).all()
    assert (tmp_path / "kernel_tolerance.png").stat().st_size > 0
    meta = json.loads((tmp_path / "kernel_tolerance.meta.json").read_text())
    assert meta["config"]["reference"] == "psf" and meta["wall_time_s"] > 0
    per = pd.read_csv(tmp_path / "kernel_tolerance_per_image.csv", dtype={"image": str})
    image = kernel_tolerance.example_image(per, "gopro-like")
    exact = per[per.operator == "psf"].set_index("image")
    assert (exact.psnr - exact.blurry_psnr).idxmax() == image
    ex = kernel_tolerance.example("gopro-like", image, "smoke", side, n=2)
    assert set(ex.kernels) == set(ex.outputs) == set(kernel_tolerance.TOLERANCE_OPERATORS)
    np.testing.assert_array_equal(ex.kernels["psf_mirror"], ex.kernels["psf"][::-1, ::-1])
    # the example deconvolves exactly as the table did: the stored PSNRs are rounded to 1e-4 dB
    assert abs(ex.psnr["psf_mirror"] - per[(per.operator == "psf_mirror") & (per.image == image)].psnr.item()) <= 1e-4
    assert ex.outputs["psf"].shape == ex.sharp.shape
    with pytest.raises(UnknownNameError, match="not one of the ladder's 2 gopro-like images"):
        kernel_tolerance.example("gopro-like", "nope", "smoke", side, n=2)
