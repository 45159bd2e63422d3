"""Uniform motion kernels, convolution and camera response functions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from blurkit.data.crf import CRF, crf_names
from blurkit.data.kernels import LEVIN_SIZES, convolve, eight_kernels, motion_kernel, random_kernels
from blurkit.errors import UnknownNameError


def test_eight_kernels_are_fixed_normalised_and_levin_sized() -> None:
    ks = eight_kernels()
    assert tuple(k.shape[0] for k in ks) == LEVIN_SIZES
    for k in ks:
        assert k.shape[0] == k.shape[1] and k.min() >= 0
        assert abs(float(k.sum()) - 1) < 1e-5
        assert (k > 1e-4).sum() >= k.shape[0] // 2  # a path, not a single dot
    for a, b in zip(ks, eight_kernels()):
        np.testing.assert_array_equal(a, b)


def test_random_kernels_seeded_and_in_size_range() -> None:
    a, b, c = random_kernels(6, seed=1), random_kernels(6, seed=1), random_kernels(6, seed=2)
    assert all(13 <= k.shape[0] <= 27 and k.shape[0] % 2 == 1 for k in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, c))


def test_even_kernel_size_rejected() -> None:
    with pytest.raises(ValueError):
        motion_kernel(14, np.random.default_rng(0))


def test_convolve_matches_scipy_and_delta_is_identity() -> None:
    rng = np.random.default_rng(0)
    img = rng.random((2, 3, 20, 23)).astype(np.float32)
    k = eight_kernels()[4]
    out = convolve(torch.from_numpy(img), k).numpy()
    ref = np.stack([[ndimage.convolve(img[b, c], k, mode="mirror") for c in range(3)] for b in range(2)])
    np.testing.assert_allclose(out, ref, atol=1e-5)
    delta = np.zeros((5, 5), np.float32)
    delta[2, 2] = 1
    np.testing.assert_allclose(convolve(torch.from_numpy(img), delta).numpy(), img, atol=1e-6)


def test_convolve_per_item_kernels_and_gradients() -> None:
    img = torch.rand(2, 1, 16, 16, requires_grad=True)
    ks = torch.from_numpy(np.stack([eight_kernels()[6], eight_kernels()[7]]))
    out = convolve(img, ks)
    assert out.shape == img.shape
    out.sum().backward()
    assert img.grad is not None and torch.isfinite(img.grad).all()


@pytest.mark.parametrize("name", crf_names())
def test_crf_round_trip_and_monotone(name: str) -> None:
    crf = CRF(name)
    x = torch.linspace(0, 1, 1001)
    np.testing.assert_allclose(crf.forward(crf.inverse(x)).numpy(), x.numpy(), atol=1e-5)
    y = crf.forward(x)
    assert (y[1:] >= y[:-1]).all() and abs(float(y[0])) < 1e-6 and abs(float(y[-1]) - 1) < 1e-6


def test_gamma_value_and_unknown_crf() -> None:
    assert abs(float(CRF("gamma2.2").forward(torch.tensor([0.25]))) - 0.25 ** (1 / 2.2)) < 1e-3
    with pytest.raises(UnknownNameError):
        CRF("nope").forward(torch.zeros(1))
