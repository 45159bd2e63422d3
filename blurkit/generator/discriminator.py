"""The StyleGAN2 residual discriminator, to train :class:`~blurkit.generator.stylegan2.StyleGAN2Generator`.

Names follow rosinality's ``stylegan2-pytorch`` (``convs``: a 1 x 1 from-RGB layer then one :class:`ResBlock` per
halving down to 4 px; ``final_conv``; ``final_linear``), so its ``d`` state dicts load too. Before ``final_conv``
a minibatch standard-deviation channel is appended: the standard deviation of each feature over groups of up to
``stddev_group`` samples, averaged to one number per group (it lets the discriminator see a collapsed batch).
Widths come from the same :class:`~blurkit.generator.stylegan2.StyleGAN2Config` as the generator's.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from blurkit.generator.stylegan2 import (
    Blur,
    EqualConv2d,
    EqualLinear,
    FusedLeakyReLU,
    StyleGAN2Config,
    generator_preset,
)


class ConvLayer(nn.Sequential):
    """[Blur] -> EqualConv2d -> [bias + leaky ReLU * sqrt(2)]; with ``downsample`` the conv has stride 2.

    Shape: ``(B, in, H, W) -> (B, out, H, W)`` (``(B, out, H/2, W/2)`` downsampling).
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, downsample: bool = False,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), bias: bool = True, activate: bool = True) -> None:
        layers: list[nn.Module] = []
        if downsample:  # blur so that the stride-2 conv sees a band-limited input and returns exactly H/2
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_channel, out_channel, kernel_size, stride=stride, padding=padding,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channel, bias=bias))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Two 3 x 3 convs (the second halving) plus a 1 x 1 halving skip, summed and divided by sqrt(2).

    Shape: ``(B, in, H, W) -> (B, out, H/2, W/2)``.
    """

    def __init__(self, in_channel: int, out_channel: int, blur_kernel: Sequence[float] = (1, 3, 3, 1)) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_channel, in_channel, 3, blur_kernel=blur_kernel)
        self.conv2 = ConvLayer(in_channel, out_channel, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(in_channel, out_channel, 1, downsample=True, blur_kernel=blur_kernel, activate=False,
                              bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


class StyleGAN2Discriminator(nn.Module):
    """Real/fake logits of ``size`` px RGB images in [-1, 1].

    The minibatch-stddev groups hold ``min(B, stddev_group)`` samples; when that does not divide the batch,
    blurkit takes the largest group size that does (rosinality would fail).

    Shape: ``(B, 3, size, size) -> (B, 1)``.
    """

    def __init__(self, config: StyleGAN2Config | str = "cpu", stddev_group: int = 4) -> None:
        super().__init__()
        self.config = cfg = generator_preset(config)
        ch, bk = cfg.widths(), cfg.blur_kernel
        convs: list[nn.Module] = [ConvLayer(3, ch[cfg.size], 1)]
        in_channel = ch[cfg.size]
        for i in range(cfg.log_size, 2, -1):
            convs.append(ResBlock(in_channel, ch[2 ** (i - 1)], bk))
            in_channel = ch[2 ** (i - 1)]
        self.convs = nn.Sequential(*convs)
        self.stddev_group, self.stddev_feat = stddev_group, 1
        self.final_conv = ConvLayer(in_channel + 1, ch[4], 3)
        self.final_linear = nn.Sequential(EqualLinear(ch[4] * 4 * 4, ch[4], activation="fused_lrelu"),
                                          EqualLinear(ch[4], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = self.config.size
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, size, size):
            raise ValueError(f"the discriminator expects images (B, 3, {size}, {size}), got {tuple(x.shape)}")
        out = self.convs(x)
        b, c, h, w = out.shape
        group = next(g for g in range(min(b, self.stddev_group), 0, -1) if b % g == 0)
        std = out.view(group, -1, self.stddev_feat, c // self.stddev_feat, h, w)
        std = torch.sqrt(std.var(0, unbiased=False) + 1e-8).mean(dim=(2, 3, 4), keepdim=True).squeeze(2)
        out = torch.cat([out, std.repeat(group, 1, h, w)], 1)
        return self.final_linear(self.final_conv(out).view(b, -1))
