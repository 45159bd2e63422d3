"""G that reads the least-squares kernel: blurkit's option ``KernelSpaceConfig.g_lsq``.

A learned G regresses towards typical kernels: on the reds-like ladder images the shipped ``reds-like-kernel``'s
G(x, y) is 0.505 off the camera PSFs (relative squared error), where the non-negative least-squares kernel of the
pair (:func:`blurkit.space.kernel_lsq.lsq_kernel`, in F's tone domain, leaving out what one kernel does not explain)
is 0.152 off, and an x-step with it gains +3.3 dB where G's code gains +1 (docs/deblurring.md). This G therefore
*starts* from that estimate: the code of every cell is ``log(K_lsq + EPS) + delta``, where ``K_lsq`` is the
least-squares kernel of the cell's 128 px tile and ``delta`` a learned per-cell correction whose last layer starts
at zero. F (``head="kernel"`` with ``g_lsq``) reads a cell's kernel as ``softmax(code)``, so a fresh G hands F the
estimate itself.

The correction: five stride-2 convolutions of (x, y) (widths ``g_widths``) to one feature per 32 px, average-pooled
to the code grid, joined with a linear projection of the cell's ``log K_lsq / LOG_SCALE``, then
Linear -> LeakyReLU(0.1) -> Linear (zero at the start) to ``basis_size ** 2`` logits.

The estimate costs about 1.3 s per 128 px tile on two threads (4 reweighting rounds of 300 FISTA iterations;
``blurkit bench lsq-store``), so
training passes every pair's estimate in from a cache (:mod:`blurkit.space.lsq_cache`, the ``lsq`` argument), and
every tile's estimate is kept in a store keyed by the tiles' content (:mod:`blurkit.space.lsq_store`): transfer
from the same pairs computes it once.
It is computed under ``no_grad``: G's code is not differentiable in x and y through it.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as Fnn

from blurkit.space.blocks import DOWNSCALE, as_rgb, lrelu, pad_to_multiple
from blurkit.space.kernel_lsq import LSQ_ROBUST, LSQ_WEIGHTS, lsq_kernel
from blurkit.space.lsq_store import stored_tile_kernels
from blurkit.space.netconfig import KernelSpaceConfig

EPS = 1e-6  # floor of the kernel before its log: softmax(log(K + EPS)) is K to within EPS per tap
LOG_SCALE = 14.0  # about -log(EPS): brings the log-kernel to order 1 for the correction's input
TRUNK_STRIDE = 32  # the correction's features are one per 32 px


def tile_lsq_kernels(x: torch.Tensor, y: torch.Tensor, size: int, tone: nn.Module | None,
                     tile: int = DOWNSCALE) -> torch.Tensor:
    """The least-squares kernel of every ``tile`` px tile of (x, y), in the blur domain of ``tone`` (if any), read
    from the tile store where it was computed before (:mod:`blurkit.space.lsq_store`).

    Shape:
        x, y ``(B, 3, H, W)`` with H, W multiples of ``tile`` -> ``(B, H/tile, W/tile, size, size)``.
    """
    b, c, h, w = x.shape
    if h % tile or w % tile:
        raise ValueError(f"tile_lsq_kernels needs sides that are multiples of {tile}, got {h}x{w}")
    nh, nw = h // tile, w // tile

    def tiles(img: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B * nh * nw, C, tile, tile)
        return img.reshape(b, c, nh, tile, nw, tile).permute(0, 2, 4, 1, 3, 5).reshape(-1, c, tile, tile)

    def estimate(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
        return lsq_kernel(tx, ty, size, to_linear=tone, robust=LSQ_ROBUST, weights=LSQ_WEIGHTS)

    kernels = stored_tile_kernels(tiles(x), tiles(y), size, tone, estimate)
    return kernels.view(b, nh, nw, size, size)


class LsqExtractor(nn.Module):
    """G(x, y) = log(K_lsq + EPS) + delta(x, y, K_lsq) per code cell (see the module docstring).

    Shape:
        x, y ``(B, C, H, W)``; ``lsq`` (optional, the tiles' estimates) ``(B, H'/128, W'/128, S, S)`` with H', W'
        the sides padded to multiples of 128 -> k ``(B, S * S, H'/code_stride, W'/code_stride)``.
    """

    def __init__(self, config: KernelSpaceConfig, tone: nn.Module | None) -> None:
        super().__init__()
        if not config.g_lsq:
            raise ValueError("LsqExtractor needs a KernelSpaceConfig with g_lsq=True")
        self.config = config
        self.__dict__["tone"] = tone  # F's tone curve, read but not owned (F trains and saves it)
        layers: list[nn.Module] = []
        c_in = 6
        for width in config.g_widths:
            layers += [nn.Conv2d(c_in, width, 3, 2, 1), lrelu()]
            c_in = width
        self.trunk = nn.Sequential(*layers)
        taps = config.basis_size**2
        self.from_kernel = nn.Linear(taps, 64)
        self.head = nn.Sequential(nn.Linear(c_in + 64, 256), lrelu(), nn.Linear(256, taps))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def estimate(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The tiles' least-squares kernels of a padded pair (:func:`tile_lsq_kernels`, F's tone domain).

        Shape:
            x, y ``(B, 3, H, W)``, multiples of 128 -> ``(B, H/128, W/128, S, S)``.
        """
        return tile_lsq_kernels(x.float(), y.float(), self.config.basis_size, self.tone)

    def forward(self, x: torch.Tensor, y: torch.Tensor, lsq: torch.Tensor | None = None) -> torch.Tensor:
        """The code of the pair: the tiles' estimates (``lsq``, else computed now) as logits plus the correction.

        Shape:
            x, y ``(B, C, H, W)``, lsq ``(B, H'/128, W'/128, S, S)`` -> ``(B, S * S, H'/code_stride, W'/code_stride)``.
        """
        x, _ = as_rgb(x, "x")
        y, _ = as_rgb(y, "y")
        if x.shape != y.shape:
            raise ValueError(f"G needs x and y of the same shape, got x {tuple(x.shape)} and y {tuple(y.shape)}")
        xp, _ = pad_to_multiple(x)
        yp, _ = pad_to_multiple(y)
        b, _, h, w = xp.shape
        grid = (h // DOWNSCALE, w // DOWNSCALE)
        taps = self.config.basis_size**2
        if lsq is None:
            lsq = self.estimate(xp, yp)
        if tuple(lsq.shape) != (b, *grid, self.config.basis_size, self.config.basis_size):
            raise ValueError(f"lsq of shape {tuple(lsq.shape)} does not fit a {h}x{w} (padded) batch of {b}: "
                             f"expected ({b}, {grid[0]}, {grid[1]}, S, S) with S = {self.config.basis_size}")
        ratio = DOWNSCALE // self.config.code_stride
        logk = torch.log(lsq.float().reshape(b, *grid, taps) + EPS)  # (B, gh, gw, taps)
        logk = logk.repeat_interleave(ratio, dim=1).repeat_interleave(ratio, dim=2)  # (B, hk, wk, taps)
        feats = self.trunk(torch.cat([xp, yp], dim=1).to(self.head[0].weight.dtype))
        pool = self.config.code_stride // TRUNK_STRIDE
        if pool > 1:
            feats = Fnn.avg_pool2d(feats, pool)
        feats = feats.permute(0, 2, 3, 1)  # (B, hk, wk, c)
        delta = self.head(torch.cat([feats, self.from_kernel(logk / LOG_SCALE)], dim=-1))
        return (logk + delta).permute(0, 3, 1, 2).contiguous()


__all__ = ["EPS", "LOG_SCALE", "LsqExtractor", "tile_lsq_kernels"]
