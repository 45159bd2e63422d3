"""Blur synthesis: determinism, identity at zero exposure, monotone in exposure, domains, shapes, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from blurkit.data.domains import DOMAINS, DYNAMIC_DOMAINS, get_domain
from blurkit.data.kernels import convolve, eight_kernels
from blurkit.data.synthesis import blur_amount, synthesize_pair
from blurkit.errors import ImageSizeError, UnknownNameError


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_shapes_range_and_sharp_is_the_crop(photo: np.ndarray, domain: str) -> None:
    sharp, blur, params = synthesize_pair(photo, domain, 48, np.random.default_rng(3))
    assert sharp.shape == blur.shape == (48, 48, 3)
    assert sharp.dtype == blur.dtype == np.float32
    assert 0.0 <= blur.min() and blur.max() <= 1.0
    y0, x0 = params["crop_yx"]
    np.testing.assert_array_equal(sharp, photo[y0:y0 + 48, x0:x0 + 48])


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_deterministic_for_a_seed(photo: np.ndarray, domain: str) -> None:
    a = synthesize_pair(photo, domain, 40, np.random.default_rng([7, 1]))
    b = synthesize_pair(photo, domain, 40, np.random.default_rng([7, 1]))
    c = synthesize_pair(photo, domain, 40, np.random.default_rng([8, 1]))
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2]
    assert not np.array_equal(a[1], c[1])


@pytest.mark.parametrize("domain", DYNAMIC_DOMAINS)
def test_zero_length_trajectory_gives_back_the_sharp_image(photo: np.ndarray, domain: str) -> None:
    for seed in range(3):  # objects included: they stand still at zero exposure too
        sharp, blur, _ = synthesize_pair(photo, domain, 64, np.random.default_rng(seed), exposure=0.0, noise=False)
        assert np.abs(blur - sharp).max() < 0.5 / 255  # identical once written as 8-bit


@pytest.mark.parametrize("domain", DYNAMIC_DOMAINS)
def test_blur_grows_with_exposure(photo: np.ndarray, domain: str) -> None:
    exposures = [0.0, 0.3, 0.8, 1.6]
    amounts = []
    for e in exposures:
        vals = [blur_amount(*synthesize_pair(photo, domain, 64, np.random.default_rng(s), exposure=e, noise=False)[:2])
                for s in range(6)]
        amounts.append(np.mean(vals))
    assert amounts[0] < 1e-3
    assert all(b > a for a, b in zip(amounts, amounts[1:])), amounts


def _dot_grid(side: int = 192, step: int = 48) -> np.ndarray:
    """Isolated white points on black, one per ``step`` px cell: blurred, each shows the local blur kernel."""
    dots = np.zeros((side, side, 3), np.float32)
    dots[step // 2::step, step // 2::step] = 1.0
    return dots


def _psf_spread(blur: np.ndarray, step: int = 48) -> float:
    """The largest L1 distance (0 .. 2) between the normalised local kernels of the points of :func:`_dot_grid`."""
    r = step // 2
    psfs = [blur[y - r:y + r, x - r:x + r].mean(-1).astype(np.float64) for y in range(r, blur.shape[0], step)
            for x in range(r, blur.shape[1], step)]
    psfs = [p / p.sum() for p in psfs]
    return max(float(np.abs(a - b).sum()) for a in psfs for b in psfs)


@pytest.mark.parametrize("domain", DYNAMIC_DOMAINS)
@pytest.mark.parametrize("seed", [0, 1])
def test_blur_is_spatially_varying_for_dynamic_domains(photo: np.ndarray, domain: str, seed: int) -> None:
    """The recorded motion of a pair, replayed on a grid of points: the points blur differently across the frame.

    Measured (seeds 0-3): spread 0.17-1.25 (reds-like), 0.91-1.81 (gopro-like), 1.79-1.92 (hide-like); the same
    motion without rotation, zoom, perspective and objects (a pure camera translation, a convolution) gives 2e-5,
    the float32 rounding of the sampling grid. A convolution would give 0 whatever the path.
    """
    _, _, params = synthesize_pair(photo, domain, 64, np.random.default_rng(seed))
    dots = _dot_grid()
    _, varying, _ = synthesize_pair(dots, domain, dots.shape[0], np.random.default_rng(0), noise=False, motion=params)
    shift_only = {**params, "objects": [],
                  "camera": {k: v if k in ("tx", "ty") else [0.0] * len(v) for k, v in params["camera"].items()}}
    _, uniform, _ = synthesize_pair(dots, domain, dots.shape[0], np.random.default_rng(0), noise=False,
                                    motion=shift_only)
    assert _psf_spread(uniform) < 1e-3  # the measure reads 0 for a spatially invariant blur ...
    assert _psf_spread(varying) > 0.1  # ... and the synthesised blur is far from that
    assert np.abs(uniform - dots).max() > 0.1  # the translation alone still blurs


def test_uniform_domain_is_the_recorded_kernel(photo: np.ndarray) -> None:
    sharp, blur, params = synthesize_pair(photo, "uniform-8", 64, np.random.default_rng(5))
    k = eight_kernels()[params["kernel_index"]]
    ref = convolve(torch.from_numpy(sharp).permute(2, 0, 1)[None], k)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(blur, np.clip(ref, 0, 1), atol=1e-6)


def test_domains_differ_in_crf_exposure_and_object_motion() -> None:
    doms = [get_domain(d) for d in DYNAMIC_DOMAINS]
    assert len({d.crf for d in doms}) == 3
    assert len({d.exposure for d in doms}) == 3
    assert len({d.objects for d in doms}) == 3


def test_noise_is_added_and_seeded(photo: np.ndarray) -> None:
    clean = synthesize_pair(photo, "gopro-like", 64, np.random.default_rng(1), noise=False)[1]
    noisy = synthesize_pair(photo, "gopro-like", 64, np.random.default_rng(1))[1]
    assert 1e-3 < np.abs(noisy - clean).mean() < 0.05


def test_photo_smaller_than_crop_is_a_clear_error(photo: np.ndarray) -> None:
    with pytest.raises(ImageSizeError, match="smaller than the 64 px crop"):
        synthesize_pair(photo[:40, :40], "reds-like", 64, np.random.default_rng(0))


def test_unknown_domain() -> None:
    with pytest.raises(UnknownNameError, match="reds-like"):
        get_domain("nope")


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_replaying_recorded_motion_reproduces_the_pair(photo: np.ndarray, domain: str) -> None:
    sharp, blur, params = synthesize_pair(photo, domain, 48, np.random.default_rng(11), noise=False)
    # replay on the same photo with a generator that lands on the same crop: same blurry image
    rng = np.random.default_rng(11)
    if get_domain(domain).kind == "dynamic":
        from blurkit.data.synthesis import sample_motion

        sample_motion(get_domain(domain), rng)  # consume the draws the original made for its motion
    s2, b2, p2 = synthesize_pair(photo, domain, 48, rng, noise=False, motion=params)
    assert p2["crop_yx"] == params["crop_yx"]
    np.testing.assert_allclose(b2, blur, atol=1e-6)
    # replay on another photo region: a different image with the same blur parameters, which reproduce it
    flipped = photo[::-1].copy()
    s3, b3, p3 = synthesize_pair(flipped, domain, 48, np.random.default_rng(0), noise=False, motion=params)
    assert p3["exposure"] == params["exposure"] and p3["camera"] == params["camera"]
    assert p3["objects"] == params["objects"] and p3["kernel_index"] == params["kernel_index"]
    # another image (measured mean differences 0.08-0.49 across the domains)
    assert np.abs(b3 - blur).mean() > 0.05 and np.abs(s3 - sharp).mean() > 0.05
    if get_domain(domain).kind == "uniform":  # the same kernel, on the new crop
        k = eight_kernels()[params["kernel_index"]]
        ref = convolve(torch.from_numpy(s3).permute(2, 0, 1)[None], k)[0].permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(b3, np.clip(ref, 0, 1))
    _, b4, _ = synthesize_pair(flipped, domain, 48, np.random.default_rng(0), noise=False, motion=p3)
    np.testing.assert_array_equal(b4, b3)
    assert blur_amount(s3, b3) > 0.8  # and it is blurred (measured 0.87-0.95)


@pytest.mark.parametrize("domain", list(DYNAMIC_DOMAINS))
def test_exact_blur_is_the_rendered_blur_and_linear(photo: np.ndarray, domain: str) -> None:
    from blurkit.data.crf import CRF
    from blurkit.data.synthesis import _padded_region, exact_blur, render_margin
    from tests.tolerances import sum_tol

    crop = 48
    _, blur, params = synthesize_pair(photo, domain, crop, np.random.default_rng(3), noise=False)
    m, (y0, x0) = render_margin(crop), params["crop_yx"]
    region = torch.from_numpy(_padded_region(photo, y0 - m, x0 - m, crop + 2 * m)).permute(2, 0, 1)[None]
    curve, apply = CRF(get_domain(domain).crf), exact_blur(params, domain, crop)
    again = curve.forward(apply(curve.inverse(region)).clamp(0, 1))[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(again, blur)  # the same operations as the renderer, in the same order
    u, v = torch.rand(2, 1, 3, crop + 2 * m, crop + 2 * m, generator=torch.Generator().manual_seed(0))
    lhs, rhs = apply(2 * u - 3 * v), 2 * apply(u) - 3 * apply(v)
    # each output is a mean of sub-frames of 4-tap bilinear samples (and object layers mixed in): at most
    # (4 + 2) * n_subframes products per value, whose magnitudes add up to at most 2 + 3 = 5
    tol = sum_tol(6 * get_domain(domain).n_subframes, 5.0)
    assert torch.allclose(lhs, rhs, rtol=0, atol=tol)


def test_exact_blur_refuses_a_uniform_domain() -> None:
    from blurkit.data.synthesis import exact_blur

    with pytest.raises(ValueError, match="dynamic"):
        exact_blur({"exposure": 1.0, "camera": {}, "objects": []}, "uniform-8", 32)
