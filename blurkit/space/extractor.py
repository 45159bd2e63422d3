"""G, the blur kernel extractor: ``k = G(x, y)`` for a sharp image x and its blurry version y.

Architecture (supplement Sec. 2.2, Table 3), with the widths of a :class:`~blurkit.space.netconfig.KernelSpaceConfig`:

* a PreprocessBlock on x and a separate PreprocessBlock on y (``nf x H/4 x W/4`` each), concatenated;
* Conv(2nf, nf, 7, 1, 3) -> LeakyReLU(0.1);
* five Conv(3, 2, 1) -> LeakyReLU(0.1) with widths ``g_widths`` (``H/4 -> H/128``);
* ResBlock(kdim) x ``n_res_g``.

With ``config.g_estimate`` (blurkit's option, not the paper's) a least-squares kernel estimate of every 128 px
tile (:func:`blurkit.space.kernel_estimate.tile_kernel_estimate`) is projected by a 1x1 convolution to kdim channels and
added to the features before the ResBlocks.

With ``config.code_stride`` s < 128 (blurkit's option, not the paper's) the 128 px code is upsampled to an
``H/s x W/s`` grid and a refinement is added: Conv(3, 1, 1) -> LeakyReLU(0.1) -> Conv(1, 1, 0) of the trunk's
``H/s`` features concatenated with that upsampled code (and, with ``g_estimate``, a 1x1 projection of the
least-squares kernel of a ``2s`` px window around every cell, :func:`blurkit.space.kernel_estimate.window_kernel_estimate`:
where in the tile the blur differs). Its last convolution starts at zero, so a fine G initialised from a coarse one
gives the coarse codes, repeated.

Any size is accepted: x and y are padded to the next multiple of 128 (see :func:`blurkit.space.blocks.pad_to_multiple`),
so k has spatial size ``ceil(H/128) x ceil(W/128)`` times ``128/s``. A 1-channel pair is expanded to 3 channels.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as Fnn

from blurkit.space.blocks import (
    DOWNSCALE,
    PreprocessBlock,
    ResBlock,
    as_rgb,
    conv3x3,
    init_convs_,
    lrelu,
    pad_to_multiple,
)
from blurkit.space.kernel_estimate import tile_kernel_estimate, window_kernel_estimate
from blurkit.space.netconfig import KernelSpaceConfig


class KernelExtractor(nn.Module):
    """G: encodes the blur between a sharp/blurry pair into a kernel feature map k.

    Shape:
        x, y ``(B, C, H, W)`` with C in {1, 3} -> k ``(B, kdim, ceil(H/128)*r, ceil(W/128)*r)``,
        ``r = 128 / code_stride`` (1 for the paper's G).
    """

    def __init__(self, config: KernelSpaceConfig) -> None:
        super().__init__()
        self.config = config
        nf = config.nf
        self.pre_x = PreprocessBlock(nf, config.n_res_pre)
        self.pre_y = PreprocessBlock(nf, config.n_res_pre)
        self.fuse = nn.Sequential(nn.Conv2d(2 * nf, nf, 7, 1, 3), lrelu())
        layers: list[nn.Module] = []
        c_in = nf
        for width in config.g_widths:
            layers += [conv3x3(c_in, width, stride=2), lrelu()]
            c_in = width
        self.down = nn.Sequential(*layers)
        init_convs_(self.fuse)
        init_convs_(self.down)
        self.body = nn.Sequential(*[ResBlock(config.kdim) for _ in range(config.n_res_g)])
        self.estimate = nn.Conv2d(config.basis_size**2, config.kdim, 1) if config.g_estimate else None
        self.ratio = DOWNSCALE // config.code_stride
        self.tap = len(config.g_widths) - 1 - int(math.log2(self.ratio))  # trunk level at the code resolution
        self.refine: nn.Sequential | None = None
        self.estimate_fine: nn.Conv2d | None = None
        if self.ratio > 1:
            c_in = config.g_widths[self.tap] + config.kdim
            if config.g_estimate:
                self.estimate_fine = nn.Conv2d(config.basis_size**2, config.kdim, 1)
                c_in += config.kdim
            self.refine = nn.Sequential(conv3x3(c_in, config.kdim), lrelu(), nn.Conv2d(config.kdim, config.kdim, 1))
            init_convs_(self.refine)
            nn.init.zeros_(self.refine[-1].weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Extract k from the pair (x, y).

        Shape:
            x, y ``(B, C, H, W)`` -> ``(B, kdim, ceil(H/128)*r, ceil(W/128)*r)``, ``r = 128 / code_stride``.
        """
        x, _ = as_rgb(x, "x")
        y, _ = as_rgb(y, "y")
        if x.shape != y.shape:
            raise ValueError(
                f"G needs x and y of the same shape, got x {tuple(x.shape)} and y {tuple(y.shape)}"
            )
        xp, _ = pad_to_multiple(x)
        yp, _ = pad_to_multiple(y)
        feats = torch.cat([self.pre_x(xp), self.pre_y(yp)], dim=1)
        h = self.fuse(feats)
        tapped = h
        for i in range(len(self.config.g_widths)):
            h = self.down[2 * i + 1](self.down[2 * i](h))  # stride-2 conv, LeakyReLU
            if i == self.tap:
                tapped = h
        if self.estimate is not None:
            h = h + self.estimate(tile_kernel_estimate(xp, yp, self.config.basis_size).to(h.dtype))
        k = self.body(h)
        if self.refine is None:
            return k
        k = Fnn.interpolate(k, scale_factor=self.ratio, mode="nearest")
        parts = [tapped, k]
        if self.estimate_fine is not None:
            local = window_kernel_estimate(xp, yp, self.config.basis_size, self.config.code_stride)
            parts.append(self.estimate_fine(local.to(k.dtype)))
        return k + self.refine(torch.cat(parts, dim=1))
