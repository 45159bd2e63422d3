"""A domain's sensor noise added to a finished image: the camera curve undone, Poisson-Gaussian noise in the linear
domain (variance ``shot_noise * x + read_noise**2``, the synthesis's model, :mod:`blurkit.data.synthesis`), the curve
applied again.

Images a network makes (a kernel space's blur transfer) carry no noise; this puts back what the domain's camera adds,
so that such images can stand in for the domain's blurry photos (``blurkit data swap --noise``, docs/baselines.md).
"""

from __future__ import annotations

import torch

from blurkit.data.crf import CRF
from blurkit.data.domains import Domain, get_domain


def linear_noise(lin: torch.Tensor, domain: str | Domain, generator: torch.Generator) -> torch.Tensor:
    """``lin`` (a linear-domain image) plus ``domain``'s Poisson-Gaussian noise drawn from ``generator``, unclipped.

    Shape:
        lin any shape → the same.
    """
    dom = get_domain(domain)
    std = torch.sqrt(dom.shot_noise * lin.clamp_min(0) + dom.read_noise**2)
    return lin + std * torch.randn(lin.shape, generator=generator, dtype=lin.dtype).to(lin.device)


def add_sensor_noise(img: torch.Tensor, domain: str | Domain, generator: torch.Generator) -> torch.Tensor:
    """``img`` with ``domain``'s noise drawn from ``generator``, clipped to [0, 1]; unchanged for a noiseless domain.

    Shape:
        img ``(B, 3, H, W)`` in [0, 1] → the same.
    """
    dom = get_domain(domain)
    if img.ndim != 4 or img.shape[1] != 3:
        raise ValueError(f"add_sensor_noise expects (B, 3, H, W) images, got shape {tuple(img.shape)}")
    if dom.shot_noise == 0 and dom.read_noise == 0:
        return img
    crf = CRF(dom.crf)
    return crf.forward(linear_noise(crf.inverse(img.clamp(0, 1)), dom, generator).clamp(0, 1))


__all__ = ["add_sensor_noise", "linear_noise"]
