"""A closed-form kernel estimate from a sharp/blurry pair: blurkit's optional extra input to G.

For every 128 x 128 tile (the cells of k's grid), the regularised least-squares kernel ``K`` minimising
``sum_g |K conv g(x) - g(y)|^2 + lam |K|^2`` over the horizontal and vertical gradients g of the grey images is,
in the Fourier domain, ``conj(X) Y / (|X|^2 + lam)``. Its central ``size x size`` window, flattened, is a feature
that names the blur of the tile directly. The paper's G has to discover this correlation of y with shifted copies
of x by itself, a product of its two inputs that a ReLU network learns slowly (measured on 2 CPU cores: not at all
in the cpu budget; see README). With ``KernelSpaceConfig.g_estimate`` the estimate is projected to kdim channels
and added to G's features before its residual blocks; G is otherwise the paper's.
"""

from __future__ import annotations

import torch

from blurkit.blocks import DOWNSCALE

RIDGE = 1e-2  # lam as a fraction of the tile's mean gradient power


def _gradients(img: torch.Tensor) -> torch.Tensor:
    """Horizontal and vertical forward differences of the grey image (circular at the border).

    Shape:
        ``(B, 3, H, W) -> (B, 2, H, W)``.
    """
    g = img.float().mean(dim=1, keepdim=True)
    return torch.cat([g.roll(-1, dims=-1) - g, g.roll(-1, dims=-2) - g], dim=1)


def tile_kernel_estimate(x: torch.Tensor, y: torch.Tensor, size: int, tile: int = DOWNSCALE) -> torch.Tensor:
    """The least-squares kernel of every tile, flattened into channels and scaled to unit RMS.

    Shape:
        x, y ``(B, C, H, W)`` with H, W multiples of ``tile`` -> ``(B, size*size, H/tile, W/tile)``.
    """
    b, _, h, w = x.shape
    if h % tile or w % tile:
        raise ValueError(f"tile_kernel_estimate needs sides that are multiples of {tile}, got {h}x{w}")
    nh, nw = h // tile, w // tile

    def tiles(img: torch.Tensor) -> torch.Tensor:  # (B, 2, H, W) -> (B, nh, nw, 2, tile, tile)
        t = img.view(b, 2, nh, tile, nw, tile).permute(0, 2, 4, 1, 3, 5)
        return t - t.mean(dim=(-2, -1), keepdim=True)

    fx = torch.fft.rfft2(tiles(_gradients(x)))
    fy = torch.fft.rfft2(tiles(_gradients(y)))
    power = (fx.abs() ** 2).sum(dim=3)
    lam = RIDGE * power.mean(dim=(-2, -1), keepdim=True) + 1e-8
    k = torch.fft.irfft2((fx.conj() * fy).sum(dim=3) / (power + lam), s=(tile, tile))  # (B, nh, nw, tile, tile)
    p = size // 2
    k = torch.roll(k, shifts=(p, p), dims=(-2, -1))[..., :size, :size].reshape(b, nh, nw, size * size)
    k = k / (k.pow(2).mean(dim=-1, keepdim=True).sqrt() + 1e-8)  # unit RMS: a feature on the scale of G's own
    return k.permute(0, 3, 1, 2).contiguous()


__all__ = ["tile_kernel_estimate", "RIDGE"]
