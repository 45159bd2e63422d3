"""The total-variation blind kernel (blurkit.deblur.tv_kernel): smoke, bad input, shapes, and the two things it
must get right, the blur's shape and the exposure's middle."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from blurkit.data.dead_leaves import dead_leaves
from blurkit.deblur.tv_kernel import (
    TVKernelConfig,
    centre_kernel,
    clean_kernel,
    kernel_blobs,
    path_origin,
    shift_kernel,
    spread_weight,
    tv_blind_kernel,
    tv_pyramid,
    valid_blur,
)


def path_kernel(size: int = 31) -> torch.Tensor:
    """A bent path traversed once at uneven speed, its middle instant at the centre: the camera slows at one end,
    so the kernel's mass piles up there and its centroid is not the middle of the exposure.

    Shape: ``(size, size)``.
    """
    tau = np.linspace(-1, 1, 401)
    c = size // 2
    rows = np.rint(c + 6 * tau + 3 * tau**2).astype(int)  # monotone in tau: 6 + 6 tau >= 0
    cols = np.rint(c + 2 * tau**2).astype(int)
    k = np.zeros((size, size))
    np.add.at(k, (rows, cols), 1.0)
    return torch.from_numpy(k / k.sum()).float()


def rel_error(k: torch.Tensor, truth: torch.Tensor) -> float:
    return float((k - truth).pow(2).sum() / truth.pow(2).sum())


def best_shift_error(k: torch.Tensor, truth: torch.Tensor, r: int = 3) -> float:
    return min(rel_error(torch.roll(k, (dy, dx), (0, 1)), truth) for dy in range(-r, r + 1) for dx in range(-r, r + 1))


def test_path_origin_is_the_middle_of_the_exposure_not_the_centroid() -> None:
    k = path_kernel()
    rows, cols = np.indices(k.shape)
    centroid = (float((k.numpy() * rows).sum()), float((k.numpy() * cols).sum()))
    assert round(centroid[0]) != 15  # the slow end pulls the centroid: centring on it would shift the result
    assert tuple(round(v) for v in path_origin(k)) == (15, 15)


def test_centre_kernel_undoes_a_shift() -> None:
    k = path_kernel()
    moved = shift_kernel(k, 18, 13)  # the path's middle now sits 3 px up and 2 px right of the centre
    assert not torch.equal(moved, k)
    tol = 4 * torch.finfo(torch.float32).eps * float(k.max())  # two renormalisations of unit-sum kernels
    torch.testing.assert_close(centre_kernel(moved), k, rtol=0, atol=tol)


def test_clean_kernel_keeps_the_heaviest_blob() -> None:
    k = path_kernel()
    stray = k.clone()
    stray[0, 0] = 0.5 * float(k.max())  # a separate tap above the threshold
    out = clean_kernel(stray / stray.sum(), 0.1)
    assert float(out[0, 0]) == 0.0 and float(out.sum()) == pytest.approx(1.0, abs=1e-6)
    assert bool((out >= 0).all())


def test_kernel_blobs_counts_separate_groups_of_strong_taps() -> None:
    line = torch.zeros(15, 15)
    line[7, 3:12] = 1.0
    assert kernel_blobs(line, 0.1) == 1 and kernel_blobs(path_kernel(), 0.1) == 1
    stray = line.clone()
    stray[0, 0] = 0.5
    assert kernel_blobs(stray, 0.1) == 2
    assert kernel_blobs(stray, 0.6) == 1  # the stray tap is below the threshold
    stray[1, 1] = 1.0  # touches the stray tap diagonally: one 8-connected blob with it, apart from the line
    assert kernel_blobs(stray, 0.1) == 2


def test_pyramid_is_coarse_to_fine() -> None:
    cfg = TVKernelConfig()
    levels = tv_pyramid(128, cfg)
    sides, ksides, lams = zip(*levels)
    assert levels[-1] == (128, cfg.size, cfg.lam)
    assert all(k % 2 == 1 for k in ksides) and list(ksides) == sorted(ksides) and len(set(ksides)) == len(ksides)
    assert list(lams) == sorted(lams, reverse=True) and max(lams) < cfg.lam_max
    assert all(s % 2 == 1 for s in sides[:-1]) and list(sides) == sorted(sides)


def test_tv_blind_kernel_recovers_a_motion_blur() -> None:
    """A dead-leaves scene blurred by a known 7 px diagonal path: the estimate, compared up to a shift, is far closer
    to the truth than the box it starts from, and far closer than the no-blur kernel."""
    cfg = TVKernelConfig(size=9, iters=1000)  # about 10 s; 300 steps a scale do not converge (error 0.75)
    truth = torch.zeros(9, 9)
    for i in range(7):
        truth[1 + i, 7 - i] = 1.0
    truth /= truth.sum()
    scene = torch.from_numpy(dead_leaves(72, np.random.default_rng(0))).permute(2, 0, 1).mean(0)[None, None]
    f = valid_blur(scene, truth)  # (1, 1, 64, 64)
    k = tv_blind_kernel(f, cfg)
    assert k.shape == (9, 9) and bool((k >= 0).all())
    assert float(k.sum()) == pytest.approx(1.0, abs=1e-5)
    box, delta = torch.full((9, 9), 1 / 81), torch.zeros(9, 9)
    delta[4, 4] = 1.0
    err = best_shift_error(k, truth)
    assert err < 0.5 * rel_error(box, truth) and err < 0.1 * best_shift_error(delta, truth)


def test_spread_weight_is_zero_at_the_centre_and_one_at_the_corners() -> None:
    w = spread_weight(7)
    assert w.shape == (7, 7) and float(w[3, 3]) == 0.0 and float(w[0, 0]) == 1.0 and float(w[6, 6]) == 1.0
    torch.testing.assert_close(w, w.T, rtol=0, atol=0)
    torch.testing.assert_close(w, w.flip(0), rtol=0, atol=0)
    assert float(w[3, 6]) == pytest.approx(9 / 18)
    assert float(spread_weight(1)[0, 0]) == 0.0


def _second_moment(k: torch.Tensor) -> float:
    """The mass-weighted mean squared distance of the taps from the kernel's centre."""
    return float((k * spread_weight(k.shape[-1])).sum())


