"""Blind deblurring on a StyleGAN2 manifold (paper Sec. 3.3): latents on their sphere, GEOCROSS, the three kernel
priors, sizes, checkpoints by name or path and the CLI path, on a tiny random generator and kernel space."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from blurkit.space.losses import psnr
from tolerances import sum_tol
from typer.testing import CliRunner

from blurkit.cli import app, main
from blurkit.data.images import write_image
from blurkit.deblur.generator_prior import (
    GENERATOR_PRIOR_PRESETS,
    TRACE_COLUMNS,
    GeneratorPriorConfig,
    deblur_generator,
    gaussian_fit,
    generator_prior_config,
    geocross,
    project_to_sphere_,
    resolve_generator,
)
from blurkit.deblur.guard import GuardDecision
from blurkit.errors import BlurkitError, ImageSizeError, UnknownNameError
from blurkit.generator.stylegan2 import StyleGAN2Generator, generator_preset, to_unit
from blurkit.paths import data_root
from blurkit.space.kernel_space import KernelSpace

pytestmark = pytest.mark.usefixtures("one_thread")
SMOKE = GENERATOR_PRIOR_PRESETS["smoke"]


@pytest.fixture(scope="module")
def gen() -> StyleGAN2Generator:
    torch.manual_seed(0)
    g = StyleGAN2Generator(generator_preset("smoke")).eval()  # 32 px, style_dim 16, 8 W+ layers
    with torch.no_grad():  # noise strengths start at 0; a trained generator's are not (else noise gets no gradient)
        for name, p in g.named_parameters():
            if name.endswith("noise.weight"):
                p.fill_(0.1)
    return g


@pytest.fixture(scope="module")
def space() -> KernelSpace:
    torch.manual_seed(0)
    return KernelSpace("smoke").eval()


def _truth(gen: StyleGAN2Generator, space: KernelSpace, seed: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """A sharp image on the generator's manifold, x* = G(w*), and y = F(x*, k*) with a known code k*."""
    fit = gaussian_fit(gen, SMOKE.fit_samples, SMOKE.fit_seed)
    g = torch.Generator().manual_seed(seed)
    v = project_to_sphere_(torch.randn(1, gen.n_latent, gen.style_dim, generator=g), [2])
    with torch.no_grad():
        x = to_unit(gen.synthesis_from_wplus(fit.to_wplus(v)))
        k = space.encode(x, x) + 0.5 * torch.randn(1, space.config.kdim, 1, 1, generator=g)
        y = space.apply(x, k).clamp(0, 1)
    return x, y


