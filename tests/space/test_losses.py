"""Loss terms of Eq. 4 and Eq. 6."""

import pytest
import torch

from blurkit.space.losses import charbonnier, frequency_l1, hyper_laplacian, psnr


def test_charbonnier_zero_difference_is_eps():
    x = torch.rand(1, 3, 8, 8)
    assert float(charbonnier(x, x, eps=1e-3)) == pytest.approx(1e-3)


def test_psnr_known_value():
    x = torch.zeros(2, 3, 8, 8)
    assert psnr(x + 0.1, x).tolist() == pytest.approx([20.0, 20.0], abs=1e-4)


def test_hyper_laplacian_prefers_smooth_images():
    g = torch.Generator().manual_seed(0)
    flat = torch.full((1, 3, 16, 16), 0.5)
    noisy = flat + 0.1 * torch.randn(1, 3, 16, 16, generator=g)
    assert float(hyper_laplacian(flat)) < 0.05 < float(hyper_laplacian(noisy))


def test_hyper_laplacian_gradient_is_finite_on_flat_image():
    x = torch.full((1, 1, 8, 8), 0.3, requires_grad=True)
    hyper_laplacian(x).backward()
    assert torch.isfinite(x.grad).all()


def test_hyper_laplacian_tiny_image_and_bad_shape():
    assert float(hyper_laplacian(torch.rand(1, 3, 1, 5))) == 0.0
    with pytest.raises(ValueError, match="B, C, H, W"):
        hyper_laplacian(torch.rand(3, 8, 8))


def test_frequency_l1_known_value_shapes_and_gradient():
    x = torch.rand(2, 3, 8, 6, generator=torch.Generator().manual_seed(0))
    assert float(frequency_l1(x, x)) == 0.0
    # a constant offset c moves only the DC term, by c * H * W (real); rfft2 keeps H * (W // 2 + 1) terms
    c, h, w = 0.1, 8, 6
    assert float(frequency_l1(x + c, x)) == pytest.approx(c * h * w / (h * (w // 2 + 1)), rel=1e-5)
    with pytest.raises(ValueError, match="shapes differ"):
        frequency_l1(x, x[..., :5])
    p = x.clone().requires_grad_(True)
    frequency_l1(p, torch.zeros_like(x)).backward()
    assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
