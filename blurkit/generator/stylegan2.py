"""A StyleGAN2 generator (Karras et al., CVPR 2020, "Analyzing and Improving the Image Quality of StyleGAN").

The image prior of the paper's Sec. 3.3: deblurring searches the latent space of a pretrained StyleGAN2 (as PULSE
does) for an image that the kernel space blurs into the input. This file holds the generator in pure PyTorch (no
CUDA extension); :mod:`blurkit.generator.discriminator` holds a discriminator to train it.

Layout. Module and parameter names follow rosinality's ``stylegan2-pytorch`` (the most widely shared PyTorch
StyleGAN2 checkpoints), so a ``g_ema`` state dict from it loads with ``strict=True``
(:func:`blurkit.generator.checkpoints.load_rosinality`):

- ``style``: the mapping network, ``PixelNorm`` then ``n_mlp`` :class:`EqualLinear` layers (``style.1`` ...
  ``style.{n_mlp}``) with a learning-rate multiplier ``lr_mlp`` and a fused leaky ReLU;
- ``input.input``: the learned 4 x 4 constant; ``conv1`` / ``to_rgb1``: the 4 px layer and its RGB output;
- ``convs.{2i}`` (2x upsampling) and ``convs.{2i+1}``: the two :class:`StyledConv` of resolution ``2**(i+3)``;
  ``to_rgbs.{i}``: their :class:`ToRGB`, adding the upsampled RGB skip of the level below;
- ``noises.noise_{j}``: one fixed noise map per styled convolution (used when ``randomize_noise=False``);
- ``upsamples``: an empty list, kept only because the rosinality module has it.

A :class:`StyledConv` is a :class:`ModulatedConv2d` (demodulated; with upsampling, a transposed convolution and the
FIR blur), noise injection (``noise.weight`` times a unit Gaussian map), then bias + leaky ReLU(0.2) * sqrt(2)
(``activate.bias``). The native ops and equalised layers live in :mod:`blurkit.generator.ops`, re-exported here.

Checked once by hand, not in the test suite (it needs rosinality's code): against rosinality's ``model.py``
(commit bef283a, with its own CPU fallbacks of the two ops) the state-dict keys are the same, in the same order, for
64 and 256 px generators and discriminators, and images and logits from the same weights are bit-identical.

Images are in [-1, 1] (StyleGAN's convention, not clamped); :func:`to_unit` maps them to blurkit's [0, 1].
Latents: ``z`` and ``w`` are ``(B, style_dim)``; ``W+`` is ``(B, n_latent, style_dim)`` with one ``w`` per layer
(``n_latent = 2 * log2(size) - 2``: each styled convolution and the last ToRGB).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from blurkit.errors import UnknownNameError
from blurkit.generator.ops import (
    SQRT2,
    Blur,
    EqualConv2d,
    EqualLinear,
    FusedLeakyReLU,
    ModulatedConv2d,
    PixelNorm,
    Upsample,
    from_unit,
    fused_leaky_relu,
    make_kernel,
    to_unit,
    upfirdn2d,
)

__all__ = ["BASE_WIDTHS", "GENERATOR_PRESETS", "SQRT2", "Blur", "ConstantInput", "EqualConv2d", "EqualLinear",
           "FusedLeakyReLU", "ModulatedConv2d", "NoiseInjection", "PixelNorm", "StyleGAN2Config",
           "StyleGAN2Generator", "StyledConv", "ToRGB", "Upsample", "from_unit", "fused_leaky_relu",
           "generator_preset", "make_kernel", "to_unit", "upfirdn2d"]  # the ops are re-exported from here

# rosinality's widths per resolution; from 64 px on they are multiplied by channel_multiplier
BASE_WIDTHS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}


@dataclass(frozen=True)
class StyleGAN2Config:
    """Sizes of a StyleGAN2 generator (and of the matching discriminator).

    Attributes:
        size: output side in px, a power of two >= 8.
        style_dim: dimension of z and w (rosinality / NVIDIA 512).
        n_mlp: layers of the mapping network (8 in StyleGAN2).
        channel_multiplier: rosinality's width rule (config-f: 2) when ``channels`` is None.
        channels: explicit widths of resolutions 4, 8, ..., ``size`` (``log2(size) - 1`` numbers); overrides
            ``channel_multiplier``.
        lr_mlp: learning-rate multiplier of the mapping layers (0.01). It scales their weights in the forward
            pass, so a checkpoint must be read with the value it was trained with.
        blur_kernel: 1-D taps of the FIR filter used when resampling (outer product with itself, normalised).
    """

    size: int = 256
    style_dim: int = 512
    n_mlp: int = 8
    channel_multiplier: int = 2
    channels: tuple[int, ...] | None = None
    lr_mlp: float = 0.01
    blur_kernel: tuple[float, ...] = (1, 3, 3, 1)

    def __post_init__(self) -> None:
        if self.channels is not None:
            object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "blur_kernel", tuple(self.blur_kernel))
        for name in ("size", "style_dim", "n_mlp", "channel_multiplier"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"StyleGAN2Config.{name} must be a positive integer, got {value!r}")
        if self.size < 8 or self.size & (self.size - 1):
            raise ValueError(f"StyleGAN2Config.size must be a power of two >= 8, got {self.size}")
        n_res = int(math.log2(self.size)) - 1
        if self.channels is None and self.size > 1024:
            raise ValueError(f"StyleGAN2Config.size {self.size} > 1024 needs explicit channels")
        if self.channels is not None and (
                len(self.channels) != n_res
                or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in self.channels)):
            raise ValueError(f"StyleGAN2Config.channels must list {n_res} positive integers (resolutions 4 to "
                             f"{self.size}), got {self.channels}")
        if not self.lr_mlp > 0:
            raise ValueError(f"StyleGAN2Config.lr_mlp must be > 0, got {self.lr_mlp!r}")
        if len(self.blur_kernel) < 2 or any(not v >= 0 for v in self.blur_kernel) or not sum(self.blur_kernel) > 0:
            raise ValueError(f"StyleGAN2Config.blur_kernel must have >= 2 non-negative taps, got {self.blur_kernel}")

    @property
    def log_size(self) -> int:
        return int(math.log2(self.size))

    @property
    def n_latent(self) -> int:
        """Number of w vectors in W+: one per styled convolution plus the last ToRGB."""
        return self.log_size * 2 - 2

    @property
    def num_layers(self) -> int:
        """Number of styled convolutions (= number of noise maps)."""
        return (self.log_size - 2) * 2 + 1

    def widths(self) -> dict[int, int]:
        """Channels of each resolution 4 ... size."""
        res = [2 ** i for i in range(2, self.log_size + 1)]
        if self.channels is not None:
            return dict(zip(res, self.channels))
        return {r: BASE_WIDTHS[r] * (self.channel_multiplier if r >= 64 else 1) for r in res}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["channels"] = None if self.channels is None else list(self.channels)
        d["blur_kernel"] = list(self.blur_kernel)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StyleGAN2Config:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        if not isinstance(d, dict):
            raise ValueError(f"StyleGAN2Config.from_dict expects a dict, got {type(d).__name__}")
        if unknown := sorted(set(d) - {f.name for f in dataclasses.fields(cls)}):
            raise ValueError(f"StyleGAN2Config.from_dict: unknown keys {unknown}")
        return cls(**d)


GENERATOR_PRESETS: dict[str, StyleGAN2Config] = {
    # tests and CI: 32 px, tiny widths
    "smoke": StyleGAN2Config(size=32, style_dim=16, n_mlp=2, channels=(16, 16, 16, 8)),
    # 64 px text crops on 2 CPU cores (sized for a 1-2 h run; measure with a benchmark before relying on it)
    "cpu": StyleGAN2Config(size=64, style_dim=128, n_mlp=4, channels=(128, 128, 128, 64, 32)),
    # rosinality's 256 px FFHQ config (config-f widths)
    "ffhq-256": StyleGAN2Config(size=256, style_dim=512, n_mlp=8, channel_multiplier=2),
}


def generator_preset(name: str | StyleGAN2Config) -> StyleGAN2Config:
    """A preset by name; a config passes through; an unknown name raises :class:`~blurkit.errors.UnknownNameError`."""
    if isinstance(name, StyleGAN2Config):
        return name
    try:
        return GENERATOR_PRESETS[name]
    except KeyError:
        raise UnknownNameError(f"unknown StyleGAN2 preset '{name}'; choose one of {sorted(GENERATOR_PRESETS)}") \
            from None


# ---------------------------------------------------------------------------------------------------- layers


class NoiseInjection(nn.Module):
    """Adds ``weight`` times a noise map (a fresh unit Gaussian one when none is given).

    Shape: image ``(B, C, H, W)``, noise ``(B or 1, 1, H, W)`` -> ``(B, C, H, W)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, image: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            b, _, h, w = image.shape
            noise = image.new_empty(b, 1, h, w).normal_()
        return image + self.weight * noise


