"""A blind kernel from y by a network that reads the autocorrelation of y's gradients (blurkit's addition).

The gradients of a blurred image are the sharp image's gradients convolved with the kernel, so their
autocorrelation is the sharp gradients' autocorrelation (close to a peak for a textured scene) convolved with the
kernel's autocorrelation. That map fixes the kernel up to a shift and a point reflection (Goldstein and Fattal
2012), and it does not move when the scene does. Read from a 128 px crop it is too noisy for phase retrieval
(docs/deblurring.md), so a small network learns the map from it to the kernel instead.

Every learned estimator of the kernel from y itself measured here regressed to the training domain's mean kernel:
a kernel is found from y only up to a shift, and a loss that scores the shift teaches the mean. This network reads a
map that carries no shift, and it is taught with a loss that forgives one (:func:`shift_error`: the best integer
shift within ``max_shift`` px, and optionally the point reflection). Its output is centred afterwards by the path's
middle (:func:`blurkit.deblur.tv_kernel.centre_kernel`), as the TV kernels are.

A network is saved with its config and provenance (:mod:`blurkit.deblur.net_files`).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from blurkit.deblur.net_files import load_net, save_net


@dataclass(frozen=True)
class AutocorrNetConfig:
    """The network's shape.

    Attributes:
        size: the kernel's side (px, odd); half: the autocorrelation map's half-width (its side is ``2 half + 1``);
        widths: channels of the three stride-2 stages after the first full-size stage; hidden: the head's width.
    """

    size: int = 31
    half: int = 31
    widths: tuple[int, int, int, int] = (32, 64, 128, 128)
    hidden: int = 1024

    def __post_init__(self) -> None:
        if self.size < 3 or self.size % 2 == 0:
            raise ValueError(f"the kernel's side must be odd and at least 3, got {self.size}")
        if self.half < 1 or len(self.widths) != 4 or min(self.widths) < 1 or self.hidden < 1:
            raise ValueError(f"bad AutocorrNetConfig: half {self.half}, widths {self.widths}, hidden {self.hidden}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AutocorrNetConfig:
        return cls(**{**d, "widths": tuple(d["widths"])})


def gradient_autocorr(lin: torch.Tensor, half: int) -> torch.Tensor:
    """The autocorrelations of the horizontal and vertical gradients of a linear grey image and their cross term,
    Hann-windowed, out to ``half`` px, scaled so that the two autocorrelations sum to 1 at zero lag.

    Shape:
        lin ``(B, 1, H, W)`` with H = W -> ``(B, 3, 2 half + 1, 2 half + 1)``.
    """
    if lin.dim() != 4 or lin.shape[1] != 1 or lin.shape[-1] != lin.shape[-2]:
        raise ValueError(f"gradient_autocorr takes (B, 1, H, H) linear grey images, got shape {tuple(lin.shape)}")
    n = lin.shape[-1] - 1
    if n <= half:
        raise ValueError(f"a {n + 1} px image is too small for an autocorrelation out to {half} px")
    gx = (lin[..., :, 1:] - lin[..., :, :-1])[..., :-1, :]
    gy = (lin[..., 1:, :] - lin[..., :-1, :])[..., :, :-1]
    win = torch.hann_window(n, periodic=False, dtype=lin.dtype, device=lin.device)
    w2 = win[:, None] * win[None, :]
    fx, fy = torch.fft.rfft2(gx * w2, s=(2 * n, 2 * n)), torch.fft.rfft2(gy * w2, s=(2 * n, 2 * n))
    maps = []
    for a, b in ((fx, fx), (fy, fy), (fx, fy)):
        c = torch.fft.fftshift(torch.fft.irfft2(a * b.conj(), s=(2 * n, 2 * n)), dim=(-2, -1))
        maps.append(c[..., n - half:n + half + 1, n - half:n + half + 1])
    c = torch.cat(maps, 1)
    return c / (c[:, :2, half, half].sum(1)[:, None, None, None] + 1e-12)


class AutocorrKernelNet(nn.Module):
    """Linear grey blurry image -> blur kernel, through :func:`gradient_autocorr`.

    Shape:
        lin ``(B, 1, H, H)`` -> ``(B, size, size)``, non-negative, each summing to 1.
    """

    def __init__(self, config: AutocorrNetConfig = AutocorrNetConfig()) -> None:
        super().__init__()
        self.config = config
        w = config.widths
        layers: list[nn.Module] = [nn.Conv2d(3, w[0], 3, padding=1), nn.GELU(), nn.Conv2d(w[0], w[0], 3, padding=1),
                                   nn.GELU()]
        for i in range(1, 4):
            layers += [nn.Conv2d(w[i - 1], w[i], 3, stride=2, padding=1), nn.GELU()]
            if i < 3:
                layers += [nn.Conv2d(w[i], w[i], 3, padding=1), nn.GELU()]
        self.body = nn.Sequential(*layers)
        side = 2 * config.half + 1
        for _ in range(3):
            side = (side + 1) // 2
        self.head = nn.Sequential(nn.Linear(w[3] * side * side, config.hidden), nn.GELU(),
                                  nn.Linear(config.hidden, config.size ** 2))
        self.provenance: dict | None = None

    def forward(self, lin: torch.Tensor) -> torch.Tensor:
        f = self.body(gradient_autocorr(lin, self.config.half) * 10)
        s = self.config.size
        return torch.softmax(self.head(f.flatten(1)), -1).view(-1, s, s)

    def save(self, path: str | os.PathLike, record: dict | None = None) -> Path:
        """Write atomically (config, weights, ``record``); return the path."""
        return save_net(self, self.config.to_dict(), path, record)

    @classmethod
    def load(cls, path: str | os.PathLike) -> AutocorrKernelNet:
        """Read a file written by :meth:`save`; a missing or foreign file raises one line naming it."""
        return load_net(path, lambda config: cls(AutocorrNetConfig.from_dict(config)),
                        f"no autocorrelation kernel network at '{path}'; train one with "
                        f"`blurkit train-kernel-net --data DATA --out FOLDER` (it writes FOLDER/net.pt)")


def shifted(k: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Every integer shift of the kernels within ``max_shift`` px on each axis, zero-filled.

    Shape:
        k ``(B, S, S)`` -> ``(B, (2 max_shift + 1)², S, S)``.
    """
    s, m = k.shape[-1], max_shift
    p = F.pad(k, (m,) * 4)
    return torch.stack([p[:, m + dy:m + dy + s, m + dx:m + dx + s]
                        for dy in range(-m, m + 1) for dx in range(-m, m + 1)], 1)


def shift_error(estimate: torch.Tensor, truth: torch.Tensor, max_shift: int = 4,
                mirror: bool = False) -> torch.Tensor:
    """The relative squared kernel error ``||k̂ - k||² / ||k||²`` at the best integer shift of k̂ within
    ``max_shift`` px; with ``mirror``, also over the point reflection of the truth.

    Shape:
        estimate, truth ``(B, S, S)`` -> ``(B,)``.
    """
    if estimate.shape != truth.shape or estimate.dim() != 3:
        raise ValueError(f"shift_error takes two (B, S, S) stacks, got {tuple(estimate.shape)} and "
                         f"{tuple(truth.shape)}")
    norm = truth.pow(2).sum((-2, -1))
    cands = shifted(estimate, max_shift)
    err = (cands - truth[:, None]).pow(2).sum((-2, -1)).min(1).values / norm
    if mirror:
        flipped = (cands - truth.flip(-2, -1)[:, None]).pow(2).sum((-2, -1)).min(1).values / norm
        err = torch.minimum(err, flipped)
    return err


__all__ = ["AutocorrKernelNet", "AutocorrNetConfig", "gradient_autocorr", "shift_error", "shifted"]