def _blurry(seed: int = 0, c: int = 3) -> torch.Tensor:
    return torch.rand(1, c, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_smoke_run_shapes_ranges_and_trace(gen, space) -> None:  # type: ignore[no-untyped-def]
    x_true, y = _truth(gen, space)
    res = deblur_generator(space, gen, y, "smoke", reference=x_true, progress=False)
    assert res.x.shape == y.shape and float(res.x.min()) >= 0 and float(res.x.max()) <= 1
    assert res.k.shape == (1, space.config.kdim, 1, 1) and res.k_init == "extract"
    assert res.w_plus.shape == res.latents.shape == (1, gen.n_latent, gen.style_dim)
    assert list(res.trace.columns) == TRACE_COLUMNS
    phases = list(res.trace.phase)
    assert phases[:-2] == ["solve"] * SMOKE.steps and phases[-2] == "final" and phases[-1].startswith("guard:")
    assert np.isfinite(res.trace[["loss", "data", "geocross", "k_norm"]].to_numpy()).all()
    assert res.trace.psnr.notna().all() and (res.trace.kernel_prior == "encoded").all()
    (decision,) = res.guard
    assert isinstance(decision, GuardDecision) and phases[-1] == f"guard:{decision.reason}"
    if not decision.keep:
        assert torch.equal(res.x, y)


def test_the_output_is_the_generator_image_of_the_returned_latents(gen, space) -> None:  # type: ignore[no-untyped-def]
    x_true, y = _truth(gen, space)
    res = deblur_generator(space, gen, y, SMOKE.replace(steps=4, guard=False), reference=x_true, progress=False)
    with torch.no_grad():
        again = to_unit(gen.synthesis_from_wplus(res.w_plus))
    # once mapped from [-1, 1], not twice (a second (x + 1) / 2 kept every output in [0.5, 1])
    torch.testing.assert_close(res.x, again, rtol=0, atol=1e-6)
    final = res.trace[res.trace.phase == "final"].iloc[0]
    assert final.psnr == pytest.approx(float(psnr(again, x_true)[0]), abs=1e-4)


def test_grayscale_batch_each_image_its_own_seed(gen, space) -> None:  # type: ignore[no-untyped-def]
    cfg = SMOKE.replace(steps=3, guard=False)
    y = torch.cat([_blurry(1, c=1), _blurry(2, c=1)])
    both = deblur_generator(space, gen, y, cfg, seed=4, progress=False)
    second = deblur_generator(space, gen, y[1:], cfg, seed=5, progress=False)
    assert both.x.shape == (2, 1, 32, 32) and set(both.trace.image) == {0, 1}
    assert torch.equal(both.x[1:], second.x) and torch.equal(both.k[1:], second.k)


def test_latents_and_noise_stay_on_their_spheres_after_every_step(gen, space) -> None:  # type: ignore[no-untyped-def]
    seen: list[dict] = []
    cfg = SMOKE.replace(steps=6, noise=True, noise_layers=3, latent_lr=0.5, guard=False)
    deblur_generator(space, gen, _blurry(), cfg, progress=False, callback=seen.append)
    assert [s["row"]["step"] for s in seen] == [0, 1, 2, 3, 4, 5, 6]
    d = gen.style_dim
    # the projection sums d float32 squares (rounding <= (d + 1) eps relative), divides and multiplies (2 eps more)
    tol = sum_tol(d + 2, math.sqrt(d))
    for s in seen:
        norms = torch.linalg.vector_norm(s["latents"].double(), dim=-1)
        assert torch.allclose(norms, torch.full_like(norms, math.sqrt(d)), rtol=0, atol=tol), norms
        for j, n in enumerate(s["noise"][:3]):  # the trainable maps: radius sqrt(r * r) = r
            r = n.shape[-1]
            assert abs(float(torch.linalg.vector_norm(n.double())) - r) <= sum_tol(r * r + 2, r), j
    assert not torch.equal(seen[0]["latents"], seen[-1]["latents"])
    assert not torch.equal(seen[0]["noise"][0], seen[-1]["noise"][0])
    assert torch.equal(seen[0]["noise"][5], seen[-1]["noise"][5])  # beyond noise_layers: fixed


def test_geocross_is_zero_for_identical_latents_and_positive_otherwise() -> None:
    g = torch.Generator().manual_seed(0)
    same = torch.randn(2, 1, 16, generator=g).expand(2, 8, 16).clone().requires_grad_(True)
    value = geocross(same)
    assert torch.equal(value, torch.zeros(2))
    value.sum().backward()
    assert torch.isfinite(same.grad).all()  # no sqrt(0) in the graph
    apart = torch.randn(2, 8, 16, generator=g)
    assert (geocross(apart) > 0).all()
    one_differs = same.detach().clone()
    one_differs[0, 3] += 0.1
    out = geocross(one_differs)
    assert out[0] > 0 and out[1] == 0


def test_loss_decreases_when_y_comes_from_the_manifold(gen, space) -> None:  # type: ignore[no-untyped-def]
    x_true, y = _truth(gen, space)
    res = deblur_generator(space, gen, y, SMOKE.replace(steps=30, guard=False), reference=x_true, progress=False)
    solve = res.trace[res.trace.phase == "solve"]
    final = res.trace[res.trace.phase == "final"].iloc[0]
    assert final.loss < 0.5 * solve.loss.iloc[0]  # measured 45 -> 7.8
    assert final.data < solve.data.iloc[0] and final.loss <= solve.loss.min()  # keep="best": the lowest loss


def test_deterministic_for_a_seed(gen, space) -> None:  # type: ignore[no-untyped-def]
    y = _blurry(3)
    cfg = SMOKE.replace(steps=4)
    a = deblur_generator(space, gen, y, cfg, seed=7, progress=False)
    b = deblur_generator(space, gen, y, cfg, seed=7, progress=False)
    c = deblur_generator(space, gen, y, cfg, seed=8, progress=False)
    assert torch.equal(a.x, b.x) and torch.equal(a.k, b.k) and torch.equal(a.latents, b.latents)
    assert a.trace.loss.tolist() == b.trace.loss.tolist()
    assert not torch.equal(a.latents, c.latents)


@pytest.mark.parametrize("prior", ["encoded", "conv", "bicubic", "none"])
def test_each_kernel_prior_runs_and_records_its_loss(gen, space, prior) -> None:  # type: ignore[no-untyped-def]
    x_true, y = _truth(gen, space)
    res = deblur_generator(space, gen, y, SMOKE.replace(kernel_prior=prior), reference=x_true, progress=False)
    solve = res.trace[res.trace.phase == "solve"]
    assert solve.step.tolist() == list(range(SMOKE.steps)) and np.isfinite(solve.loss).all()
    assert (res.trace.kernel_prior == prior).all()
    if prior == "encoded":
        assert res.k.shape == (1, space.config.kdim, 1, 1)
    elif prior == "conv":
        assert res.k.shape == (1, SMOKE.conv_size, SMOKE.conv_size) and float(res.k.min()) >= 0
        assert abs(float(res.k.sum()) - 1) <= sum_tol(SMOKE.conv_size ** 2)
    else:
        assert res.k.shape == (1, 0)
    assert res.guard == ([None] if prior != "encoded" else res.guard) and res.k_init in ("extract", "none")


def test_code_starts_at_the_given_estimator(gen, space) -> None:  # type: ignore[no-untyped-def]
    code = torch.randn(1, space.config.kdim, 1, 1, generator=torch.Generator().manual_seed(1))
    cfg = SMOKE.replace(steps=2, k_lr=0.0, guard=False)
    res = deblur_generator(space, gen, _blurry(), cfg, progress=False, estimator=lambda y: code)
    assert res.k_init == "estimate" and torch.equal(res.k, code)
    with pytest.raises(BlurkitError, match="estimator"):  # an in-memory model has no estimator file beside it
        deblur_generator(space, gen, _blurry(), cfg.replace(k_init="estimate"), progress=False)


def test_wrong_size_gives_one_line(gen, space) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ImageSizeError) as err:
        deblur_generator(space, gen, torch.rand(1, 3, 32, 48), "smoke", progress=False)
    assert "\n" not in str(err.value) and "32x48" in str(err.value) and "32x32" in str(err.value)


