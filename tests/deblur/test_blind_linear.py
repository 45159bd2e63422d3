"""The fast preset's blind solver: a learned code start, the linear x-step, the code prior and the guard."""

from __future__ import annotations

import pytest
import torch
from toymodels import switch_blur_kernel_space

from blurkit.deblur.blind_linear import refine_code
from blurkit.deblur.deblur_config import DEBLUR_PRESETS
from blurkit.deblur.solver import deblur
from blurkit.errors import BlurkitError
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import psnr

pytestmark = pytest.mark.usefixtures("one_thread")


class ConstantCode(torch.nn.Module):
    """An estimator that gives every image the same code."""

    def __init__(self, code: torch.Tensor) -> None:
        super().__init__()
        self.code = code

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.code.expand(y.shape[0], -1, -1, -1)


@pytest.fixture(scope="module")
def switch():  # type: ignore[no-untyped-def]
    return switch_blur_kernel_space()


def _sharp(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.avg_pool2d(torch.rand(1, 3, 66, 66, generator=g), 3, 1)


def _blocks(seed: int = 0) -> torch.Tensor:
    """Piecewise-constant 8 px blocks: the image the hyper-Laplacian prior expects."""
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.interpolate(torch.rand(1, 3, 8, 8, generator=g), scale_factor=8, mode="nearest")


def test_fast_deblurs_with_the_right_code(switch) -> None:  # type: ignore[no-untyped-def]
    ks, _, box = switch
    x = _blocks()
    with torch.no_grad():
        y = ks.apply(x, box)
    res = deblur(ks, y, "fast", reference=x, progress=False, estimator=ConstantCode(box))
    assert float(psnr(res.x, x)) > float(psnr(y, x)) + 6.0  # measured +9.2 dB
    assert list(res.trace.phase) == ["start", "solve", "guard:trusted"]
    assert torch.equal(res.k, box)


def test_guard_returns_an_unblurred_input(switch) -> None:  # type: ignore[no-untyped-def]
    ks, no_blur, _ = switch
    y = _sharp(3)
    res = deblur(ks, y, "fast", progress=False, estimator=ConstantCode(no_blur))
    assert res.trace.phase.iloc[-1] == "guard:no blur"
    assert torch.equal(res.x, y)


def test_the_code_prior_keeps_k_off_the_no_blur_code(switch) -> None:  # type: ignore[no-untyped-def]
    """With x held at the blurry y, Eq. 6's data term alone walks k to the no-blur code (F(y, k) = y fits y
    exactly); the anchor around the estimate keeps it at the blur."""
    ks, _, box = switch
    box = box * (2 / box.abs().max())  # a code the softmax is not saturated at (the box's share is 0.98)
    x = _sharp()
    with torch.no_grad():
        y = ks.apply(x, box)
    free = DEBLUR_PRESETS["fast"].replace(k_refine_steps=200, k_lr=0.1, lam=0.0, k_anchor=0.0)
    k_free = refine_code(ks, y, y, box, box, free)
    k_anchored = refine_code(ks, y, y, box, box, free.replace(k_anchor=1.0))
    with torch.no_grad():
        share_free = float((ks.apply(x, k_free) - x).abs().mean())  # how much blur each code still applies
        share_anchored = float((ks.apply(x, k_anchored) - x).abs().mean())
        share_box = float((ks.apply(x, box) - x).abs().mean())
    assert share_free < 0.5 * share_box  # drifted towards no blur
    assert share_anchored > 0.9 * share_box  # stayed on the blur


def test_fast_needs_an_estimator(switch) -> None:  # type: ignore[no-untyped-def]
    ks, _, _ = switch
    with pytest.raises(BlurkitError, match="no code estimator beside it"):
        deblur(ks, _sharp(), "fast", progress=False)


def test_a_loaded_model_without_an_estimator_file_names_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    path = KernelSpace("smoke").save(tmp_path / "m.pt")
    with pytest.raises(BlurkitError, match=r"m\.estimator\.pt"):
        deblur(KernelSpace.load(path), _sharp(), "fast", progress=False)


def test_a_g_lsq_model_without_an_estimator_says_how_to_train_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    path = KernelSpace("smoke-lsq").save(tmp_path / "m.pt")
    with pytest.raises(BlurkitError, match=r"least-squares kernel.*blurkit train-estimator --model .*--kernel-weight"):
        deblur(KernelSpace.load(path), _sharp(), "fast", progress=False)


def test_a_rejected_estimate_falls_back_to_the_tv_kernel(switch) -> None:  # type: ignore[no-untyped-def]
    """Where the guard rejects the code route for a poor fit or an amplified result, ``fast`` returns the TV
    fallback's result and its kernel, and the trace says so; without a fallback it returns y."""
    from blurkit.deblur.tv_fallback import tv_fallback

    ks, _, box = switch
    y = _sharp(5)  # not blurred, but the estimator claims the box: deconvolving it over-sharpens
    cfg = DEBLUR_PRESETS["fast"].replace(fallback_iters=3)
    res = deblur(ks, y, cfg, progress=False, estimator=ConstantCode(box))
    phases = list(res.trace.phase)
    assert phases[2] in ("guard:poor fit", "guard:amplified") and phases[3].startswith("fallback:tv_kernel")
    x, kernel, reason = tv_fallback(ks, y, 3)
    assert phases[3] == f"fallback:{reason}" and torch.equal(res.x, x)
    assert (res.psf[0] is None) == (kernel is None) and torch.equal(res.k, box)
    plain = deblur(ks, y, cfg.replace(fallback="none"), progress=False, estimator=ConstantCode(box))
    assert torch.equal(plain.x, y) and plain.psf == [None] and len(plain.trace) == 3
