"""Building blocks shared by the kernel extractor G and the blur operator family F.

From the paper's supplement (Sec. 2.1, Tables 1 and 2):

* :class:`ResBlock`: conv3x3 -> LeakyReLU(0.1) -> conv3x3, plus the identity; no normalisation.
* :class:`PreprocessBlock` (PrB): image ``3 x H x W`` -> features ``nf x H/4 x W/4``.
* :class:`PostprocessBlock` (PoB): features ``nf x H/4 x W/4`` -> image ``3 x H x W``.

Both networks downsample by :data:`DOWNSCALE` (= 4 * 2**5 = 128) in total. The official code only accepts sizes
that are multiples of 128; here :func:`pad_to_multiple` pads any image up to the next multiple (bottom/right) and
:func:`crop_to` cuts the result back, so F and G accept any ``H x W >= 1 x 1``.

Initialisation (:func:`init_convs_`): every convolution is Kaiming-normal for LeakyReLU(0.1) with zero bias, so
activations keep their scale through the deep encoder/decoder (PyTorch's default init shrinks them by ~6x a layer,
which leaves a fresh F almost blind to k). The two convolutions of each residual branch are further scaled by 0.1
(the usual practice for deep, normalisation-free residual stacks), so a fresh ResBlock is close to the identity.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as Fnn

DOWNSCALE = 128  # total downsampling of F and G: PrB (x4) then five stride-2 convolutions (x32)
NEG_SLOPE = 0.1  # LeakyReLU slope used throughout (supplement, Tables 2-4)


def init_convs_(module: nn.Module) -> nn.Module:
    """Kaiming-normal init (LeakyReLU 0.1 gain, zero bias) of every Conv2d / ConvTranspose2d in ``module``.

    A transposed convolution with stride s gives each output pixel about ``c_in * k*k / s*s`` inputs; that is
    the fan used for it.
    """
    gain = math.sqrt(2.0 / (1.0 + NEG_SLOPE**2))
    for m in module.modules():
        if isinstance(m, nn.ConvTranspose2d):
            fan = m.in_channels * m.kernel_size[0] * m.kernel_size[1] / (m.stride[0] * m.stride[1])
        elif isinstance(m, nn.Conv2d):
            fan = m.in_channels * m.kernel_size[0] * m.kernel_size[1] / m.groups
        else:
            continue
        nn.init.normal_(m.weight, 0.0, gain / math.sqrt(fan))
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    return module


def conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    """A 3x3 convolution with padding 1 (halves the size when ``stride=2``)."""
    return nn.Conv2d(c_in, c_out, 3, stride, 1)


def lrelu() -> nn.LeakyReLU:
    """LeakyReLU(0.1), applied in place."""
    return nn.LeakyReLU(NEG_SLOPE, inplace=True)


class ResBlock(nn.Module):
    """conv3x3 -> LeakyReLU(0.1) -> conv3x3, plus the identity (no normalisation).

    Shape:
        ``(B, c, H, W) -> (B, c, H, W)``.
    """

    def __init__(self, channels: int, init_scale: float = 0.1) -> None:
        super().__init__()
        self.conv1 = conv3x3(channels, channels)
        self.conv2 = conv3x3(channels, channels)
        self.act = lrelu()
        init_convs_(self)
        with torch.no_grad():
            self.conv1.weight.mul_(init_scale)
            self.conv2.weight.mul_(init_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


class PreprocessBlock(nn.Module):
    """PrB: Conv(3,nf) -> LReLU -> Conv(nf,nf,s2) -> LReLU -> Conv(nf,nf,s2) -> LReLU -> ResBlock(nf) x n_res.

    Shape:
        ``(B, 3, H, W) -> (B, nf, ceil(H/4), ceil(W/4))``.
    """

    def __init__(self, nf: int, n_res: int, in_channels: int = 3) -> None:
        super().__init__()
        self.head = nn.Sequential(
            conv3x3(in_channels, nf), lrelu(),
            conv3x3(nf, nf, stride=2), lrelu(),
            conv3x3(nf, nf, stride=2), lrelu(),
        )
        init_convs_(self.head)
        self.body = nn.Sequential(*[ResBlock(nf) for _ in range(n_res)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.head(x))


class PostprocessBlock(nn.Module):
    """PoB: ResBlock(nf) x n_res -> 2 x [Conv(nf,4nf) -> PixelShuffle(2) -> LReLU] -> Conv(nf,nf) -> Conv(nf,3).

    The last convolution has no activation: its output is a residual added to the input image by F.

    Shape:
        ``(B, nf, h, w) -> (B, 3, 4h, 4w)``.
    """

    def __init__(self, nf: int, n_res: int, out_channels: int = 3) -> None:
        super().__init__()
        self.body = nn.Sequential(*[ResBlock(nf) for _ in range(n_res)])
        self.up = nn.Sequential(
            conv3x3(nf, 4 * nf), nn.PixelShuffle(2), lrelu(),
            conv3x3(nf, 4 * nf), nn.PixelShuffle(2), lrelu(),
        )
        self.conv_hr = conv3x3(nf, nf)
        self.conv_last = conv3x3(nf, out_channels)
        init_convs_(self.up)
        init_convs_(self.conv_hr)
        init_convs_(self.conv_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_last(self.conv_hr(self.up(self.body(x))))


def _pad_dim(x: torch.Tensor, amount: int, dim: int) -> torch.Tensor:
    """Pad ``amount`` pixels at the end of spatial ``dim`` (-2: height, -1: width), reflect if it fits."""
    if amount == 0:
        return x
    pad = (0, 0, 0, amount) if dim == -2 else (0, amount, 0, 0)
    mode = "reflect" if amount < x.shape[dim] else "replicate"
    return Fnn.pad(x, pad, mode=mode)


def pad_to_multiple(x: torch.Tensor, m: int = DOWNSCALE) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad an image batch on the bottom/right up to the next multiple of ``m``; return it and the original size.

    Each spatial dimension uses reflect padding when the image is larger than the padding it needs, else
    replicate padding (reflect is impossible there, e.g. for a 1 px image).

    Shape:
        ``(B, C, H, W) -> (B, C, m*ceil(H/m), m*ceil(W/m))``, and ``(H, W)``.
    """
    if x.dim() != 4:
        raise ValueError(f"expected a 4-D batch (B, C, H, W), got shape {tuple(x.shape)}")
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if h < 1 or w < 1:
        raise ValueError(f"image must be at least 1x1, got shape {tuple(x.shape)}")
    x = _pad_dim(x, padded_size(h, m) - h, -2)
    x = _pad_dim(x, padded_size(w, m) - w, -1)
    return x, (h, w)


def crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Keep the top-left ``size = (H, W)`` pixels (undoes :func:`pad_to_multiple`).

    Shape:
        ``(B, C, H', W') -> (B, C, H, W)`` with ``H <= H'`` and ``W <= W'``.
    """
    h, w = size
    if h > x.shape[-2] or w > x.shape[-1]:
        raise ValueError(f"cannot crop shape {tuple(x.shape)} to {h}x{w}: the crop is larger than the tensor")
    return x[..., :h, :w]


def padded_size(n: int, m: int = DOWNSCALE) -> int:
    """The smallest multiple of ``m`` that is ``>= n``."""
    return m * math.ceil(n / m)


def kernel_size_for(h: int, w: int, stride: int = DOWNSCALE) -> tuple[int, int]:
    """Spatial size of the encoded kernel k for an ``h x w`` image with one code per ``stride`` px.

    The image is first padded to multiples of 128, so this is ``(ceil(h/128), ceil(w/128))`` times ``128/stride``
    (``stride`` divides 128; see ``KernelSpaceConfig.code_stride``).
    """
    if stride <= 0 or DOWNSCALE % stride:
        raise ValueError(f"the code stride must divide {DOWNSCALE}, got {stride}")
    return padded_size(h) // stride, padded_size(w) // stride


def as_rgb(x: torch.Tensor, name: str) -> tuple[torch.Tensor, bool]:
    """Check an image batch and expand a 1-channel batch to 3 channels; return it and whether it was grey.

    Shape:
        ``(B, 1 or 3, H, W) -> (B, 3, H, W)``.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name} must be a 4-D batch (B, C, H, W), got shape {tuple(x.shape)}")
    c = x.shape[1]
    if c == 3:
        return x, False
    if c == 1:
        return x.expand(-1, 3, -1, -1), True
    raise ValueError(f"{name} must have 1 or 3 channels, got shape {tuple(x.shape)} ({c} channels)")