def test_the_spread_penalty_pulls_the_kernel_towards_its_centre() -> None:
    """The same blurry image, the same steps: with the penalty the estimate holds its mass nearer the centre, and it
    stays a kernel (non-negative, unit sum); a larger penalty pulls harder."""
    truth = torch.zeros(9, 9)
    truth[4, 1:8] = 1.0 / 7
    scene = torch.from_numpy(dead_leaves(56, np.random.default_rng(1))).permute(2, 0, 1).mean(0)[None, None]
    f = valid_blur(scene, truth)  # (1, 1, 48, 48)
    moments = []
    for spread in (0.0, 0.1, 1.0):
        k = tv_blind_kernel(f, TVKernelConfig(size=9, iters=100, spread=spread))
        assert bool((k >= 0).all()) and float(k.sum()) == pytest.approx(1.0, abs=1e-5)
        moments.append(_second_moment(k))
    assert moments[0] > moments[1] > moments[2]


@pytest.mark.parametrize("shape", [(1, 1, 64, 48), (2, 1, 64, 64), (1, 64, 64)])
def test_bad_images_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="one square image"):
        tv_blind_kernel(torch.zeros(shape), TVKernelConfig(size=9, iters=1))


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="odd"):
        TVKernelConfig(size=8)
    with pytest.raises(ValueError, match="spread"):
        TVKernelConfig(spread=-0.1)
    with pytest.raises(ValueError, match="at least 18 px"):
        tv_blind_kernel(torch.zeros(1, 1, 16, 16), TVKernelConfig(size=9, iters=1))
