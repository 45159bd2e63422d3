"""Non-blind oracle deblurring (true kernel known): clear PSNR gains, shapes, bad kernels rejected."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage import data, transform

from blurkit.baselines.oracle import richardson_lucy, wiener
from blurkit.data.kernels import eight_kernels
from blurkit.deblur.metrics import psnr


def _line_kernel() -> np.ndarray:
    k = np.zeros((9, 9))
    k[4, 1:8] = 1.0
    k = np.clip(ndimage.rotate(k, 30, reshape=False, order=1), 0, None)
    return k / k.sum()


def _blur(x: np.ndarray, k: np.ndarray, sigma: float = 0.002) -> np.ndarray:
    chans = x[..., None] if x.ndim == 2 else x
    y = np.stack([ndimage.convolve(chans[..., c], k, mode="reflect") for c in range(chans.shape[2])], -1)
    y = y + np.random.default_rng(0).normal(0, sigma, y.shape)
    return np.clip(y[..., 0] if x.ndim == 2 else y, 0, 1)


@pytest.fixture(scope="module")
def sharp() -> np.ndarray:
    return transform.resize(data.astronaut() / 255.0, (96, 96, 3), anti_aliasing=True)


# (kernel, min Wiener gain, min RL gain): the measured gains (line 2.43 / 3.66 dB, Levin-like 13 px 7.15 / 8.19 dB)
# less a 0.5 dB margin (NumPy FFTs and convolutions: the gains agree across machines to far better than that)
CASES = {
    "line": (_line_kernel, 1.9, 3.1),
    "levin_like": (lambda: eight_kernels()[4].astype(np.float64), 6.6, 7.7),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_oracle_improves_psnr(sharp: np.ndarray, case: str) -> None:
    make, w_gain, rl_gain = CASES[case]
    k = make()
    y = _blur(sharp, k)
    base = psnr(y, sharp)
    assert psnr(wiener(y, k), sharp) > base + w_gain
    assert psnr(richardson_lucy(y, k), sharp) > base + rl_gain


def test_kernel_orientation_matters(sharp: np.ndarray) -> None:
    """Deconvolving with the flipped (wrong-convention) kernel must be clearly worse: catches a flip bug."""
    k = eight_kernels()[4].astype(np.float64)
    y = _blur(sharp, k)
    # measured: 10.8 dB (Wiener) and 11.8 dB (Richardson-Lucy) better than with the flipped kernel
    assert psnr(wiener(y, k), sharp) > psnr(wiener(y, k[::-1, ::-1]), sharp) + 9.5
    assert psnr(richardson_lucy(y, k), sharp) > psnr(richardson_lucy(y, k[::-1, ::-1]), sharp) + 10.5


@pytest.mark.parametrize("shape", [(40, 33), (40, 33, 3), (6, 5)])
def test_shapes_and_range(shape: tuple[int, ...]) -> None:
    y = np.random.default_rng(1).random(shape)
    k = _line_kernel() * 3.0  # not normalised: the functions normalise it
    for out in (wiener(y, k), wiener(y, k, balance=0.1), richardson_lucy(y, k, iterations=5)):
        assert out.shape == shape
        assert out.min() >= 0.0 and out.max() <= 1.0


def test_gray_matches_single_channel(sharp: np.ndarray) -> None:
    k = _line_kernel()
    y = _blur(sharp, k)
    np.testing.assert_allclose(wiener(y[..., 1], k), wiener(y, k)[..., 1])


@pytest.mark.parametrize(
    "kernel, match",
    [
        (np.zeros((0, 3)), "empty"),
        (np.zeros((3, 3)), "positive sum"),
        (-np.ones((3, 3)), "positive sum"),
        (np.full((3, 3), np.nan), "NaN"),
        (np.ones(5), "2-D"),
    ],
)
def test_bad_kernels_raise(kernel: np.ndarray, match: str) -> None:
    y = np.zeros((16, 16))
    with pytest.raises(ValueError, match=match):
        wiener(y, kernel)
    with pytest.raises(ValueError, match=match):
        richardson_lucy(y, kernel)


def test_bad_arguments_raise() -> None:
    y, k = np.zeros((16, 16)), _line_kernel()
    with pytest.raises(ValueError, match="balance"):
        wiener(y, k, balance=0.0)
    with pytest.raises(ValueError, match="iterations"):
        richardson_lucy(y, k, iterations=0)
    with pytest.raises(ValueError, match="NaN"):
        wiener(np.full((16, 16), np.nan), k)
    with pytest.raises(ValueError, match="shape"):
        wiener(np.zeros(16), k)


def test_kernel_deconvolution_matches_the_linear_xstep_on_a_box_model() -> None:
    """The same solver with the exact kernel: equal to the x-step through a kernel space that applies that kernel."""
    import torch
    from toymodels import box_blur_kernel_space

    from blurkit.baselines.oracle import kernel_deconvolution
    from blurkit.data.kernels import convolve
    from blurkit.deblur.linear_xstep import LinearXStep, linear_xstep

    torch.manual_seed(0)
    ks = box_blur_kernel_space(width=5)
    box = np.zeros((5, 5))
    box[2, :] = 1 / 5
    x = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 50, 50), 3, 1)
    y = convolve(x, torch.as_tensor(box, dtype=torch.float32))
    cfg = LinearXStep(outer=1, irls=2, cg_iters=30, gamma=0.01, robust=True)
    got = kernel_deconvolution(y, box, cfg)
    with torch.no_grad():
        want = linear_xstep(ks, y, ks.encode(y, y), config=cfg)
    with torch.no_grad():
        mismatch = float((ks.apply(x, ks.encode(y, y)) - y).abs().max())  # direct vs FFT convolution
    op_tol = 8 * torch.finfo(torch.float32).eps * float(y.abs().max())
    assert mismatch <= op_tol
    # each CG iteration can amplify the operators' mismatch by at most 1 / gamma (the prior's floor of the normal
    # operator away from the constant image, which both reproduce exactly)
    assert float((got - want).abs().max()) <= cfg.irls * cfg.cg_iters * op_tol / cfg.gamma
    blurry, deblurred = float((y - x).pow(2).mean()), float((got - x).pow(2).mean())
    assert deblurred < blurry / 4  # the exact kernel gains more than 6 dB here


def test_cell_kernel_deconvolution_with_one_cell_is_kernel_deconvolution() -> None:
    from blurkit.baselines.oracle import cell_kernel_deconvolution, kernel_deconvolution
    from blurkit.data.kernels import convolve, eight_kernels
    from blurkit.data.true_kernels import padded_kernel

    rng = np.random.default_rng(0)
    x = torch.from_numpy(np.kron(rng.random((1, 3, 8, 8)), np.ones((1, 1, 4, 4))).astype(np.float32))
    k = padded_kernel(eight_kernels()[2], 15)
    y = convolve(x, torch.from_numpy(k)).clamp(0, 1)
    one = cell_kernel_deconvolution(y, k[None, None], "linear")
    ref = kernel_deconvolution(y, k)
    # FFT against direct convolution: the same operator up to float32 rounding, through 3 x 40 CG iterations
    assert float((one - ref).abs().max()) < 1e-3
    with pytest.raises(ValueError, match="tile"):
        cell_kernel_deconvolution(y[..., :30], np.stack([np.stack([k] * 3)] * 3), "linear")


def test_exact_blur_deconvolution_inverts_a_rendered_pair_with_a_moving_object() -> None:
    from blurkit.baselines.oracle import exact_blur_deconvolution
    from blurkit.data.synthesis import synthesize_pair

    photo = data.astronaut().astype(np.float32) / 255
    sharp, blur, params = synthesize_pair(photo, "gopro-like", 48, np.random.default_rng(4), noise=False)
    assert len(params["objects"]) == 1  # camera shake and one moving object
    y = torch.from_numpy(blur).permute(2, 0, 1)[None]
    out = exact_blur_deconvolution(y, params, "gopro-like")
    assert out.shape == y.shape and 0 <= float(out.min()) and float(out.max()) <= 1
    gain = psnr(out[0].permute(1, 2, 0).numpy(), sharp) - psnr(blur, sharp)
    assert gain > 3.0  # measured +7.0 dB (18.5 -> 25.6)
    with pytest.raises(ValueError, match="one square crop"):
        exact_blur_deconvolution(y[..., :40], params, "gopro-like")


def test_cell_convolve_with_a_margin_is_the_valid_convolution_of_the_wider_scene() -> None:
    from blurkit.space.basis_blur import cell_convolve

    g = torch.Generator().manual_seed(5)
    m, s, stride, h, w = 3, 7, 12, 20, 24  # margin = the kernels' radius: no padding reaches the output
    scene = torch.rand(1, 3, h + 2 * m, w + 2 * m, generator=g)
    kernels = torch.rand(2, 2, s, s, generator=g)
    kernels = kernels / kernels.sum(dim=(-2, -1), keepdim=True)
    got = cell_convolve(scene, kernels, stride, m)
    want = torch.empty(1, 3, h, w)
    for i in range(2):
        for j in range(2):  # convolution = correlation with the flipped kernel
            k = kernels[i, j].flip(0, 1)[None, None].expand(3, 1, s, s)
            valid = torch.nn.functional.conv2d(scene, k, groups=3)  # (1, 3, h, w)
            want[..., i * stride:(i + 1) * stride, j * stride:(j + 1) * stride] = \
                valid[..., i * stride:(i + 1) * stride, j * stride:(j + 1) * stride]
    # FFT against direct convolution of values in [0, 1] with kernels summing to 1: float32 rounding only
    torch.testing.assert_close(got, want, atol=64 * torch.finfo(torch.float32).eps, rtol=0)
