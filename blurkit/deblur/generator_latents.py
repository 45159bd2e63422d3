"""PULSE's latent parameterisation for the generator prior (:mod:`blurkit.deblur.generator_prior`).

One Gaussian vector per W+ layer, kept on its sphere (:func:`project_to_sphere_`) and mapped to W+ through the
mapping network's statistics (:class:`GaussianFit`, :func:`gaussian_fit`); :func:`geocross` is PULSE's regulariser
of W+, and ``_one_cycle`` its ``linear1cycledrop`` learning-rate schedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as Fnn

from blurkit.generator.stylegan2 import StyleGAN2Generator


@dataclass(frozen=True)
class GaussianFit:
    """Per-dimension moments of ``lrelu(w, 5)``, w = the mapping network's output, from ``samples`` seeded z.

    Shape: ``mean``, ``std`` ``(style_dim,)``.
    """

    mean: torch.Tensor
    std: torch.Tensor
    samples: int
    seed: int

    def to_wplus(self, v: torch.Tensor) -> torch.Tensor:
        """Sphere latents to W+: ``lrelu(v * std + mean, 0.2)``. Shape: ``(B, n_latent, d)`` -> same."""
        return Fnn.leaky_relu(v * self.std + self.mean, 0.2)


@torch.no_grad()
def gaussian_fit(generator: StyleGAN2Generator, samples: int = 10_000, seed: int = 0,
                 chunk: int = 8192) -> GaussianFit:
    """The mapping network's statistics for PULSE's latent parameterisation (moments accumulated in float64)."""
    if samples < 2:
        raise ValueError(f"gaussian_fit needs at least 2 samples, got {samples}")
    d = generator.style_dim
    rng = torch.Generator().manual_seed(seed)
    s1 = torch.zeros(d, dtype=torch.float64)
    s2 = torch.zeros(d, dtype=torch.float64)
    for start in range(0, samples, chunk):
        z = torch.randn(min(chunk, samples - start), d, generator=rng).to(generator.device)
        u = Fnn.leaky_relu(generator.get_latent(z), 5.0).double().cpu()
        s1 += u.sum(0)
        s2 += u.pow(2).sum(0)
    mean = s1 / samples
    var = ((s2 - samples * mean.pow(2)) / (samples - 1)).clamp_min(0)
    dev = generator.device
    return GaussianFit(mean.float().to(dev), var.sqrt().float().to(dev), samples, seed)


def project_to_sphere_(t: torch.Tensor, dims: Sequence[int]) -> torch.Tensor:
    """Rescale ``t`` in place so that each slice over ``dims`` has norm ``sqrt(number of its elements)``."""
    n = math.prod(t.shape[i] for i in dims)
    with torch.no_grad():
        t.mul_(math.sqrt(n) / torch.linalg.vector_norm(t, dim=tuple(dims), keepdim=True).clamp_min(1e-30))
    return t


def geocross(w_plus: torch.Tensor) -> torch.Tensor:
    """PULSE's GEOCROSS of W+ latents (see :mod:`blurkit.deblur.generator_prior`): 0 exactly when every layer is the
    same vector.

    Shape:
        ``(B, n, d)`` -> ``(B,)``.
    """
    b, n, d = w_plus.shape
    if n < 2:
        return w_plus.new_zeros(b)
    diff = (w_plus[:, :, None] - w_plus[:, None]).pow(2).sum(-1)  # (B, n, n): |w_i - w_j|²
    summ = (w_plus[:, :, None] + w_plus[:, None]).pow(2).sum(-1)
    apart = diff > 0  # equal vectors: angle 0, and no sqrt(0) in the graph (its gradient is infinite)
    theta = 2 * torch.atan2(torch.where(apart, diff, 1.0).sqrt(), summ.clamp_min(1e-30).sqrt())
    theta = torch.where(apart, theta, 0.0)
    return theta.pow(2).mean((1, 2)) * d / max((n - 2) / 2, 1.0)


def _one_cycle(step: int, steps: int) -> float:
    """PULSE's ``linear1cycledrop`` multiplier: 0.1 -> 1 -> 0.1 over 90 % of the steps, then down to 0.001."""
    top = 0.9 * steps
    if step < top:
        return 0.1 + 0.9 * (1 - abs(2 * step / top - 1))
    return 0.1 + (step - top) / max(steps - top, 1e-12) * (0.001 - 0.1)


__all__ = ["GaussianFit", "gaussian_fit", "geocross", "project_to_sphere_"]
