"""Metrics: PSNR/SSIM against known values, shape checks, LPIPS availability reported honestly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from blurkit.deblur.metrics import image_metrics, lpips_distance, lpips_status, psnr, ssim


@pytest.fixture(params=[(32, 40), (32, 40, 3)], ids=["gray", "rgb"])
def img(request: pytest.FixtureRequest) -> np.ndarray:
    return np.random.default_rng(0).uniform(0.2, 0.8, size=request.param)


def test_identical_images(img: np.ndarray) -> None:
    assert psnr(img, img) == math.inf
    assert ssim(img, img) == pytest.approx(1.0)


def test_constant_offset_gives_known_psnr(img: np.ndarray) -> None:
    # MSE = 0.01 -> PSNR = 10 log10(1 / 0.01) = 20 dB (no clipping: values stay inside [0, 1])
    assert psnr(img + 0.1, img) == pytest.approx(20.0, abs=1e-9)
    assert psnr(img - 0.05, img) == pytest.approx(20 * math.log10(1 / 0.05), abs=1e-9)


def test_prediction_is_clipped() -> None:
    ref = np.ones((16, 16))
    assert psnr(ref + 5.0, ref) == math.inf  # clipped back to 1
    assert psnr(np.full((16, 16), 0.9) - 3.0, np.full((16, 16), 0.1)) == pytest.approx(20.0)


def test_ssim_decreases_with_noise(img: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    a = ssim(img + rng.normal(0, 0.02, img.shape), img)
    b = ssim(img + rng.normal(0, 0.2, img.shape), img)
    assert 1.0 > a > b


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match=r"\(8, 8\).*\(8, 9\)"):
        psnr(np.zeros((8, 8)), np.zeros((8, 9)))
    with pytest.raises(ValueError, match="differ"):
        ssim(np.zeros((8, 8, 3)), np.zeros((8, 8)))
    with pytest.raises(ValueError, match="differ"):
        image_metrics(np.zeros((8, 8)), np.zeros((9, 8)))


def test_bad_layout_raises() -> None:
    with pytest.raises(ValueError, match="H, W"):
        psnr(np.zeros((8, 8, 4)), np.zeros((8, 8, 4)))


def test_lpips_status_is_honest() -> None:
    ok, reason = lpips_status()
    assert isinstance(ok, bool)
    assert isinstance(reason, str) and reason.strip() and "\n" not in reason
    assert lpips_status() == (ok, reason)  # cached
    a = np.random.default_rng(0).random((32, 32, 3))
    d = lpips_distance(a, a)
    if ok:
        assert isinstance(d, float) and d == pytest.approx(0.0, abs=1e-3)
    else:
        assert d is None


def test_image_metrics_keys(img: np.ndarray) -> None:
    m = image_metrics(img + 0.1, img)
    assert set(m) == {"psnr", "ssim", "lpips"}
    assert m["psnr"] == pytest.approx(20.0)
    assert (m["lpips"] is None) == (not lpips_status()[0])
