"""StyleGAN2's native ops and equalised-learning-rate layers, in plain PyTorch (no CUDA extension).

:func:`upfirdn2d` (upsample, FIR-filter, downsample) and :func:`fused_leaky_relu` (bias + leaky ReLU * sqrt(2)) are
rewrites of the two CUDA ops of StyleGAN2; :func:`make_kernel` builds their FIR filter. The layers on top of them
keep rosinality's ``stylegan2-pytorch`` names, so that its state dicts load with ``strict=True``: :class:`PixelNorm`,
:class:`FusedLeakyReLU`, :class:`EqualLinear` / :class:`EqualConv2d` (weights N(0, 1) scaled in the forward pass),
:class:`Blur` / :class:`Upsample` (the FIR filter), and :class:`ModulatedConv2d`, the modulated 3 x 3 convolution
with weight demodulation (one grouped convolution for the batch; with ``upsample`` a stride-2 transposed
convolution followed by the [1, 3, 3, 1] blur, as in StyleGAN2).

:func:`to_unit` / :func:`from_unit` map StyleGAN's image range [-1, 1] to blurkit's [0, 1] and back.
The generator (:mod:`blurkit.generator.stylegan2`) and the discriminator are built from these.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as Fnn
from torch import nn

SQRT2 = math.sqrt(2.0)


# ---------------------------------------------------------------------------------------------------- native ops


def to_unit(image: torch.Tensor) -> torch.Tensor:
    """A generator image in StyleGAN's [-1, 1] as blurkit's [0, 1]: ``(image + 1) / 2``, clamped to [0, 1].

    The clamp cuts the gradient of pixels outside the range; a latent search that wants it should use
    ``(image + 1) / 2`` itself. Shape: any -> same.
    """
    return ((image + 1) * 0.5).clamp(0, 1)


def from_unit(image: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_unit` on [0, 1]: ``2 * image - 1``. Shape: any -> same."""
    return image * 2 - 1


