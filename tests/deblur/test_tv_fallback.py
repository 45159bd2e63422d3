"""y deconvolved with its own blind TV kernel: the solver, its settings, and the ``fast`` preset's fallback."""

from __future__ import annotations

import pytest
import torch
from blurscenes import blur, count_estimates, line, scene

from blurkit.data.kernel_extent import domain_extent
from blurkit.deblur import tv_fallback
from blurkit.deblur.deblur_config import DEBLUR_PRESETS, DeblurConfig
from blurkit.deblur.linear_xstep import PRESET_XSTEP
from blurkit.deblur.metrics import psnr as image_psnr
from blurkit.deblur.psf import estimate_field, kernel_field, psf_field
from blurkit.deblur.tv_fallback import (
    SMOKE_TV_KERNEL,
    TV_KERNEL_QUANTILE,
    kernel_deconvolution,
    tv_kernel_deblur,
    tv_kernel_settings,
)
from blurkit.deblur.tv_kernel import TVKernelConfig
from blurkit.experiments.deblur_report import to_image
from blurkit.space.kernel_space import KernelSpace

pytestmark = pytest.mark.usefixtures("one_thread")
ITERS = SMOKE_TV_KERNEL.iters


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR of two ``(1, C, H, W)`` images in [0, 1] (the library's metric)."""
    return image_psnr(to_image(a), to_image(b))


@pytest.fixture()
def tiny() -> KernelSpace:
    """An untrained smoke kernel space with no training domain (F's side, a linear curve)."""
    torch.manual_seed(0)
    return KernelSpace("smoke").eval()


def test_kernel_deconvolution_undoes_a_known_blur() -> None:
    """With the true kernel the solver gains several dB over y, on a square and on a wide image; a one-tap kernel
    leaves y nearly as it is; a kernel of even side or not square is refused."""
    for x in (scene(), scene(36, 60)):
        y = blur(x, line())
        out = kernel_deconvolution(y, line(), "linear", PRESET_XSTEP)
        assert out.shape == y.shape and 0 <= float(out.min()) and float(out.max()) <= 1
        assert psnr(out, x) > psnr(y, x) + 3
    delta = torch.zeros(7, 7)
    delta[3, 3] = 1.0
    assert psnr(kernel_deconvolution(y, delta, "linear", PRESET_XSTEP), y) > 30
    for bad in (torch.ones(6, 6) / 36, torch.ones(5, 7) / 35, torch.ones(1, 7, 7) / 49):
        with pytest.raises(ValueError, match="square with an odd side"):
            kernel_deconvolution(y, bad, "linear", PRESET_XSTEP)


def test_settings_come_from_the_training_domain(tiny: KernelSpace) -> None:
    """A space trained on reds-like estimates at that domain's median blur extent and linearises with its curve; a
    space without a known domain uses F's side and no curve; ``iters`` sets the steps per scale."""
    shipped = KernelSpace.load("reds-like")
    config, crf = tv_kernel_settings(shipped)
    assert config.size == min(shipped.config.basis_size, domain_extent("reds-like", TV_KERNEL_QUANTILE)) == 13
    assert crf == "filmic" and config.iters == TVKernelConfig().iters
    assert tiny.training_domain is None
    config, crf = tv_kernel_settings(tiny, ITERS)
    assert (config.size, config.iters, crf) == (tiny.config.basis_size, ITERS, "linear")


def test_the_fallback_blends_checks_blobs_and_estimates_once(tiny: KernelSpace,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The fallback is ``y + blend (x̂ - y)`` with x̂ the one estimate's deconvolution; more blobs than allowed, or
    a crop too small for the kernel, return y exactly; a bad image or blend is refused in one line."""
    calls = count_estimates(monkeypatch)
    y = blur(scene(), line(5))
    config, crf = tv_kernel_settings(tiny, ITERS)
    x_hat, kernel, blobs, _ = tv_kernel_deblur(tiny, y, config, crf, tv_fallback.TV_FALLBACK_XSTEP)
    full, k_full, reason = tv_fallback.tv_fallback(tiny, y, ITERS, max_blobs=None, blend=1.0)
    half, _, _ = tv_fallback.tv_fallback(tiny, y, ITERS, max_blobs=None, blend=0.5)
    assert reason == "tv_kernel" and len(calls) == 1 and torch.equal(k_full, kernel)
    tol = 4 * torch.finfo(torch.float32).eps  # the blend's float32 rounding, on values in [0, 1]
    assert torch.allclose(full, x_hat, rtol=0, atol=tol) and not torch.equal(full, y)
    assert torch.allclose(half, y + 0.5 * (x_hat - y), rtol=0, atol=tol)
    full[:] = 0  # the stored estimate is not the caller's to edit
    assert torch.allclose(tv_fallback.tv_fallback(tiny, y, ITERS, max_blobs=None, blend=1.0)[0], x_hat, rtol=0,
                          atol=tol)
    out, k, reason = tv_fallback.tv_fallback(tiny, y, ITERS, max_blobs=blobs - 1)
    assert torch.equal(out, y) and k is None and reason == "tv_kernel:blobs"
    small = y[..., : 2 * config.size - 1, : 2 * config.size - 1]
    assert tv_fallback.tv_fallback(tiny, small, ITERS)[2] == "tv_kernel:small"
    with pytest.raises(ValueError, match="blend must be in"):
        tv_fallback.tv_fallback(tiny, y, ITERS, blend=0.0)
    with pytest.raises(ValueError, match="one image"):
        tv_fallback.tv_fallback(tiny, y.expand(2, -1, -1, -1), ITERS)


def test_the_fallback_on_a_wide_image_estimates_on_its_central_square(tiny: KernelSpace,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A wide image's kernel comes from its central square, and the whole image is deconvolved with it."""
    monkeypatch.setattr(tv_fallback, "_MADE", {})
    y = blur(scene(48, 72), line(5))
    out, kernel, reason = tv_fallback.tv_fallback(tiny, y, ITERS, max_blobs=None, blend=1.0)
    assert reason == "tv_kernel" and out.shape == y.shape
    config, crf = tv_kernel_settings(tiny, ITERS)
    _, k_square, _, _ = tv_kernel_deblur(tiny, y[..., :, 12:60], config, crf, tv_fallback.TV_FALLBACK_XSTEP)
    assert torch.equal(kernel, k_square)
    tol = 4 * torch.finfo(torch.float32).eps  # y + 1.0 (x̂ - y) rounds in float32, on values in [0, 1]
    assert torch.allclose(out, kernel_deconvolution(y, kernel, crf, tv_fallback.TV_FALLBACK_XSTEP), rtol=0, atol=tol)


def test_the_fallback_is_recorded_only_when_on() -> None:
    """``fast`` falls back to the TV kernel; presets without a fallback keep the records (and stored keys) they
    had; an unknown fallback is refused in one line."""
    fast = DEBLUR_PRESETS["fast"]
    assert fast.fallback == "tv_kernel" and fast.to_dict()["fallback"] == "tv_kernel"
    with pytest.raises(ValueError, match="fallback must be one of"):
        fast.replace(fallback="wiener")
    assert "fallback" not in fast.replace(fallback="none").to_dict()
    assert "fallback_iters" not in DEBLUR_PRESETS["paper"].to_dict()
    assert DeblurConfig(**{**fast.to_dict(), "fallback_iters": 7}).fallback_iters == 7


def test_kernel_field_draws_the_kernel_at_each_point() -> None:
    """A known 3 px horizontal box appears at every grid point as three taps of peak 1."""
    k = torch.zeros(5, 5)
    k[2, 1:4] = 1 / 3
    field = kernel_field(k, (64, 64), spacing=32)
    assert field.shape == (64, 64) and float(field.max()) == pytest.approx(1.0)
    for c in (16, 48):
        assert field[c, c - 1: c + 2].tolist() == pytest.approx([1.0, 1.0, 1.0])
        assert field[c - 1, c] == 0 and field[c, c - 2] == 0
    assert float(field.sum()) == pytest.approx(4 * 3)
    with pytest.raises(ValueError, match="odd side"):
        kernel_field(torch.ones(4, 4), (64, 64))


def test_the_estimate_field_draws_the_blur_that_made_the_estimate(tiny: KernelSpace) -> None:
    """The fallback's kernel where there is one (the code did not make the estimate), else the code's PSF field."""
    k = torch.zeros(5, 5)
    k[1:4, 2] = 1 / 3
    code = torch.randn(1, tiny.config.kdim, *tiny.kernel_size(64, 64), generator=torch.Generator().manual_seed(0))
    drawn = estimate_field(tiny, code, (64, 64), 32, kernel=k)
    assert (drawn == kernel_field(k, (64, 64), 32)).all()
    assert (estimate_field(tiny, code, (64, 64), 32) == psf_field(tiny, code, (64, 64), 32)).all()
    assert not (estimate_field(tiny, code, (64, 64), 32) == drawn).all()
