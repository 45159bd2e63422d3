"""The non-negative least-squares kernel of a sharp/blurry pair (blurkit.space.kernel_lsq): recovery of a known
kernel, its convention, robustness to a region the kernel does not explain, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from blurkit.data.kernels import convolve, motion_kernel
from blurkit.data.true_kernels import padded_kernel
from blurkit.errors import BlurkitError, ImageSizeError
from blurkit.space.kernel_lsq import kernel_moments, lsq_kernel, lsq_kernel_files
from blurkit.space.losses import kernel_error
from tests.tolerances import ulp_tol

pytestmark = pytest.mark.usefixtures("one_thread")
SIZE = 15


def _pair(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A textured sharp image, a seeded motion kernel (asymmetric) and their convolution."""
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 98, 98, generator=g), 3, 1)  # (1, 3, 96, 96)
    k = torch.from_numpy(padded_kernel(motion_kernel(13, np.random.default_rng(seed)), SIZE)).float()
    return x, convolve(x, k), k


def _err(est: torch.Tensor, true: torch.Tensor) -> float:
    return float(kernel_error(est.view(1, 1, 1, SIZE, SIZE), true.view(1, 1, 1, SIZE, SIZE)))


def test_recovers_a_known_kernel_in_its_convention() -> None:
    x, y, k = _pair()
    est = lsq_kernel(x, y, SIZE, robust=0)
    assert est.shape == (1, SIZE, SIZE) and bool((est >= 0).all())
    assert abs(float(est.sum()) - 1.0) < SIZE * SIZE * torch.finfo(torch.float32).eps  # normalised, to rounding
    delta = torch.zeros(SIZE, SIZE)
    delta[SIZE // 2, SIZE // 2] = 1.0
    flipped = k.flip(-1, -2)
    assert _err(flipped, k) > 0.1  # the kernel is asymmetric, so the convention is tested
    assert _err(est[0], k) < 0.01 * min(_err(delta, k), _err(flipped, k))


def test_batch_items_are_solved_independently_and_deterministically() -> None:
    (x0, y0, k0), (x1, y1, k1) = _pair(0), _pair(1)
    both = lsq_kernel(torch.cat([x0, x1]), torch.cat([y0, y1]), SIZE, iters=100)
    again = lsq_kernel(torch.cat([x0, x1]), torch.cat([y0, y1]), SIZE, iters=100)
    alone = lsq_kernel(x1, y1, SIZE, iters=100)
    assert torch.equal(both, again)
    assert _err(both[1], k1) < 0.1 * _err(both[0], k1)  # the second item's kernel, not the first's
    scale = float(alone.abs().max())
    assert torch.allclose(both[1], alone[0], atol=1e3 * torch.finfo(torch.float32).eps * scale)


def test_the_fast_fft_grid_solves_the_same_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    """The iterations run on the next fast FFT size (here 120 for the convolution's 95 + 15 - 1 = 109, a prime): a
    larger grid holds the same linear convolutions, so only float64 rounding, far below one float32 ulp of the
    returned kernel, may differ from the solve on the convolution's own grid."""
    from blurkit.space import kernel_lsq

    x, y, _ = _pair()
    assert kernel_lsq.fast_fft_size(95 + SIZE - 1) == 120
    fast = lsq_kernel(x, y, SIZE, robust=2)
    monkeypatch.setattr(kernel_lsq, "fast_fft_size", lambda n: n)
    own_grid = lsq_kernel(x, y, SIZE, robust=2)
    assert float((fast - own_grid).abs().max()) <= ulp_tol(own_grid)


def test_tone_curve_is_applied_before_the_fit() -> None:
    x, _, k = _pair()
    gamma = 2.2
    y = convolve(x.pow(gamma), k).pow(1 / gamma)  # blurred in the linear domain, shown through a gamma curve
    plain = _err(lsq_kernel(x, y, SIZE, robust=0)[0], k)
    linear = _err(lsq_kernel(x, y, SIZE, robust=0, to_linear=lambda im: im.pow(gamma))[0], k)
    assert linear < 0.1 * plain


def test_reweighting_discounts_a_region_the_kernel_does_not_explain() -> None:
    x, y, k = _pair()
    g = torch.Generator().manual_seed(5)
    y = y.clone()
    y[..., 20:50, 20:50] = torch.rand(1, 3, 30, 30, generator=g)  # a region of other content (a moving object)
    plain = _err(lsq_kernel(x, y, SIZE, robust=0)[0], k)
    robust = _err(lsq_kernel(x, y, SIZE, robust=2)[0], k)
    assert robust < 0.5 * plain


def test_rejecting_regions_beats_l1_weights_on_an_object_with_its_own_blur() -> None:
    """A block blurred by another kernel (a moving object) and a little noise: the L1 weights soften the block pixel
    by pixel, the ``reject`` weights leave it out as a region, and come closer to the background's kernel (both
    with 4 rounds: 0.008 against 0.021 with this noise, a ratio of 0.47-0.49 with noise seeds 8 and 9)."""
    x, y, k = _pair()
    other = torch.from_numpy(padded_kernel(motion_kernel(13, np.random.default_rng(100)), SIZE)).float()
    g = torch.Generator().manual_seed(7)
    y = y.clone()
    y[..., 20:56, 20:56] = convolve(x, other)[..., 20:56, 20:56]
    y = y + 0.003 * torch.randn(y.shape, generator=g)
    l1 = _err(lsq_kernel(x, y, SIZE, robust=4, weights="l1")[0], k)
    reject = _err(lsq_kernel(x, y, SIZE, robust=4, weights="reject")[0], k)
    assert _err(other, k) > 0.5  # the object's blur is another kernel, not a near copy
    assert reject < 0.7 * l1


def test_reject_weights_keep_a_clean_pair_exact() -> None:
    x, y, k = _pair()
    est = lsq_kernel(x, y, SIZE, robust=4, weights="reject")
    assert _err(est[0], k) < 0.01 * _err(k.flip(-1, -2), k)


def test_flat_image_gives_the_identity() -> None:
    x = torch.full((1, 3, 40, 40), 0.5)
    est = lsq_kernel(x, x, SIZE)
    assert float(est[0, SIZE // 2, SIZE // 2]) == 1.0 and float(est.sum()) == 1.0


@pytest.mark.parametrize(("shape_y", "size", "error"), [((1, 3, 40, 41), 15, ValueError),
                                                        ((1, 3, 40, 40), 14, ValueError),
                                                        ((1, 3, 40, 40), 41, ImageSizeError)])
def test_bad_input_is_refused_in_one_line(shape_y: tuple[int, ...], size: int, error: type) -> None:
    with pytest.raises(error) as info:
        lsq_kernel(torch.rand(1, 3, 40, 40), torch.rand(shape_y), size)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kwargs", [{"weights": "median"}, {"weights": "reject", "reject": 0.0}])
def test_bad_weights_are_refused_in_one_line(kwargs: dict) -> None:
    with pytest.raises(ValueError) as info:
        lsq_kernel(torch.rand(1, 3, 40, 40), torch.rand(1, 3, 40, 40), SIZE, robust=1, **kwargs)
    assert "\n" not in str(info.value) and "weights" in str(info.value)


def test_moments_of_a_box_kernel() -> None:
    k = torch.zeros(SIZE, SIZE)
    k[SIZE // 2, 2:11] = 1 / 9  # 9 px wide, centred 1 px left of the centre pixel (7)
    dy, dx, sy, sx = kernel_moments(k)
    eps = SIZE * torch.finfo(torch.float64).eps
    assert abs(dy) < eps and abs(dx + 1.0) < eps and abs(sy) < eps
    assert abs(sx - ((9**2 - 1) / 12) ** 0.5) < eps  # a discrete uniform of 9 values


def test_files_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from blurkit.cli import main
    from blurkit.data.images import write_image

    x, _, k = _pair()
    y = convolve(x.pow(2.2), k).pow(1 / 2.2)  # blurred in the linear domain of a gamma 2.2 camera
    sharp = write_image(tmp_path / "s.png", x[0].permute(1, 2, 0).numpy())
    blurry = write_image(tmp_path / "b.png", y[0].permute(1, 2, 0).numpy())
    path, est = lsq_kernel_files(sharp, blurry, tmp_path / "k.png", SIZE, crf="gamma2.2")
    assert path.is_file() and torch.equal(torch.from_numpy(np.load(tmp_path / "k.npy")), est)
    plain = lsq_kernel_files(sharp, blurry, tmp_path / "p.png", SIZE, robust=0)[1]
    # 8-bit files add quantisation noise, so the margin is a comparison: the flipped kernel is the near miss
    assert _err(est, k) < 0.2 * _err(k.flip(-1, -2), k) and _err(est, k) < _err(plain, k)
    assert main(["estimate-kernel", str(sharp), str(blurry), "-o", str(tmp_path / "c.png"), "--size", "15",
                 "--crf", "gamma2.2"]) == 0
    assert "centre of mass" in capsys.readouterr().out and (tmp_path / "c.npy").is_file()
    assert main(["estimate-kernel", str(sharp), str(tmp_path / "k.png"), "-o", str(tmp_path / "d.png")]) == 2
    assert "size mismatch" in capsys.readouterr().err and not (tmp_path / "d.png").exists()
    with pytest.raises(BlurkitError, match="not both"):
        lsq_kernel_files(sharp, blurry, tmp_path / "e.png", SIZE, crf="srgb", model="uniform-8")
    for bad in (["--size", "14"], ["--crf", "srgb", "--model", "uniform-8"], ["--crf", "nope"],
                ["--weights", "median"]):  # one line, exit 2
        assert main(["estimate-kernel", str(sharp), str(blurry), "-o", str(tmp_path / "f.png"), *bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and not (tmp_path / "f.png").exists()