def make_kernel(taps: Sequence[float]) -> torch.Tensor:
    """The 2-D FIR kernel of 1-D ``taps`` (outer product), normalised to sum 1. Shape: ``(n,) -> (n, n)``."""
    k = torch.as_tensor(taps, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
              pad: Sequence[int] = (0, 0)) -> torch.Tensor:
    """Upsample, FIR-filter, downsample: StyleGAN2's ``upfirdn2d`` op in plain PyTorch.

    1. insert ``up - 1`` zeros after every sample along each axis;
    2. pad with zeros, ``pad = (p0, p1)`` on both axes or ``(px0, px1, py0, py1)`` (a negative pad crops);
    3. convolve each channel with ``kernel`` (a true convolution: the kernel is flipped), keeping the valid part;
    4. keep every ``down``-th row and column, starting with the first.

    Shape:
        x ``(B, C, H, W)``, kernel ``(kh, kw)`` ->
        ``(B, C, (H * up + py0 + py1 - kh) // down + 1, (W * up + px0 + px1 - kw) // down + 1)``.
    """
    if x.ndim != 4 or kernel.ndim != 2:
        raise ValueError(f"upfirdn2d expects x (B, C, H, W) and a 2-D kernel, got {tuple(x.shape)} and "
                         f"{tuple(kernel.shape)}")
    if up < 1 or down < 1:
        raise ValueError(f"upfirdn2d: up and down must be >= 1, got {up}, {down}")
    px0, px1, py0, py1 = (*pad, *pad) if len(pad) == 2 else tuple(pad)
    b, c, h, w = x.shape
    kh, kw = kernel.shape
    if h * up + py0 + py1 < kh or w * up + px0 + px1 < kw:
        raise ValueError(f"upfirdn2d: a {h}x{w} input padded by {tuple(pad)} is smaller than the {kh}x{kw} kernel")
    if up > 1:
        x = Fnn.pad(x.reshape(b, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(b, c, h * up, w * up)
    x = Fnn.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    weight = kernel.flip(0, 1).to(x)[None, None].expand(c, 1, kh, kw)
    x = Fnn.conv2d(x, weight, groups=c)
    return x[:, :, ::down, ::down] if down > 1 else x


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor | None = None, negative_slope: float = 0.2,
                     scale: float = SQRT2) -> torch.Tensor:
    """``leaky_relu(x + bias, negative_slope) * scale``, the bias added per channel (dim 1).

    The sqrt(2) gain keeps the second moment of a unit Gaussian input through the activation.
    Shape: ``(B, C, ...)`` and bias ``(C,)`` -> ``(B, C, ...)``.
    """
    if bias is not None:
        x = x + bias.view(1, -1, *([1] * (x.ndim - 2)))
    return Fnn.leaky_relu(x, negative_slope) * scale


# ---------------------------------------------------------------------------------------------------- layers


class PixelNorm(nn.Module):
    """Normalise each vector to unit root mean square over dim 1. Shape: ``(B, D) -> (B, D)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


class FusedLeakyReLU(nn.Module):
    """Bias (``bias``) + leaky ReLU(0.2) * sqrt(2). Shape: ``(B, C, ...) -> (B, C, ...)``."""

    def __init__(self, channel: int, bias: bool = True) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias)


class EqualLinear(nn.Module):
    """A linear layer with the equalised learning rate: weights stored as N(0, 1) / lr_mul, scaled by
    ``lr_mul / sqrt(in_dim)`` in the forward pass; the bias is scaled by ``lr_mul``.

    Shape: ``(B, in_dim) -> (B, out_dim)``.
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: str | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.activation = activation
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias * self.lr_mul
        if self.activation:
            return fused_leaky_relu(Fnn.linear(x, self.weight * self.scale), bias)
        return Fnn.linear(x, self.weight * self.scale, bias)


class EqualConv2d(nn.Module):
    """A convolution with the equalised learning rate (weights scaled by ``1 / sqrt(fan_in)``).

    Shape: ``(B, in, H, W) -> (B, out, H', W')``.
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channel, in_channel, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_channel * kernel_size ** 2)
        self.stride, self.padding = stride, padding
        self.bias = nn.Parameter(torch.zeros(out_channel)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return Fnn.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class Blur(nn.Module):
    """The FIR filter (buffer ``kernel``, times ``upsample_factor**2`` after an upsampling) with padding ``pad``.

    Shape: ``(B, C, H, W) -> (B, C, H + p0 + p1 - n + 1, W + p0 + p1 - n + 1)``.
    """

    def __init__(self, taps: Sequence[float], pad: tuple[int, int], upsample_factor: int = 1) -> None:
        super().__init__()
        self.register_buffer("kernel", make_kernel(taps) * upsample_factor ** 2)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x upsampling by zero insertion and the FIR filter (of the RGB skip path). Shape: ``(B, C, 2H, 2W)``."""

    def __init__(self, taps: Sequence[float], factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(taps) * factor ** 2)
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """A convolution whose input channels are scaled per sample by a style (``modulation``) and whose output
    channels are then renormalised to unit expected variance (demodulation), as one grouped convolution.

    With ``upsample`` it is a stride-2 transposed convolution followed by the FIR blur (output ``2H x 2W``).

    Shape:
        x ``(B, in, H, W)``, style ``(B, style_dim)`` -> ``(B, out, H, W)`` (``(B, out, 2H, 2W)`` upsampling).
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int, demodulate: bool = True,
                 upsample: bool = False, blur_kernel: Sequence[float] = (1, 3, 3, 1)) -> None:
        super().__init__()
        self.in_channel, self.out_channel, self.kernel_size = in_channel, out_channel, kernel_size
        self.upsample, self.demodulate = upsample, demodulate
        if upsample:  # the transposed conv gives 2H + k - 2 samples; pad so that the blur returns 2H
            p = (len(blur_kernel) - 2) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + 1, p // 2 + 1), upsample_factor=2)
        self.scale = 1 / math.sqrt(in_channel * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        if c != self.in_channel:
            raise ValueError(f"ModulatedConv2d expects {self.in_channel} input channels, got {c}")
        k = self.kernel_size
        weight = self.scale * self.weight * self.modulation(style).view(b, 1, c, 1, 1)  # (B, out, in, k, k)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        x = x.reshape(1, b * c, h, w)
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(b * c, self.out_channel, k, k)
            out = Fnn.conv_transpose2d(x, weight, stride=2, groups=b)
            return self.blur(out.view(b, self.out_channel, *out.shape[-2:]))
        out = Fnn.conv2d(x, weight.reshape(b * self.out_channel, c, k, k), padding=self.padding, groups=b)
        return out.view(b, self.out_channel, *out.shape[-2:])


