"""DeblurGAN-v2 (Kupyn et al., ICCV 2019), FPN-MobileNetV2 variant, in PyTorch.

Generator (:class:`FPNMobileNetGenerator`): a MobileNet-v2 backbone (inverted residual blocks, BatchNorm, ReLU6)
gives features at strides 2, 4, 8, 16, 32; an FPN turns them into maps of ``2 * filters`` channels (1x1 lateral
convolutions, nearest-upsampled top-down sum, 3x3 conv + InstanceNorm + ReLU); a two-conv head per FPN level
(``filters`` channels) is upsampled to stride 4 and the four are concatenated; smoothing convolutions, the stride-2
lateral map and two x2 upsamplings bring it back to full size, and the output is ``clamp(x + tanh(conv(...)), -1,
1)`` on images scaled to [-1, 1] (returned in [0, 1]).

Discriminator (:class:`DoubleScaleDiscriminator`): a global PatchGAN (``d_full_layers`` stride-2 levels) on the
whole image and a local PatchGAN (``d_layers`` levels, 70 px receptive field at 3) on random ``local_crop`` px
crops, InstanceNorm, LeakyReLU(0.2). Both are trained with the relativistic least-squares loss (RaLSGAN,
:func:`ralsgan_d_loss`, :func:`ralsgan_g_loss`); the two scales' losses are averaged.

Generator loss: ``pixel_weight * content + adv_weight * adversarial`` (official code: pixel weight 0.5, adversarial
weight 0.001); the content loss is taken on images scaled to [-1, 1], as in the official code. The official code
also multiplies the discriminator's loss by the adversarial weight; with Adam that constant barely matters and it
is left out here.

Deviations from the paper, forced by having no downloads: the MobileNet-v2 backbone is trained from scratch (the
paper starts from ImageNet weights, and the official code trains the first 3 epochs with the backbone frozen); the
perceptual (VGG-19 conv3_3) part of the content loss needs ImageNet weights too, so the content loss is the pixel
loss alone (MSE by default, as the paper's pixel term; L1 optional). InstanceNorm layers use batch statistics in
evaluation too (no running averages). The last convolution's initial weights are scaled by 0.1 so that a fresh
generator starts close to the identity. In the official code the local discriminator is a 70 px-receptive-field
PatchGAN on the whole image; here it sees random crops, as the paper describes. Any ``H x W`` is accepted: the
input is padded (reflect) at the bottom/right to a multiple of 32 and the output is cropped back.
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

MULTIPLE = 32  # the backbone's total stride
# MobileNet-v2 (expansion t, channels c, repeats n, stride s), up to the 160-channel stage that the FPN uses.
_MBV2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 2, 2))
CONTENT_LOSSES = ("mse", "l1")


@dataclass(frozen=True)
class DeblurGANv2Config:
    """Sizes and loss weights of DeblurGAN-v2.

    Attributes:
        width_mult: MobileNet-v2 width multiplier (paper 1.0).
        filters: FPN head channels; the FPN maps have twice as many (official: 64 and 128).
        d_filters: channels of the discriminators' first convolution (paper 64).
        d_layers: stride-2 levels of the local PatchGAN (paper 3: 70 px receptive field).
        d_full_layers: stride-2 levels of the global PatchGAN (official code 5).
        local_crop: side of the random crops the local discriminator sees (paper 70 px).
        content: pixel content loss, ``mse`` (paper) or ``l1``.
        pixel_weight: weight of the pixel content loss (paper 0.5).
        adv_weight: weight of the adversarial loss in the generator loss (official config 0.001).
    """

    width_mult: float = 1.0
    filters: int = 64
    d_filters: int = 64
    d_layers: int = 3
    d_full_layers: int = 5
    local_crop: int = 70
    content: str = "mse"
    pixel_weight: float = 0.5
    adv_weight: float = 0.001

    def __post_init__(self) -> None:
        if not self.width_mult > 0:
            raise ValueError(f"DeblurGANv2Config.width_mult must be > 0, got {self.width_mult}")
        for name in ("filters", "d_filters", "d_layers", "d_full_layers", "local_crop"):
            if getattr(self, name) < 1:
                raise ValueError(f"DeblurGANv2Config.{name} must be >= 1, got {getattr(self, name)}")
        if self.filters % 2:
            raise ValueError(f"DeblurGANv2Config.filters must be even, got {self.filters}")
        if self.content not in CONTENT_LOSSES:
            raise ValueError(f"DeblurGANv2Config.content must be one of {CONTENT_LOSSES}, got {self.content!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DeblurGANv2Config:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        if unknown := sorted(set(d) - names):
            raise ValueError(f"DeblurGANv2Config.from_dict: unknown keys {unknown}")
        return cls(**d)


GAN_PRESETS: dict[str, DeblurGANv2Config] = {
    "smoke": DeblurGANv2Config(width_mult=0.25, filters=16, d_filters=8, d_layers=2, d_full_layers=3,
                               local_crop=24),
    "cpu": DeblurGANv2Config(width_mult=0.5, filters=32, d_filters=16, d_layers=3, d_full_layers=4, local_crop=48),
    # the `cpu` training profile's generator: L1 content loss alone (docs/baselines.md, recipe E)
    "cpu-l1": DeblurGANv2Config(width_mult=0.5, filters=32, d_filters=16, d_layers=3, d_full_layers=4, local_crop=48,
                                content="l1", adv_weight=0.0),
    "paper": DeblurGANv2Config(),
}


def gan_preset(name: str | DeblurGANv2Config) -> DeblurGANv2Config:
    """A preset by name (:data:`GAN_PRESETS`); a config passes through."""
    if isinstance(name, DeblurGANv2Config):
        return name
    try:
        return GAN_PRESETS[name]
    except KeyError:
        raise UnknownNameError(f"unknown DeblurGAN-v2 preset '{name}'; choose one of: {', '.join(GAN_PRESETS)}") \
            from None


def _ch(c: int, mult: float) -> int:
    """Channels scaled by the width multiplier, rounded to a multiple of 4 (at least 4)."""
    return max(4, int(c * mult + 2) // 4 * 4)


def _conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, nn.ReLU6(inplace=True)) if act else nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNet-v2 block: 1x1 expand -> 3x3 depthwise (stride s) -> 1x1 project, identity when shapes agree.

    Shape:
        ``(B, c_in, H, W) -> (B, c_out, H/s, W/s)``.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        layers = [_conv_bn(c_in, hidden, 1)] if expand != 1 else []
        layers += [_conv_bn(hidden, hidden, 3, stride, groups=hidden), _conv_bn(hidden, c_out, 1, act=False)]
        self.body = nn.Sequential(*layers)
        self.use_res = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.use_res else self.body(x)


def _mobilenet_v2(mult: float) -> tuple[list[nn.Module], list[int]]:
    """The backbone's layers (stem, then blocks) and their output channels."""
    c = _ch(32, mult)
    layers: list[nn.Module] = [_conv_bn(3, c, 3, 2)]
    chans = [c]
    for t, c_out, n, s in _MBV2_STAGES:
        for i in range(n):
            layers.append(InvertedResidual(c, _ch(c_out, mult), s if i == 0 else 1, t))
            c = _ch(c_out, mult)
            chans.append(c)
    return layers, chans


