"""Loss terms shared by training (Eq. 4) and deblurring (Eq. 6), and a differentiable PSNR and SSIM."""

from __future__ import annotations

import torch
import torch.nn.functional as Fnn


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Charbonnier loss ``mean(sqrt((pred - target)^2 + eps^2))``. Shape: any, same for both; out scalar."""
    return torch.sqrt((pred.float() - target.float()) ** 2 + eps * eps).mean()


def frequency_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 distance of the 2-D Fourier transforms, ``mean(|Re d| + |Im d|)`` with ``d = rfft2(pred) - rfft2(target)``
    (the frequency loss of MIMO-UNet, Cho et al. 2021: it weighs the high frequencies a blur removes as much as the
    low ones that a pixel loss is dominated by).

    Shape: ``(..., H, W)``, same for both; out scalar.
    """
    if pred.shape != target.shape:
        raise ValueError(f"frequency_l1: shapes differ: {tuple(pred.shape)} against {tuple(target.shape)}")
    d = torch.fft.rfft2(pred.float()) - torch.fft.rfft2(target.float())
    return (d.real.abs() + d.imag.abs()).mean()


def kernel_error(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Mean relative squared error ``||K - K_true||^2 / ||K_true||^2`` over images and code cells.

    Shape:
        pred, true ``(B, h_k, w_k, S, S)`` -> scalar.
    """
    if pred.shape != true.shape:
        raise ValueError(f"kernel shapes differ: {tuple(pred.shape)} against {tuple(true.shape)}")
    err = (pred.float() - true.float()).pow(2).sum((-2, -1))
    return (err / true.float().pow(2).sum((-2, -1)).clamp_min(1e-12)).mean()


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per image of [0, 1] images (pred clamped). Shape: ``(B, C, H, W)`` -> ``(B,)``."""
    mse = ((pred.clamp(0, 1) - target) ** 2).flatten(1).mean(1).clamp_min(1e-12)
    return -10.0 * torch.log10(mse)


def hyper_laplacian(x: torch.Tensor, alpha: float = 0.66, eps: float = 1e-6) -> torch.Tensor:
    """Hyper-Laplacian gradient prior ``mean((g_u^2 + g_v^2 + eps)^(alpha/2))`` (Krishnan & Fergus; Eq. 5).

    g_u, g_v are forward differences along width and height, taken on the common ``(H-1) x (W-1)`` grid; ``eps``
    keeps the gradient finite where the image is flat. An image smaller than 2x2 has no gradient and costs 0.

    Shape:
        x ``(B, C, H, W)`` -> scalar.
    """
    if x.dim() != 4:
        raise ValueError(f"hyper_laplacian needs a (B, C, H, W) batch, got shape {tuple(x.shape)}")
    if x.shape[-1] < 2 or x.shape[-2] < 2:
        return x.sum() * 0.0
    gu = x[..., :-1, 1:] - x[..., :-1, :-1]
    gv = x[..., 1:, :-1] - x[..., :-1, :-1]
    return (gu * gu + gv * gv + eps).pow(alpha / 2).mean()


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004) with a Gaussian window over valid positions, for [0, 1] images; differentiable.

    The window shrinks (odd, ``<= min(H, W)``) for images smaller than ``window``.

    Shape:
        a, b ``(B, C, H, W)`` -> scalar.
    """
    size = min(window, a.shape[-2], a.shape[-1])
    size -= 1 - size % 2
    t = torch.arange(size, dtype=a.dtype, device=a.device) - (size - 1) / 2
    g = torch.exp(-t * t / (2 * sigma * sigma))
    g = g / g.sum()
    c = a.shape[1]
    w = (g[:, None] * g[None, :]).expand(c, 1, size, size)

    def blur(v: torch.Tensor) -> torch.Tensor:
        return Fnn.conv2d(v, w, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.mean()
