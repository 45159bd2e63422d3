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

from blurkit.space.blocks import DOWNSCALE

RIDGE = 1e-2  # lam as a fraction of the tile's mean gradient power


def _gradients(img: torch.Tensor) -> torch.Tensor:
    """Horizontal and vertical forward differences of the grey image (circular at the border).

    Shape:
        ``(B, 3, H, W) -> (B, 2, H, W)``.
    """
    g = img.float().mean(dim=1, keepdim=True)
    return torch.cat([g.roll(-1, dims=-1) - g, g.roll(-1, dims=-2) - g], dim=1)


def _least_squares(tx: torch.Tensor, ty: torch.Tensor, size: int) -> torch.Tensor:
    """The ridge-regularised least-squares kernel of each window pair, centred, flattened, unit RMS.

    Shape:
        tx, ty ``(B, nh, nw, 2, t, t)`` (gradients per window) -> ``(B, size*size, nh, nw)``.
    """
    b, nh, nw, _, t, _ = tx.shape
    tx = tx - tx.mean(dim=(-2, -1), keepdim=True)
    ty = ty - ty.mean(dim=(-2, -1), keepdim=True)
    fx = torch.fft.rfft2(tx)
    fy = torch.fft.rfft2(ty)
    power = (fx.abs() ** 2).sum(dim=3)
    lam = RIDGE * power.mean(dim=(-2, -1), keepdim=True) + 1e-8
    k = torch.fft.irfft2((fx.conj() * fy).sum(dim=3) / (power + lam), s=(t, t))  # (B, nh, nw, t, t)
    p = size // 2
    k = torch.roll(k, shifts=(p, p), dims=(-2, -1))[..., :size, :size].reshape(b, nh, nw, size * size)
    k = k / (k.pow(2).mean(dim=-1, keepdim=True).sqrt() + 1e-8)  # unit RMS: a feature on the scale of G's own
    return k.permute(0, 3, 1, 2).contiguous()


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
        return img.view(b, 2, nh, tile, nw, tile).permute(0, 2, 4, 1, 3, 5)

    return _least_squares(tiles(_gradients(x)), tiles(_gradients(y)), size)


def window_kernel_estimate(x: torch.Tensor, y: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """The least-squares kernel of a ``2*stride`` px window centred on every ``stride`` px cell (a local estimate
    for a fine code grid; windows overlap their neighbours by half and reflect at the border).

    Shape:
        x, y ``(B, C, H, W)`` with H, W multiples of ``stride`` -> ``(B, size*size, H/stride, W/stride)``.
    """
    b, _, h, w = x.shape
    if h % stride or w % stride:
        raise ValueError(f"window_kernel_estimate needs sides that are multiples of {stride}, got {h}x{w}")
    half, win = stride // 2, 2 * stride

    def windows(img: torch.Tensor) -> torch.Tensor:  # (B, 2, H, W) -> (B, nh, nw, 2, win, win)
        padded = torch.nn.functional.pad(img, (half, half, half, half), mode="reflect")
        return padded.unfold(2, win, stride).unfold(3, win, stride).permute(0, 2, 3, 1, 4, 5)

    return _least_squares(windows(_gradients(x)), windows(_gradients(y)), size)


__all__ = ["tile_kernel_estimate", "window_kernel_estimate", "RIDGE"]
