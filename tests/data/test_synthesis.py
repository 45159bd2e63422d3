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


def test_blur_is_spatially_varying_for_dynamic_domains(photo: np.ndarray) -> None:
    # a pure convolution would give the same blur kernel everywhere; rotation/zoom/objects do not
    _, _, params = synthesize_pair(photo, "gopro-like", 64, np.random.default_rng(0))
    cam = params["camera"]
    assert any(abs(v) > 0 for v in cam["rot"][:2] + cam["zoom"][:2])


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
    # replay on another photo region: a different image with the same blur parameters
    _, b3, p3 = synthesize_pair(photo[::-1].copy(), domain, 48, np.random.default_rng(0), noise=False, motion=params)
    assert p3["exposure"] == params["exposure"] and p3["camera"] == params["camera"]
