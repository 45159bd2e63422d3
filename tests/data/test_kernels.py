"""Uniform motion kernels, convolution and camera response functions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from blurkit.data.crf import CRF, crf_names
from blurkit.data.kernels import LEVIN_SIZES, convolve, eight_kernels, motion_kernel, random_kernels
from blurkit.errors import UnknownNameError
from tests.tolerances import sum_tol


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
    # a normalised non-negative kernel on [0, 1] images: float32 accumulation of k.size terms of total weight 1
    np.testing.assert_allclose(out, ref, atol=sum_tol(k.size), rtol=0)
    delta = np.zeros((5, 5), np.float32)
    delta[2, 2] = 1
    np.testing.assert_array_equal(convolve(torch.from_numpy(img), delta).numpy(), img)  # 1 * x + 0 * ... is exact


def test_convolve_per_item_kernels_and_gradients() -> None:
    """Item i is blurred by kernel i (not by the other one, not by a mix), and the gradient flows back through it."""
    rng = np.random.default_rng(1)
    kernels = [eight_kernels()[6], eight_kernels()[7]]  # both 23 px, different paths
    img = torch.from_numpy(rng.random((2, 2, 64, 64))).requires_grad_(True)  # float64: the comparison is exact
    out = convolve(img, torch.from_numpy(np.stack(kernels)))
    assert out.shape == img.shape and out.dtype == torch.float64
    x = img.detach().numpy()
    for i, k in enumerate(kernels):
        for c in range(2):
            own = ndimage.convolve(x[i, c], k.astype(np.float64), mode="mirror")
            other = ndimage.convolve(x[i, c], kernels[1 - i].astype(np.float64), mode="mirror")
            np.testing.assert_allclose(out[i, c].detach().numpy(), own, atol=sum_tol(k.size, dtype=np.float64),
                                       rtol=0)
            assert np.abs(own - other).max() > 0.05  # the check would see a swapped kernel
    out.sum().backward()
    # d(sum of outputs)/d(pixel) is the item's kernel sum (1 up to its float32 normalisation) wherever no reflected
    # copy of the pixel is read
    for i, k in enumerate(kernels):
        inner = img.grad[i, :, 22:42, 22:42]
        want = torch.full_like(inner, float(k.astype(np.float64).sum()))
        torch.testing.assert_close(inner, want, atol=sum_tol(k.size, dtype=np.float64), rtol=0)
    assert torch.isfinite(img.grad).all() and img.grad.min() > 0


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
