"""A learned refiner after the linear x-step: removes what deconvolving through an inexact F leaves behind.

The linear x-step (:mod:`blurkit.deblur.linear_xstep`) inverts F's blur exactly, so where F's blur differs from the
true one (F fits textured reds-like crops to 29-35 dB only) the error comes back amplified as ringing and noise, and
the hyper-Laplacian prior can only trade it against blur: with the true code G(x, y) the x-step gains +0.76 dB on the
ladder's reds-like images. A hand-made prior cannot tell F's model error from detail; a network trained on what the
x-step makes of *training* pairs can (Schuler et al. 2013 remove a Wiener filter's artefacts the same way).

The refiner sees the x-step's output and the blurry input (6 channels) and predicts a correction of the output:
``x = x_dec + net(x_dec, y)``. It is a three-level U-Net of plain 3x3 convolutions, started at the identity (the
last layer zero), trained per kernel space by :mod:`blurkit.deblur.refiner_train` on the x-step outputs of its own
training pairs with the codes it is used with (G(x, y) and the blind estimator's E(y)), and shipped beside the
kernel space as ``blurkit/models/<name>.refiner.pt`` with its config and provenance (nanoGPT style).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as Fnn

from blurkit.deblur.net_files import load_net, save_net
from blurkit.space.kernel_space import checkpoint_path


@dataclass(frozen=True)
class RefinerConfig:
    """The refiner's network and its training.

    Attributes:
        width: channels at full resolution (2x and 4x that at the half and quarter resolution levels).
        n_pairs: training pairs used: the most textured of the kernel space's training set (the ladder's rule).
        codes: the codes whose x-step outputs it learns from: ``true`` (G(x, y)) and ``blind`` (E(y)).
        crop, batch_size, steps, lr: training crops (px), crops per step, Adam steps (cosine decay), learning rate.
        val_frac: share of the pairs (whole pairs, the last ones) kept for validation.
        seed: seed of the initial weights and of every crop.
    """

    width: int = 24
    n_pairs: int = 320
    codes: tuple[str, ...] = ("true", "blind")
    crop: int = 96
    batch_size: int = 8
    steps: int = 3000
    lr: float = 1e-3
    val_frac: float = 0.1
    seed: int = 0

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "codes": list(self.codes)}

    @classmethod
    def from_dict(cls, d: dict) -> "RefinerConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (tuple(v) if k == "codes" else v) for k, v in d.items() if k in known})


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU())


class Refiner(nn.Module):
    """``forward(x_dec, y)``: the refined image.

    Shape:
        x_dec, y ``(B, 3, H, W)`` in [0, 1] (any H, W) -> ``(B, 3, H, W)`` in [0, 1].
    """

    def __init__(self, config: RefinerConfig = RefinerConfig()) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.enc0 = _block(6, w)
        self.enc1 = _block(w, 2 * w, 2)
        self.enc2 = nn.Sequential(_block(2 * w, 4 * w, 2),
                                  nn.Conv2d(4 * w, 4 * w, 3, padding=2, dilation=2), nn.ReLU(),
                                  nn.Conv2d(4 * w, 4 * w, 3, padding=4, dilation=4), nn.ReLU())
        self.up2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2)
        self.dec1 = _block(4 * w, 2 * w)
        self.up1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2)
        self.dec0 = nn.Sequential(_block(2 * w, w), nn.Conv2d(w, 3, 3, padding=1))
        with torch.no_grad():  # start at the identity: no correction
            self.dec0[-1].weight.zero_()
            self.dec0[-1].bias.zero_()

    def forward(self, x_dec: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x_dec.ndim != 4 or x_dec.shape[1] != 3 or x_dec.shape != y.shape:
            raise ValueError(f"the refiner takes two (B, 3, H, W) images of one shape, got {tuple(x_dec.shape)} "
                             f"and {tuple(y.shape)}")
        h, w = x_dec.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4  # two halvings need sides divisible by 4
        inp = Fnn.pad(torch.cat([x_dec, y], 1), (0, pw, 0, ph), mode="replicate")
        e0 = self.enc0(inp)
        e1 = self.enc1(e0)
        d1 = self.dec1(torch.cat([e1, self.up2(self.enc2(e1))], 1))
        out = self.dec0(torch.cat([e0, self.up1(d1)], 1))[..., :h, :w]
        return (x_dec + out).clamp(0, 1)

    def save(self, path: str | os.PathLike, provenance: dict | None = None) -> Path:
        """Write the checkpoint atomically: config, weights, provenance."""
        return save_net(self, self.config.to_dict(), path, provenance)


def refiner_path(model_name_or_path: str | os.PathLike) -> Path:
    """Where a kernel space's refiner lives: beside its checkpoint, ``<stem>.refiner.pt`` (a shipped name's is
    ``blurkit/models/<name>.refiner.pt``)."""
    ckpt = checkpoint_path(model_name_or_path)
    return ckpt.with_name(f"{ckpt.stem}.refiner.pt")


def load_refiner(path: str | os.PathLike, model_name: str = "") -> Refiner:
    """Load a refiner in eval mode; a missing file is one line naming it and the command that makes it."""
    return load_net(path, lambda cfg: Refiner(RefinerConfig.from_dict(cfg)),
                    f"no x-step refiner at '{path}'; train it with "
                    f"`blurkit train-refiner --model {model_name or '<model>'} --profile cpu`")


__all__ = ["Refiner", "RefinerConfig", "load_refiner", "refiner_path"]
