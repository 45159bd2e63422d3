"""The linearised F and the linear x-step (kornia-style: smoke, bad input, shapes, exactness, gradients)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as Fnn
from toymodels import box_blur_kernel_space

from blurkit.deblur.linear_xstep import LinearXStep, _grad, _grad_t, conjugate_gradients, linear_xstep
from blurkit.space.kernel_space import KernelSpace

pytestmark = pytest.mark.usefixtures("one_thread")
F32 = torch.finfo(torch.float32).eps


@pytest.fixture(scope="module", params=["smoke", "smoke-dynamic", "smoke-fine-dynamic"])
def ks(request: pytest.FixtureRequest) -> KernelSpace:
    torch.manual_seed(0)
    model = KernelSpace(request.param).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _pair(h: int = 40, w: int = 56, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, 3, h, w, generator=g), torch.rand(2, 3, h, w, generator=g)


def test_linearised_equals_f_at_its_point(ks: KernelSpace) -> None:
    x, y = _pair()
    with torch.no_grad():
        k = ks.encode(x, y)
        got, want = ks.F.linearise(x, k)(x), ks.apply(x, k)
    # FFT-size rounding only: a few float32 ulps of values in [0, 1], summed over the mixture's members
    tol = 64 * F32 * float(want.abs().max())
    torch.testing.assert_close(got, want, atol=tol, rtol=0)


def test_linear_part_is_linear_and_matches_an_explicit_convolution(ks: KernelSpace) -> None:
    x, y = _pair()
    with torch.no_grad():
        lin = ks.F.linearise(x, ks.encode(x, y))
        u, v = torch.rand_like(x), torch.rand_like(x)
        torch.testing.assert_close(lin.apply(2 * u - 3 * v), 2 * lin.apply(u) - 3 * lin.apply(v),
                                   atol=256 * F32, rtol=0)
        # explicit spatial convolution of each member (reflect borders), weighted per pixel
        p = ks.config.basis_size // 2
        up = Fnn.pad(u, (p, p, p, p), mode="reflect")
        kernels = ks.F.basis.kernels()
        want = 0
        for j in range(kernels.shape[0]):  # true convolution = correlation with the flipped kernel
            kj = kernels[j].flip(0, 1)[None, None].expand(3, 1, -1, -1)
            want = want + lin.weights[:, j:j + 1] * Fnn.conv2d(up, kj, groups=3)
        if ks.F.dyn is None:
            torch.testing.assert_close(lin.apply(u), want, atol=256 * F32, rtol=0)
        else:  # the dynamic members add what the basis does not explain
            assert lin.weights.shape[1] > kernels.shape[0]


def test_linearise_rejects_the_paper_head_and_bad_codes() -> None:
    x, y = _pair()
    residual = KernelSpace("smoke-residual").eval()
    with torch.no_grad(), pytest.raises(ValueError, match="basis or kernel head"):
        residual.F.linearise(x, residual.encode(x, y))
    basis = KernelSpace("smoke").eval()
    with torch.no_grad(), pytest.raises(ValueError, match="does not fit"):
        basis.F.linearise(x, torch.zeros(1, 3, 1, 1))


def test_gradient_adjoint() -> None:
    g = torch.Generator().manual_seed(1)
    u, a, b = (torch.rand(1, 3, 9, 11, generator=g, dtype=torch.float64) for _ in range(3))
    gx, gy = _grad(u)
    lhs = (gx * a).sum() + (gy * b).sum()
    rhs = (u * _grad_t(a, b)).sum()
    assert abs(float(lhs - rhs)) < 1e3 * torch.finfo(torch.float64).eps * float(lhs.abs())


def test_conjugate_gradients_solves_a_spd_system() -> None:
    g = torch.Generator().manual_seed(2)
    m = torch.rand(12, 12, generator=g, dtype=torch.float64)
    spd = m @ m.T + 12 * torch.eye(12, dtype=torch.float64)
    rhs = torch.rand(1, 1, 3, 4, generator=g, dtype=torch.float64)
    normal = lambda v: (spd @ v.flatten()).view_as(v)  # noqa: E731
    u = conjugate_gradients(normal, rhs, torch.zeros_like(rhs), 12)  # exact in n steps for n unknowns
    torch.testing.assert_close(normal(u), rhs, atol=1e-9, rtol=0)


def test_xstep_deconvolves_a_known_blur_better_than_leaving_it() -> None:
    """With F's mixture pinned to one box kernel, the x-step inverts a blur it can represent."""
    ks = box_blur_kernel_space(5, logit=30.0)
    from skimage import data

    x = torch.from_numpy(data.astronaut()[100:164, 180:244].astype("float32") / 255).permute(2, 0, 1)[None]
    k = torch.zeros(1, ks.config.kdim, 1, 1)
    with torch.no_grad():
        y = ks.apply(x, k)
    err_blurry = float(((y - x) ** 2).mean())
    est = linear_xstep(ks, y, k, config=LinearXStep(outer=1, gamma=1e-3, alpha=2, irls=1, cg_iters=60))
    err = float(((est - x) ** 2).mean())
    assert est.shape == x.shape and 0 <= float(est.min()) and float(est.max()) <= 1
    assert err < err_blurry / 4  # measured: about 1/10 of the blurry error (+10 dB); floor at +6 dB


