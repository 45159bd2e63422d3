"""A small noise-level-conditioned denoiser: the learned image prior of the plug-and-play x-step.

The hyper-Laplacian prior of Eq. 6 caps what the x-step can recover: with the synthesis' *exact* blur (camera motion
and moving objects, :func:`blurkit.baselines.oracle.exact_blur_deconvolution`) it gains only about +3 dB on the
ladder's reds-like images. Half-quadratic splitting with a denoiser (:mod:`blurkit.deblur.pnp`, as in DPIR, Zhang et
al. 2021) replaces that prior by a network trained to remove Gaussian noise of a given level from sharp crops.

The network is a two-level U-Net of plain 3x3 convolutions (about 0.1 M parameters at width 32): the noisy image and
a constant noise-level map in, the noise out (``x_hat = z - net(z, sigma)``). It trains on the sharp crops of the
default *training* pairs (never a test photo), with a seeded noise level per crop drawn uniformly from
``[0, sigma_max]``, in minutes on one CPU thread. The checkpoint carries its config and provenance (nanoGPT style).
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as Fnn

from blurkit.errors import BlurkitError, UnknownNameError
from blurkit.deblur.net_files import load_net, save_net
from blurkit.paths import PACKAGE_DIR

MODELS_DIR = PACKAGE_DIR / "models"


@dataclass(frozen=True)
class DenoiserConfig:
    """The denoiser's network and its training.

    Attributes:
        width: channels at full resolution (twice that at half resolution).
        sigma_max: largest training noise level (images in [0, 1]).
        crop, batch_size, steps, lr: training crops (px), crops per step, Adam steps (cosine decay), learning rate.
        domains: default-data domains whose *training* pairs' sharp images are the training set.
        seed: seed of the initial weights, of every crop and of every noise draw.
    """

    width: int = 32
    sigma_max: float = 0.2
    crop: int = 64
    batch_size: int = 16
    steps: int = 3000
    lr: float = 1e-3
    domains: tuple[str, ...] = ("reds-like", "gopro-like")
    seed: int = 0

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "domains": list(self.domains)}

    @classmethod
    def from_dict(cls, d: dict) -> "DenoiserConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (tuple(v) if k == "domains" else v) for k, v in d.items() if k in known})


DENOISER_PRESETS: dict[str, DenoiserConfig] = {
    "smoke": DenoiserConfig(width=8, crop=32, batch_size=4, steps=30),
    "cpu": DenoiserConfig(),
}


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class Denoiser(nn.Module):
    """``forward(z, sigma)``: the denoised image.

    Shape:
        z ``(B, 3, H, W)`` (any H, W), sigma a float or ``(B,)`` -> ``(B, 3, H, W)``.
    """

    def __init__(self, config: DenoiserConfig = DenoiserConfig()) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.enc = nn.Sequential(_conv(4, w), nn.ReLU(), _conv(w, w), nn.ReLU())
        self.mid = nn.Sequential(_conv(w, 2 * w, 2), nn.ReLU(), _conv(2 * w, 2 * w), nn.ReLU(), _conv(2 * w, 2 * w),
                                 nn.ReLU())
        self.up = nn.ConvTranspose2d(2 * w, w, 2, stride=2)
        self.dec = nn.Sequential(nn.ReLU(), _conv(w, w), nn.ReLU(), _conv(w, 3))
        with torch.no_grad():  # start at the identity: predict no noise
            self.dec[-1].weight.zero_()
            self.dec[-1].bias.zero_()

    def forward(self, z: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        if z.ndim != 4 or z.shape[1] != 3:
            raise ValueError(f"the denoiser takes (B, 3, H, W) images, got {tuple(z.shape)}")
        b, _, h, w = z.shape
        s = torch.as_tensor(sigma, dtype=z.dtype, device=z.device).reshape(-1, 1, 1, 1).expand(b, 1, h, w)
        ph, pw = h % 2, w % 2  # the half-resolution level needs even sides
        inp = Fnn.pad(torch.cat([z, s], 1), (0, pw, 0, ph), mode="replicate")
        e = self.enc(inp)
        noise = self.dec(e + self.up(self.mid(e)))[..., :h, :w]
        return z - noise

    def save(self, path: str | os.PathLike, provenance: dict | None = None) -> Path:
        """Write the checkpoint atomically: config, weights, provenance."""
        return save_net(self, self.config.to_dict(), path, provenance)


def denoiser_path(name_or_path: str | os.PathLike) -> Path:
    """A shipped denoiser by name (``cpu`` -> ``blurkit/models/denoisers/cpu.pt``) or a checkpoint path."""
    p = Path(name_or_path)
    return p if p.suffix == ".pt" or p.is_file() else MODELS_DIR / "denoisers" / f"{name_or_path}.pt"


def load_denoiser(name_or_path: str | os.PathLike = "cpu") -> Denoiser:
    """Load a denoiser in eval mode; a missing file is one line naming it and the command that makes it."""
    path = denoiser_path(name_or_path)
    return load_net(path, lambda cfg: Denoiser(DenoiserConfig.from_dict(cfg)),
                    f"no denoiser at '{path}'; train it with `blurkit train-denoiser --profile cpu --out {path}`")


def sharp_training_images(config: DenoiserConfig, profile: str) -> torch.Tensor:
    """The sharp images of the default training pairs of ``config.domains``.

    Shape:
        out ``(N, 3, S, S)`` float32 in [0, 1].
    """
    from blurkit.data.datasets import resolve_pairs
    from blurkit.data.images import read_image

    imgs = [read_image(s) for d in config.domains for s, _ in resolve_pairs(d, "train", profile)]
    if not imgs:
        raise BlurkitError(f"no training pairs for {', '.join(config.domains)}; run `blurkit data prepare`")
    side = min(min(i.shape[:2]) for i in imgs)
    return torch.from_numpy(np.stack([i[:side, :side] for i in imgs])).permute(0, 3, 1, 2).contiguous()


def noisy_batch(images: torch.Tensor, config: DenoiserConfig, step: int) -> tuple[torch.Tensor, torch.Tensor,
                                                                                     torch.Tensor]:
    """The batch of step ``step``: random crops with flips and quarter turns, their noise levels and noisy copies;
    every draw keyed by (seed, step).

    Shape:
        images ``(N, 3, S, S)`` -> clean, noisy ``(B, 3, c, c)``, sigma ``(B,)``.
    """
    g = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    n, _, h, w = images.shape
    c = min(config.crop, h, w)
    idx = torch.randint(n, (config.batch_size,), generator=g)
    ys = torch.randint(h - c + 1, (config.batch_size,), generator=g)
    xs = torch.randint(w - c + 1, (config.batch_size,), generator=g)
    turns = torch.randint(4, (config.batch_size,), generator=g)
    flips = torch.randint(2, (config.batch_size,), generator=g)
    clean = []
    for i in range(config.batch_size):
        crop = images[idx[i], :, ys[i]:ys[i] + c, xs[i]:xs[i] + c]
        crop = torch.rot90(crop, int(turns[i]), (1, 2))
        clean.append(crop.flip(2) if flips[i] else crop)
    x = torch.stack(clean)
    sigma = torch.rand(config.batch_size, generator=g) * config.sigma_max
    noisy = x + sigma.view(-1, 1, 1, 1) * torch.randn(x.shape, generator=g)
    return x, noisy, sigma


def train_denoiser(config: DenoiserConfig, profile: str, out: str | os.PathLike, progress: bool = True) -> Path:
    """Train a denoiser from scratch on the default training pairs and save it to ``out`` with its provenance."""
    from blurkit.progress import progress_bar
    from blurkit.provenance import provenance

    if config.steps < 1:
        raise UnknownNameError(f"a denoiser needs at least one training step, got {config.steps}")
    images = sharp_training_images(config, profile)
    torch.manual_seed(config.seed)
    net = Denoiser(config)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.steps)
    start, losses = time.perf_counter(), []
    bar = progress_bar(range(config.steps), desc="train denoiser", disable=not progress)
    for step in bar:
        x, noisy, sigma = noisy_batch(images, config, step)
        loss = Fnn.l1_loss(net(noisy, sigma), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if progress and step % 50 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
    record = provenance(config=config.to_dict(), seed=config.seed, wall_time_s=time.perf_counter() - start,
                        profile=profile, train_images=int(images.shape[0]),
                        final_l1=float(np.mean(losses[-100:])))
    return net.save(out, record)


__all__ = ["DENOISER_PRESETS", "Denoiser", "DenoiserConfig", "denoiser_path", "load_denoiser", "noisy_batch",
           "sharp_training_images", "train_denoiser"]
