"""SRN-Deblur (Tao et al., CVPR 2018, "Scale-recurrent network for deep image deblurring"), in PyTorch.

One encoder-decoder, its weights shared across three scales (1/4, 1/2, 1), runs coarse to fine. At each scale its
input is the blurry image at that scale concatenated with the upsampled estimate of the previous scale (at the
coarsest scale: the blurry image itself, as in the official code). The encoder has three levels (a convolution,
stride 2 from the second level on, then ResBlocks); a ConvLSTM cell at the bottleneck carries its hidden state
from scale to scale (bilinearly upsampled x2); the decoder mirrors the encoder with ResBlocks and 4x4 transposed
convolutions, adding the encoder features of the same level (skip connections). As in the official code, no
gradient flows through the upsampled previous estimate (only through the hidden state). ResBlocks are
conv-ReLU-conv plus the identity, with no normalisation; initialisation is Xavier-uniform (TF-slim's default, as
the official code), with the second convolution of each ResBlock and the output convolution scaled by 0.1
(blurkit: keeps the activations of the deep, normalisation-free stack in scale, so short runs start near the
identity).

Loss (paper Eq. 3): the sum over scales of the mean squared error against the sharp image downsampled the same way
the input is (:func:`srn_loss`).

Deviations, all switchable in :class:`SRNConfig`: with ``residual=True`` (presets ``smoke`` and ``cpu``) the
network predicts a residual added to the blurry input of its scale instead of the image itself (the paper's
choice, ``residual=False``, is kept by ``paper``); it trains much faster in short runs. Smaller presets use 3x3
kernels instead of the paper's 5x5. Any ``H x W`` is accepted: the input is padded (reflect) at the bottom/right to
a multiple of 16 and the outputs are cropped back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as Fnn
from torch import nn

from blurkit.errors import UnknownNameError
from blurkit.space.blocks import as_rgb, crop_to, pad_to_multiple
from blurkit.space.losses import frequency_l1

N_SCALES = 3
MULTIPLE = 4 * 2 ** (N_SCALES - 1)  # 1/4 scale x two stride-2 levels: inputs are padded to a multiple of 16


@dataclass(frozen=True)
class SRNConfig:
    """Sizes of SRN-Deblur.

    Attributes:
        widths: channels of the three encoder levels (paper 32, 64, 128).
        n_res: ResBlocks per encoder level and per decoder level (paper 3).
        kernel_size: side of the convolutions (paper 5; odd).
        lstm_kernel: side of the ConvLSTM's gate convolution (official code 3).
        residual: predict a residual on the blurry input of each scale (blurkit) instead of the image (paper).
        carry: with ``residual``, a finer scale's residual is added to its blurry input *plus the coarser scale's
            correction* (its estimate minus its input), upsampled and without gradient, so the coarse scales'
            deblurring reaches the output without the finer scale having to copy it (blurkit; a Laplacian-pyramid
            residual).
    """

    widths: tuple[int, int, int] = (32, 64, 128)
    n_res: int = 3
    kernel_size: int = 5
    lstm_kernel: int = 3
    residual: bool = False
    carry: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(self.widths))
        if len(self.widths) != 3 or any(int(w) != w or w < 1 for w in self.widths):
            raise ValueError(f"SRNConfig.widths must be three positive integers, got {self.widths}")
        if self.n_res < 0:
            raise ValueError(f"SRNConfig.n_res must be >= 0, got {self.n_res}")
        for name in ("kernel_size", "lstm_kernel"):
            k = getattr(self, name)
            if k < 1 or k % 2 == 0:
                raise ValueError(f"SRNConfig.{name} must be odd and positive, got {k}")
        if self.carry and not self.residual:
            raise ValueError("SRNConfig.carry needs residual=True (it carries the coarser scale's residual)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (tuples become lists)."""
        return {**dataclasses.asdict(self), "widths": list(self.widths)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SRNConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        if unknown := sorted(set(d) - names):
            raise ValueError(f"SRNConfig.from_dict: unknown keys {unknown}")
        return cls(**d)


SRN_PRESETS: dict[str, SRNConfig] = {
    "smoke": SRNConfig(widths=(8, 16, 32), n_res=1, kernel_size=3, lstm_kernel=3, residual=True),
    "cpu": SRNConfig(widths=(16, 32, 64), n_res=1, kernel_size=3, lstm_kernel=3, residual=True),
    "cpu-carry": SRNConfig(widths=(16, 32, 64), n_res=1, kernel_size=3, lstm_kernel=3, residual=True, carry=True),
    # cpu-carry at the paper's widths (3x3, one ResBlock a level): +0.77 dB over 8000 steps, 46 min on 2 threads
    # (docs/baselines.md, probe V); not a profile's, the tables train too many runs for it
    "cpu-wide": SRNConfig(widths=(32, 64, 128), n_res=1, kernel_size=3, lstm_kernel=3, residual=True, carry=True),
    "paper": SRNConfig(widths=(32, 64, 128), n_res=3, kernel_size=5, lstm_kernel=3, residual=False),
}


def srn_preset(name: str | SRNConfig) -> SRNConfig:
    """A preset by name (:data:`SRN_PRESETS`); a config passes through."""
    if isinstance(name, SRNConfig):
        return name
    try:
        return SRN_PRESETS[name]
    except KeyError:
        raise UnknownNameError(f"unknown SRN preset '{name}'; choose one of: {', '.join(SRN_PRESETS)}") from None


def _conv(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, k, stride, k // 2)


class SRNResBlock(nn.Module):
    """conv -> ReLU -> conv, plus the identity (no normalisation). Shape: ``(B, c, H, W) -> (B, c, H, W)``."""

    def __init__(self, channels: int, k: int) -> None:
        super().__init__()
        self.conv1 = _conv(channels, channels, k)
        self.conv2 = _conv(channels, channels, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(torch.relu(self.conv1(x)))


class ConvLSTMCell(nn.Module):
    """A convolutional LSTM cell: gates from one convolution of ``[x, h]``.

    Shape:
        x, h, c ``(B, ch, h, w)`` -> new (h, c), both ``(B, ch, h, w)``.
    """

    def __init__(self, channels: int, k: int) -> None:
        super().__init__()
        self.gates = _conv(2 * channels, 4 * channels, k)

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        i, f, o, g = self.gates(torch.cat([x, h], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


def _level(c_in: int, c_out: int, k: int, stride: int, n_res: int) -> nn.Sequential:
    return nn.Sequential(_conv(c_in, c_out, k, stride), nn.ReLU(inplace=True),
                         *[SRNResBlock(c_out, k) for _ in range(n_res)])


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (antialiased when shrinking). Shape: ``(B, C, h, w) -> (B, C, *size)``."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2]
    return Fnn.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def image_pyramid(x: torch.Tensor) -> list[torch.Tensor]:
    """The padded image at scales 1/4, 1/2, 1 (coarse to fine), as the network sees them.

    Shape:
        ``(B, C, H, W)`` with H, W multiples of 16 -> ``[(B, C, H/4, W/4), (B, C, H/2, W/2), (B, C, H, W)]``.
    """
    h, w = x.shape[-2:]
    return [_resize(x, (h >> s, w >> s)) for s in range(N_SCALES - 1, -1, -1)]


def _output_sizes(h: int, w: int) -> list[tuple[int, int]]:
    """Valid (unpadded) size of each scale's output: ``ceil(H / 2**s)``, coarse to fine."""
    return [(-(-h // (1 << s)), -(-w // (1 << s))) for s in range(N_SCALES - 1, -1, -1)]


class SRNDeblur(nn.Module):
    """The scale-recurrent network; weights shared across the three scales.

    Shape:
        y ``(B, 1 or 3, H, W)`` in [0, 1] -> list of three ``(B, C, ceil(H/s), ceil(W/s))`` for s = 4, 2, 1
        (coarse to fine; the last is the full-size sharp estimate; a 1-channel input gives 1-channel outputs,
        the mean of the RGB estimate).
    """

    def __init__(self, config: SRNConfig | str = "cpu") -> None:
        super().__init__()
        self.config = cfg = srn_preset(config)
        (w1, w2, w3), k, n = cfg.widths, cfg.kernel_size, cfg.n_res
        self.enc1 = _level(6, w1, k, 1, n)
        self.enc2 = _level(w1, w2, k, 2, n)
        self.enc3 = _level(w2, w3, k, 2, n)
        self.lstm = ConvLSTMCell(w3, cfg.lstm_kernel)
        self.dec3 = nn.Sequential(*[SRNResBlock(w3, k) for _ in range(n)])
        self.up3 = nn.ConvTranspose2d(w3, w2, 4, 2, 1)
        self.dec2 = nn.Sequential(*[SRNResBlock(w2, k) for _ in range(n)])
        self.up2 = nn.ConvTranspose2d(w2, w1, 4, 2, 1)
        self.dec1 = nn.Sequential(*[SRNResBlock(w1, k) for _ in range(n)])
        self.out = _conv(w1, 3, k)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        with torch.no_grad():  # a fresh network is close to the identity (residual) / to a flat image
            for m in self.modules():
                if isinstance(m, SRNResBlock):
                    m.conv2.weight.mul_(0.1)
            self.out.weight.mul_(0.1)

    def num_parameters(self) -> int:
        """Number of parameters."""
        return sum(p.numel() for p in self.parameters())

    def _scale(self, inp: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        e1 = self.enc1(inp)
        e2 = self.enc2(e1)
        h, c = self.lstm(self.enc3(e2), h, c)
        d2 = torch.relu(self.up3(self.dec3(h))) + e2
        d1 = torch.relu(self.up2(self.dec2(d2))) + e1
        return self.out(self.dec1(d1)), h, c

    def forward(self, y: torch.Tensor) -> list[torch.Tensor]:
        y3, grey = as_rgb(y, "y")
        size = tuple(y3.shape[-2:])
        padded, _ = pad_to_multiple(y3, MULTIPLE)
        pyramid = image_pyramid(padded)
        b, (hc, wc) = y3.shape[0], pyramid[0].shape[-2:]
        w3 = self.config.widths[2]
        h = c = padded.new_zeros(b, w3, hc // 4, wc // 4)
        est = pyramid[0]
        outs: list[torch.Tensor] = []
        for s, inp in enumerate(pyramid):
            base = inp
            if s:
                if self.config.carry:  # the coarser scale's correction, upsampled
                    base = inp + _resize((est - pyramid[s - 1]).detach(), inp.shape[-2:])
                est = _resize(est.detach(), inp.shape[-2:])  # official code: stop_gradient on the estimate
                h = _resize(h, (h.shape[-2] * 2, h.shape[-1] * 2))
                c = _resize(c, (c.shape[-2] * 2, c.shape[-1] * 2))
            res, h, c = self._scale(torch.cat([inp, est], 1), h, c)
            est = base + res if self.config.residual else res
            outs.append(est)
        sizes = _output_sizes(*size)
        outs = [crop_to(o, sz) for o, sz in zip(outs, sizes)]
        return [o.mean(1, keepdim=True) for o in outs] if grey else outs


def srn_targets(sharp: torch.Tensor) -> list[torch.Tensor]:
    """The sharp image at each scale, made exactly as the network makes its inputs (pad, resize, crop).

    Shape:
        ``(B, C, H, W) -> [(B, C, ceil(H/4), ceil(W/4)), (B, C, ceil(H/2), ceil(W/2)), (B, C, H, W)]``.
    """
    padded, (h, w) = pad_to_multiple(sharp, MULTIPLE)
    return [crop_to(t, sz) for t, sz in zip(image_pyramid(padded), _output_sizes(h, w))]


SRN_LOSSES = ("mse", "l1", "charbonnier")


def srn_loss(outputs: list[torch.Tensor], sharp: torch.Tensor, kind: str = "mse",
             fft_weight: float = 0.0) -> torch.Tensor:
    """Multi-scale loss (paper Eq. 3): sum over scales of the MSE against the downsampled sharp image.

    ``kind`` ``l1`` or ``charbonnier`` (eps 1e-3) replaces the MSE per scale (blurkit's short-run choice);
    ``fft_weight`` adds that weight times :func:`blurkit.space.losses.frequency_l1` per scale (blurkit's option).

    Shape:
        outputs as returned by :class:`SRNDeblur`, sharp ``(B, C, H, W)`` -> scalar.
    """
    if kind not in SRN_LOSSES:
        raise ValueError(f"srn_loss kind must be one of {SRN_LOSSES}, got {kind!r}")
    targets = srn_targets(sharp)
    if len(outputs) != len(targets):
        raise ValueError(f"srn_loss expects {len(targets)} outputs (coarse to fine), got {len(outputs)}")
    loss = sharp.new_zeros(())
    for out, tgt in zip(outputs, targets):
        if out.shape != tgt.shape:
            raise ValueError(f"srn_loss: output shape {tuple(out.shape)} does not match target {tuple(tgt.shape)}")
        diff = out.float() - tgt.float()
        if kind == "mse":
            loss = loss + (diff**2).mean()
        elif kind == "l1":
            loss = loss + diff.abs().mean()
        else:
            loss = loss + torch.sqrt(diff**2 + 1e-6).mean()
        if fft_weight:
            loss = loss + fft_weight * frequency_l1(out, tgt)
    return loss