@pytest.mark.parametrize("m", [0, 3, 9])
def test_apply_with_a_margin_reads_it_instead_of_reflecting(ks: KernelSpace, m: int) -> None:
    """``A u`` of an unknown ``m`` px wider on every side is the explicit convolution of that unknown, cropped."""
    x, y = _pair()
    with torch.no_grad():
        lin = ks.F.linearise(x, ks.encode(x, y))
        u = torch.rand(2, 3, x.shape[-2] + 2 * m, x.shape[-1] + 2 * m, generator=torch.Generator().manual_seed(3))
        p = ks.config.basis_size // 2
        up = Fnn.pad(u, (p, p, p, p), mode="reflect")  # reflected beyond the margin only, as F does at its border
        want = 0
        for j in range(lin.kernels.shape[1]):
            kj = lin.kernels[:, j].flip(-1, -2)[:, None].repeat_interleave(3, dim=0)  # (B*3, 1, S, S)
            blurred = Fnn.conv2d(up.reshape(1, -1, *up.shape[-2:]), kj, groups=kj.shape[0]).view(2, 3, *u.shape[-2:])
            want = want + lin.weights[:, j:j + 1] * blurred[..., m:m + x.shape[-2], m:m + x.shape[-1]]
        torch.testing.assert_close(lin.apply(u), want, atol=256 * F32, rtol=0)
        with pytest.raises(ValueError, match="equal margin"):
            lin.apply(u[..., 1:, :])


def test_a_margin_lets_the_xstep_explain_content_from_outside_the_crop() -> None:
    """A crop of a blurred larger image holds content from outside it; solving for a margin beats reflecting."""
    ks = box_blur_kernel_space(7, logit=30.0)
    from skimage import data

    big = torch.from_numpy(data.astronaut()[80:176, 160:256].astype("float32") / 255).permute(2, 0, 1)[None]
    k = torch.zeros(1, ks.config.kdim, 1, 1)
    with torch.no_grad():
        y = ks.apply(big, k)[..., 16:80, 16:80]  # the blur of the 96 px scene, cropped to its 64 px centre
    x = big[..., 16:80, 16:80]
    cfg = LinearXStep(outer=1, gamma=1e-3, alpha=2, irls=1, cg_iters=60)
    err = {m: float(((linear_xstep(ks, y, k, config=replace(cfg, margin=m)) - x) ** 2).mean()) for m in (0, 8)}
    assert err[8] < err[0] / 2, err  # measured: 3.8x lower (+5.8 dB); reflecting gains +2.8 dB over y
    with pytest.raises(ValueError, match="margin"):
        linear_xstep(ks, y, k, config=replace(cfg, margin=-1))
