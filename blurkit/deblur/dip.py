"""Deep Image Priors (paper Eq. 7, supplement Sec. 2.4): ``x = G_x(z_x)`` and ``k = G_k(z_k)``.

* :class:`ImageDIP`: the skip-connection U-Net of Ulyanov et al. (encoder of stride-2 convolutions, 1x1 skip
  branches, bilinear upsampling, batch norm, LeakyReLU, sigmoid output), fed a fixed noise tensor.
* :class:`KernelDIP`: G's architecture on a noise input: a 7x7 convolution, five stride-2 convolutions with the
  kernel space's ``g_widths`` and ``n_res_g`` ResBlocks, giving a kernel map of the shape F expects.

Both are built from a :class:`DIPConfig`; the noise inputs are drawn from a ``torch.Generator`` so a seed fixes
them, and :func:`seeded` fixes the initial weights.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as Fnn

from blurkit.space.blocks import DOWNSCALE, ResBlock, conv3x3, init_convs_, kernel_size_for, lrelu, padded_size
from blurkit.space.netconfig import N_LEVELS, KernelSpaceConfig


@dataclass(frozen=True)
class DIPConfig:
    """Sizes of the two priors.

    Attributes:
        z_channels: channels of the image prior's noise input (official code: 8).
        widths: channels of each U-Net level (official code: 128 x 5); its length is the depth.
        skip: channels of each skip branch (official code: 16).
        kz_channels: channels of the kernel prior's noise input (official code: 64).
        k_width: channels of the kernel prior's first 7x7 convolution.
    """

    z_channels: int = 8
    widths: tuple[int, ...] = (128, 128, 128, 128, 128)
    skip: int = 16
    kz_channels: int = 64
    k_width: int = 64

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(self.widths))
        for name in ("z_channels", "skip", "kz_channels", "k_width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"DIPConfig.{name} must be an integer >= 1, got {value!r}")
        if not self.widths or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in self.widths):
            raise ValueError(f"DIPConfig.widths must be a non-empty list of integers >= 1, got {self.widths!r}")

    @property
    def multiple(self) -> int:
        """The image prior works on sizes that are a multiple of this (2 ** depth)."""
        return 2 ** len(self.widths)


def _cbr(c_in: int, c_out: int, k: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, stride, k // 2, padding_mode="replicate" if k > 1 else "zeros"),
            nn.BatchNorm2d(c_out), lrelu()]


class ImageDIP(nn.Module):
    """The U-Net image prior ``x = G_x(z)``.

    Shape:
        z ``(B, z_channels, H', W')`` with H', W' multiples of ``config.multiple`` -> ``(B, out_channels, H', W')``
        in ``(0, 1)``.
    """

    def __init__(self, config: DIPConfig, out_channels: int = 3) -> None:
        super().__init__()
        self.config = config
        self.down = nn.ModuleList()
        self.skips = nn.ModuleList()
        self.up = nn.ModuleList()
        c_in = config.z_channels
        for width in config.widths:
            self.skips.append(nn.Sequential(*_cbr(c_in, config.skip, 1)))
            self.down.append(nn.Sequential(*_cbr(c_in, width, 3, 2), *_cbr(width, width, 3)))
            c_in = width
        # Decoder, deepest level first: upsample, concatenate the skip branch, two convolutions.
        c_deep = config.widths[-1]
        for width in reversed(config.widths):
            self.up.append(nn.Sequential(nn.BatchNorm2d(c_deep + config.skip), *_cbr(c_deep + config.skip, width, 3),
                                         *_cbr(width, width, 1)))
            c_deep = width
        self.out = nn.Conv2d(c_deep, out_channels, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        m = self.config.multiple
        if z.dim() != 4 or z.shape[-2] % m or z.shape[-1] % m:
            raise ValueError(f"ImageDIP needs a (B, C, H, W) noise with H, W multiples of {m}, got {tuple(z.shape)}")
        skips, h = [], z
        for skip, down in zip(self.skips, self.down):
            skips.append(skip(h))
            h = down(h)
        for up, s in zip(self.up, reversed(skips)):
            h = Fnn.interpolate(h, size=s.shape[-2:], mode="bilinear", align_corners=False)
            h = up(torch.cat([h, s], dim=1))
        return torch.sigmoid(self.out(h))


class KernelDIP(nn.Module):
    """The kernel prior ``k = G_k(z_k)``: G's layout (7x7 conv, five stride-2 convs, ResBlocks) on noise.

    Shape:
        z ``(B, kz_channels, 32*h, 32*w)`` -> k ``(B, kdim, h, w)``.
    """

    def __init__(self, config: DIPConfig, space: KernelSpaceConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(config.kz_channels, config.k_width, 7, 1, 3, padding_mode="reflect"),
                                   lrelu()]
        c_in = config.k_width
        for width in space.g_widths:
            layers += [conv3x3(c_in, width, stride=2), lrelu()]
            c_in = width
        if c_in != space.kdim:  # a code wider than G's last conv (a g_lsq space: size² kernel logits per cell)
            layers.append(nn.Conv2d(c_in, space.kdim, 1))
        self.body = nn.Sequential(*layers, *[ResBlock(space.kdim) for _ in range(space.n_res_g)])
        init_convs_(self.body)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)


def image_noise(config: DIPConfig, batch: int, h: int, w: int, generator: torch.Generator) -> torch.Tensor:
    """The fixed noise input of :class:`ImageDIP` for an ``h x w`` image (padded up to ``config.multiple``).

    Shape:
        ``(batch, z_channels, padded(h), padded(w))``, uniform in [0, 0.1) as in the DIP paper.
    """
    m = config.multiple
    shape = (batch, config.z_channels, padded_size(h, m), padded_size(w, m))
    return torch.rand(shape, generator=generator) * 0.1


def kernel_noise(config: DIPConfig, batch: int, h: int, w: int, generator: torch.Generator,
                 code_stride: int = DOWNSCALE) -> torch.Tensor:
    """The fixed standard-normal input of :class:`KernelDIP` for an ``h x w`` image and a kernel space whose codes
    are ``code_stride`` px apart (``KernelSpaceConfig.code_stride``).

    Shape:
        ``(batch, kz_channels, 32*kh, 32*kw)`` with ``(kh, kw) = kernel_size_for(h, w, code_stride)``.
    """
    kh, kw = kernel_size_for(h, w, code_stride)
    scale = 2 ** N_LEVELS
    return torch.randn((batch, config.kz_channels, scale * kh, scale * kw), generator=generator)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block (e.g. network construction) under a fixed torch seed without touching the global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