def test_config_profiles_and_validation() -> None:
    assert set(GENERATOR_PRIOR_PRESETS) == {"smoke", "fast", "paper"}
    assert generator_prior_config("fast") == GeneratorPriorConfig() and not GeneratorPriorConfig().noise
    for cfg in GENERATOR_PRIOR_PRESETS.values():
        d = json.loads(json.dumps(cfg.to_dict()))
        assert GeneratorPriorConfig(**d) == cfg
    with pytest.raises(ValueError, match="kernel_prior"):
        GeneratorPriorConfig(kernel_prior="gaussian")
    with pytest.raises(ValueError, match="conv_size"):
        GeneratorPriorConfig(conv_size=4)
    with pytest.raises(UnknownNameError, match="smoke, fast, paper"):
        generator_prior_config("fast-adam")


def test_named_checkpoint_missing_gives_one_line() -> None:
    with pytest.raises(BlurkitError) as err:
        resolve_generator("ffhq-256")
    msg = str(err.value)
    assert "\n" not in msg and "'ffhq-256'" in msg and "stylegan2_checkpoints.json" in msg
    assert str(data_root() / "checkpoints" / "stylegan2-ffhq-256.pt") in msg
    with pytest.raises(UnknownNameError, match="ffhq-256, text-cpu"):
        resolve_generator("celeba-1024")


def test_saved_checkpoint_resolves_by_path(gen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "tiny.pt"
    torch.save({"g_ema": gen.state_dict()}, path)  # rosinality's layout
    w = torch.randn(1, gen.n_latent, gen.style_dim, generator=torch.Generator().manual_seed(2))
    for ref in (path, str(path)):
        loaded = resolve_generator(ref)
        assert loaded.config.size == 32 and loaded.style_dim == gen.style_dim
        with torch.no_grad():
            assert torch.equal(loaded.synthesis_from_wplus(w), gen.synthesis_from_wplus(w))


def test_cli_generator_prior(gen, space, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    img, ckpt, ks = tmp_path / "face.png", tmp_path / "g.pt", tmp_path / "ks.pt"
    write_image(img, _blurry(4)[0].permute(1, 2, 0).numpy())
    torch.save({"g_ema": gen.state_dict()}, ckpt)
    space.save(ks)
    out = tmp_path / "out"
    run = CliRunner().invoke(app, ["deblur", str(img), "-o", str(out), "--model", str(ks), "--profile", "smoke",
                                   "--prior", "generator", "--generator", str(ckpt), "--save-kernel"])
    assert run.exit_code == 0, run.output
    assert "with the generator prior" in run.output
    assert (out / "face.png").is_file() and (out / "face.png.kernel.pt").is_file()
    log = pd.read_csv(out / "deblur_log.csv")
    assert log.status.tolist() == ["done"] and log.guard.iloc[0] in ("trusted", "no blur", "poor fit", "amplified")
    base = ["deblur", str(img), "-o", str(tmp_path / "o2"), "--model", str(ks), "--profile", "smoke"]
    assert main([*base, "--prior", "generator"]) == 2  # no --generator
    assert main([*base, "--generator", str(ckpt)]) == 2  # --generator without --prior generator
    assert main([*base, "--prior", "dip"]) == 2