def _conv_in_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, 1, 1), nn.InstanceNorm2d(c_out), nn.ReLU(inplace=True))


def _up(x: torch.Tensor, factor: int) -> torch.Tensor:
    return Fnn.interpolate(x, scale_factor=factor, mode="nearest") if factor > 1 else x


class FPNMobileNetGenerator(nn.Module):
    """The DeblurGAN-v2 generator (FPN on MobileNet-v2); see the module docstring.

    Shape:
        y ``(B, 1 or 3, H, W)`` in [0, 1] -> ``(B, same C, H, W)`` in [0, 1].
    """

    def __init__(self, config: DeblurGANv2Config | str = "cpu") -> None:
        super().__init__()
        self.config = cfg = gan_preset(config)
        layers, ch = _mobilenet_v2(cfg.width_mult)
        # Slices of the backbone ending at strides 2, 4, 8, 16, 32 (as the official FPN): [0:2], [2:4], ...
        bounds = ((0, 2), (2, 4), (4, 7), (7, 11), (11, 16))
        self.enc = nn.ModuleList(nn.Sequential(*layers[a:b]) for a, b in bounds)
        enc_ch = [ch[b - 1] for _, b in bounds]
        f, fpn = cfg.filters, 2 * cfg.filters
        self.lateral = nn.ModuleList([nn.Conv2d(enc_ch[0], fpn // 2, 1, bias=False)]
                                     + [nn.Conv2d(c, fpn, 1, bias=False) for c in enc_ch[1:]])
        self.td = nn.ModuleList(_conv_in_relu(fpn, fpn) for _ in range(3))
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Conv2d(fpn, f, 3, 1, 1, bias=False), nn.ReLU(inplace=True),
                          nn.Conv2d(f, f, 3, 1, 1, bias=False), nn.ReLU(inplace=True)) for _ in range(4))
        self.smooth = _conv_in_relu(4 * f, f)
        self.smooth2 = _conv_in_relu(f, f // 2)
        self.final = nn.Conv2d(f // 2, 3, 3, 1, 1)
        with torch.no_grad():  # blurkit: a fresh generator is close to the identity
            self.final.weight.mul_(0.1)
            self.final.bias.zero_()

    def num_parameters(self) -> int:
        """Number of parameters."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        y3, grey = as_rgb(y, "y")
        x, size = pad_to_multiple(y3 * 2 - 1, MULTIPLE)
        feats = []
        h = x
        for stage in self.enc:
            h = stage(h)
            feats.append(h)
        lat = [conv(e) for conv, e in zip(self.lateral, feats)]
        maps = [lat[4]]  # strides 32, 16, 8, 4 (top-down)
        for td, lateral in zip(self.td, (lat[3], lat[2], lat[1])):
            maps.append(td(lateral + _up(maps[-1], 2)))
        heads = [_up(head(m), 8 >> i) for i, (head, m) in enumerate(zip(self.heads, maps))]
        out = _up(self.smooth(torch.cat(heads, 1)), 2)
        out = _up(self.smooth2(out + lat[0]), 2)
        out = torch.clamp(x + torch.tanh(self.final(out)), -1, 1)
        out = (crop_to(out, size) + 1) / 2
        return out.mean(1, keepdim=True) if grey else out


class PatchDiscriminator(nn.Module):
    """PatchGAN: 4x4 stride-2 convolutions (InstanceNorm, LeakyReLU 0.2), then two stride-1 ones; no sigmoid.

    Shape:
        ``(B, 3, H, W)`` in [0, 1] -> ``(B, 1, h, w)`` realness scores per patch.
    """

    def __init__(self, filters: int, n_layers: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, filters, 4, 2, 2), nn.LeakyReLU(0.2, inplace=True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(filters * prev, filters * mult, 4, stride, 2), nn.InstanceNorm2d(filters * mult),
                       nn.LeakyReLU(0.2, inplace=True)]
        layers.append(nn.Conv2d(filters * mult, 1, 4, 1, 2))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x * 2 - 1)


def random_boxes(b: int, h: int, w: int, crop: int, generator: torch.Generator) -> list[tuple[int, int, int]]:
    """``b`` seeded crop boxes ``(top, left, side)`` with side ``min(crop, h, w)``."""
    side = min(crop, h, w)
    tops = torch.randint(h - side + 1, (b,), generator=generator).tolist()
    lefts = torch.randint(w - side + 1, (b,), generator=generator).tolist()
    return [(t, s, side) for t, s in zip(tops, lefts)]


def crop_boxes(x: torch.Tensor, boxes: list[tuple[int, int, int]]) -> torch.Tensor:
    """Crop each image of a batch at its box. Shape: ``(B, C, H, W) -> (B, C, side, side)``."""
    return torch.stack([x[i, :, t:t + s, c:c + s] for i, (t, c, s) in enumerate(boxes)])


class DoubleScaleDiscriminator(nn.Module):
    """Global PatchGAN on the whole image and local PatchGAN on random crops.

    Shape:
        ``(B, 3, H, W)`` and crop boxes -> (global scores, local scores), each ``(B, 1, h, w)``.
    """

    def __init__(self, config: DeblurGANv2Config | str = "cpu") -> None:
        super().__init__()
        self.config = cfg = gan_preset(config)
        self.full = PatchDiscriminator(cfg.d_filters, cfg.d_full_layers)
        self.local = PatchDiscriminator(cfg.d_filters, cfg.d_layers)

    def forward(self, x: torch.Tensor, boxes: list[tuple[int, int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.full(x), self.local(crop_boxes(x, boxes))


def ralsgan_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """RaLSGAN discriminator loss ``(E[(D(r) - E D(f) - 1)^2] + E[(D(f) - E D(r) + 1)^2]) / 2``. Shape: -> scalar."""
    real, fake = real.float(), fake.float()
    return (((real - fake.mean() - 1) ** 2).mean() + ((fake - real.mean() + 1) ** 2).mean()) / 2


def ralsgan_g_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """RaLSGAN generator loss ``(E[(D(r) - E D(f) + 1)^2] + E[(D(f) - E D(r) - 1)^2]) / 2``. Shape: -> scalar."""
    real, fake = real.float(), fake.float()
    return (((real - fake.mean() + 1) ** 2).mean() + ((fake - real.mean() - 1) ** 2).mean()) / 2


def double_d_loss(disc: DoubleScaleDiscriminator, sharp: torch.Tensor, fake: torch.Tensor,
                  boxes: list[tuple[int, int, int]]) -> torch.Tensor:
    """Discriminator loss: the mean of the global and local RaLSGAN losses (``fake`` is detached here)."""
    rf, rl = disc(sharp, boxes)
    ff, fl = disc(fake.detach(), boxes)
    return (ralsgan_d_loss(rf, ff) + ralsgan_d_loss(rl, fl)) / 2


def content_loss(cfg: DeblurGANv2Config, sharp: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The generator's pixel loss (``cfg.content``: MSE or L1) on the [-1, 1] scale, as the official code.

    Shape: images ``(B, 3, H, W)`` -> scalar.
    """
    diff = 2 * (fake.float() - sharp.float())
    return (diff**2).mean() if cfg.content == "mse" else diff.abs().mean()


def generator_loss(disc: DoubleScaleDiscriminator, sharp: torch.Tensor, fake: torch.Tensor,
                   boxes: list[tuple[int, int, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, content, adversarial) generator loss; see the module docstring. Shape: images ``(B, 3, H, W)``."""
    cfg = disc.config
    content = content_loss(cfg, sharp, fake)
    rf, rl = disc(sharp, boxes)
    ff, fl = disc(fake, boxes)
    adv = (ralsgan_g_loss(rf, ff) + ralsgan_g_loss(rl, fl)) / 2
    return cfg.pixel_weight * content + cfg.adv_weight * adv, content, adv