class ConstantInput(nn.Module):
    """The learned constant (``input``) the synthesis starts from. Shape: ``batch -> (batch, C, 4, 4)``."""

    def __init__(self, channel: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.repeat(batch, 1, 1, 1)


class StyledConv(nn.Module):
    """Modulated conv -> noise -> bias + leaky ReLU * sqrt(2).

    Shape: x ``(B, in, H, W)``, style ``(B, style_dim)`` -> ``(B, out, H, W)`` (``2H x 2W`` upsampling).
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int, upsample: bool = False,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), demodulate: bool = True) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim, demodulate=demodulate,
                                    upsample=upsample, blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, style), noise=noise))


class ToRGB(nn.Module):
    """A modulated 1 x 1 convolution to RGB (no demodulation) plus ``bias``, plus the upsampled RGB of the level
    below. Shape: x ``(B, in, H, W)``, style ``(B, style_dim)``, skip ``(B, 3, H/2, W/2)`` -> ``(B, 3, H, W)``.
    """

    def __init__(self, in_channel: int, style_dim: int, upsample: bool = True,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1)) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias
        return out if skip is None else out + self.upsample(skip)


# ---------------------------------------------------------------------------------------------------- generator


class StyleGAN2Generator(nn.Module):
    """The StyleGAN2 generator in rosinality's layout (see the module docstring).

    ``latent_avg`` (a non-persistent buffer, None until set) is the average w a checkpoint ships (NVIDIA's
    ``w_avg``, rosinality's ``latent_avg``); it is the default truncation centre. ``provenance`` holds the record a
    blurkit checkpoint was saved with (None otherwise).

    Shape:
        styles: z ``(B, style_dim)`` (or a list of one or two for style mixing); w the same with
        ``input_is_latent=True``, or W+ ``(B, n_latent, style_dim)`` -> image ``(B, 3, size, size)`` in [-1, 1].
    """

    def __init__(self, config: StyleGAN2Config | str = "cpu") -> None:
        super().__init__()
        self.config = cfg = generator_preset(config)
        self.size, self.style_dim, self.log_size = cfg.size, cfg.style_dim, cfg.log_size
        self.num_layers = cfg.num_layers
        sd, bk, ch = cfg.style_dim, cfg.blur_kernel, cfg.widths()
        self.style = nn.Sequential(PixelNorm(), *[EqualLinear(sd, sd, lr_mul=cfg.lr_mlp, activation="fused_lrelu")
                                                  for _ in range(cfg.n_mlp)])
        self.input = ConstantInput(ch[4])
        self.conv1 = StyledConv(ch[4], ch[4], 3, sd, blur_kernel=bk)
        self.to_rgb1 = ToRGB(ch[4], sd, upsample=False)
        self.convs, self.upsamples, self.to_rgbs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        self.noises = nn.Module()
        for j in range(self.num_layers):
            res = 2 ** ((j + 5) // 2)
            self.noises.register_buffer(f"noise_{j}", torch.randn(1, 1, res, res))
        in_channel = ch[4]
        for i in range(3, self.log_size + 1):
            out_channel = ch[2 ** i]
            self.convs.append(StyledConv(in_channel, out_channel, 3, sd, upsample=True, blur_kernel=bk))
            self.convs.append(StyledConv(out_channel, out_channel, 3, sd, blur_kernel=bk))
            self.to_rgbs.append(ToRGB(out_channel, sd, blur_kernel=bk))
            in_channel = out_channel
        self.register_buffer("latent_avg", None, persistent=False)
        self.provenance: dict | None = None

    @property
    def n_latent(self) -> int:
        """Number of w vectors in W+ (``2 * log2(size) - 2``)."""
        return self.log_size * 2 - 2

    @property
    def device(self) -> torch.device:
        return self.input.input.device

    def num_parameters(self) -> int:
        """Number of parameters."""
        return sum(p.numel() for p in self.parameters())

    def sample_z(self, batch: int, seed: int) -> torch.Tensor:
        """``batch`` unit Gaussian z drawn with ``seed`` (on the CPU, so every device gets the same). Shape:
        ``(batch, style_dim)``."""
        z = torch.randn(batch, self.style_dim, generator=torch.Generator().manual_seed(seed))
        return z.to(self.device)

    def get_latent(self, z: torch.Tensor) -> torch.Tensor:
        """The mapping network: z to w. Shape: ``(B, style_dim) -> (B, style_dim)``."""
        if z.ndim != 2 or z.shape[1] != self.style_dim:
            raise ValueError(f"z must be (B, {self.style_dim}), got {tuple(z.shape)}")
        return self.style(z)

    @torch.no_grad()
    def mean_latent(self, n: int = 4096, seed: int = 0) -> torch.Tensor:
        """The mean w of ``n`` z drawn with ``seed`` (no gradient). Shape: ``(1, style_dim)``."""
        return self.style(self.sample_z(n, seed)).mean(0, keepdim=True)

    def make_noise(self, seed: int | None = None) -> list[torch.Tensor]:
        """Fresh noise maps, one per styled convolution (drawn with ``seed`` on the CPU when given).

        Shape: list of ``num_layers`` tensors ``(1, 1, r, r)``, r = 4, 8, 8, 16, 16, ..., size.
        """
        gen = None if seed is None else torch.Generator().manual_seed(seed)
        return [torch.randn(1, 1, 2 ** ((j + 5) // 2), 2 ** ((j + 5) // 2), generator=gen).to(self.device)
                for j in range(self.num_layers)]

    def forward(self, styles: list[torch.Tensor] | torch.Tensor, input_is_latent: bool = False,
                noise: Sequence[torch.Tensor | None] | None = None, randomize_noise: bool = True,
                truncation: float = 1.0, truncation_latent: torch.Tensor | None = None,
                return_latents: bool = False,
                inject_index: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Generate images (rosinality's call signature).

        Args:
            styles: z (or w / W+ with ``input_is_latent``), a tensor or a list of one or two (two: style mixing,
                the first for the layers before ``inject_index`` (drawn from torch's global RNG when None)).
            noise: one map per styled convolution (entries may be None: fresh noise); None: fresh noise with
                ``randomize_noise``, else the stored ``noises.noise_j``.
            truncation: < 1 pulls w towards ``truncation_latent`` (default: ``latent_avg``).
            return_latents: also return the W+ used.

        Shape:
            ``(B, style_dim)`` (W+: ``(B, n_latent, style_dim)``) -> (``(B, 3, size, size)`` in [-1, 1], W+
            ``(B, n_latent, style_dim)`` or None).
        """
        styles = self._check_styles(styles, input_is_latent)
        if not input_is_latent:
            styles = [self.style(s) for s in styles]
        if truncation < 1:
            centre = self.latent_avg if truncation_latent is None else truncation_latent
            if centre is None:
                raise ValueError("truncation < 1 needs truncation_latent (e.g. generator.mean_latent()) or a "
                                 "latent_avg loaded with the checkpoint")
            styles = [centre + truncation * (s - centre) for s in styles]
        if len(styles) == 1:
            s = styles[0]
            latent = s if s.ndim == 3 else s.unsqueeze(1).repeat(1, self.n_latent, 1)
        else:
            if inject_index is None:
                inject_index = int(torch.randint(1, self.n_latent, ()))
            if not 0 <= inject_index <= self.n_latent:
                raise ValueError(f"inject_index must be in [0, {self.n_latent}], got {inject_index}")
            latent = torch.cat([styles[0].unsqueeze(1).repeat(1, inject_index, 1),
                                styles[1].unsqueeze(1).repeat(1, self.n_latent - inject_index, 1)], 1)
        image = self._synthesis(latent, self._noise_list(noise, randomize_noise))
        return image, (latent if return_latents else None)

    def synthesis_from_wplus(self, w_plus: torch.Tensor, noise: Sequence[torch.Tensor | None] | None = None,
                             randomize_noise: bool = False) -> torch.Tensor:
        """The synthesis network alone, from one w per layer (for a PULSE-style latent search).

        ``noise`` None uses the stored ``noises.noise_j`` (deterministic) unless ``randomize_noise``.
        Shape: ``(B, n_latent, style_dim) -> (B, 3, size, size)`` in [-1, 1].
        """
        if w_plus.ndim != 3 or tuple(w_plus.shape[1:]) != (self.n_latent, self.style_dim):
            raise ValueError(f"w_plus must be (B, {self.n_latent}, {self.style_dim}), got {tuple(w_plus.shape)}")
        return self._synthesis(w_plus, self._noise_list(noise, randomize_noise))

    def _check_styles(self, styles: list[torch.Tensor] | torch.Tensor, input_is_latent: bool) -> list[torch.Tensor]:
        styles = [styles] if isinstance(styles, torch.Tensor) else list(styles)
        if not 1 <= len(styles) <= 2 or not all(isinstance(s, torch.Tensor) for s in styles):
            raise ValueError(f"styles must be a tensor or a list of one or two tensors, got {len(styles)} items")
        for s in styles:
            wplus = input_is_latent and len(styles) == 1 and s.ndim == 3
            if s.shape[-1] != self.style_dim or not (s.ndim == 2 or wplus) or (
                    wplus and s.shape[1] != self.n_latent):
                want = f"(B, {self.style_dim})" + (f" or W+ (B, {self.n_latent}, {self.style_dim})"
                                                   if input_is_latent and len(styles) == 1 else "")
                raise ValueError(f"{'w' if input_is_latent else 'z'} must be {want}, got {tuple(s.shape)}")
        if len({s.shape[0] for s in styles}) > 1:
            raise ValueError(f"mixed styles need one batch size, got {[s.shape[0] for s in styles]}")
        return styles

    def _noise_list(self, noise: Sequence[torch.Tensor | None] | None,
                    randomize_noise: bool) -> list[torch.Tensor | None]:
        if noise is None:
            if randomize_noise:
                return [None] * self.num_layers
            return [getattr(self.noises, f"noise_{j}") for j in range(self.num_layers)]
        noise = list(noise)
        if len(noise) != self.num_layers:
            raise ValueError(f"noise must list {self.num_layers} maps (one per styled convolution), got {len(noise)}")
        for j, n in enumerate(noise):
            res = 2 ** ((j + 5) // 2)
            if n is not None and (n.ndim != 4 or n.shape[1] != 1 or tuple(n.shape[2:]) != (res, res)):
                raise ValueError(f"noise[{j}] must be (B or 1, 1, {res}, {res}), got {tuple(n.shape)}")
        return noise

    def _synthesis(self, latent: torch.Tensor, noise: list[torch.Tensor | None]) -> torch.Tensor:
        out = self.conv1(self.input(latent.shape[0]), latent[:, 0], noise=noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for up_conv, conv, n1, n2, to_rgb in zip(self.convs[::2], self.convs[1::2], noise[1::2], noise[2::2],
                                                 self.to_rgbs):
            out = conv(up_conv(out, latent[:, i], noise=n1), latent[:, i + 1], noise=n2)
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
        return skip
