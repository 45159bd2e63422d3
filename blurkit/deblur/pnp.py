"""Plug-and-play x-step: half-quadratic splitting with a learned denoiser as the image prior (DPIR style).

For a linear blur ``A`` (F linearised at the estimate, a true kernel, or the synthesis' exact blur) and data noise of
level ``noise``, MAP deblurring ``min ||A u - b||^2 / (2 noise^2) + lambda Phi(u)`` is split with an auxiliary image z:

    u <- argmin ||A u - b||^2 + alpha_k ||u - z||^2,   alpha_k = lambda * noise^2 / sigma_k^2   (conjugate gradients)
    z <- D(u, sigma_k)                                                                            (the denoiser)

over ``iters`` steps whose denoising level ``sigma_k`` falls geometrically from ``sigma_start`` to ``noise``. The
hyper-Laplacian prior of :mod:`blurkit.deblur.linear_xstep` is replaced by :mod:`blurkit.deblur.denoiser`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from blurkit.deblur.denoiser import Denoiser
from blurkit.deblur.linear_xstep import conjugate_gradients, forward_and_adjoint


@dataclass(frozen=True)
class PnPXStep:
    """Settings of :func:`pnp_deconvolve`.

    Attributes:
        iters: splitting steps (one CG solve and one denoising each).
        cg_iters: conjugate-gradient iterations per solve (warm-started from the previous u).
        sigma_start: the first denoising level (images in [0, 1]).
        noise: the data's noise level; also the last denoising level.
        lam: the prior's weight (DPIR's lambda).
    """

    iters: int = 8
    cg_iters: int = 20
    sigma_start: float = 0.2
    noise: float = 0.01
    lam: float = 0.23


def pnp_deconvolve(apply: Callable[[torch.Tensor], torch.Tensor], target: torch.Tensor, u0: torch.Tensor,
                   denoiser: Denoiser, config: PnPXStep = PnPXStep()) -> torch.Tensor:
    """Deconvolve ``target`` through the linear ``apply`` (its adjoint by autograd), starting at ``u0``.

    Shape:
        target ``(B, 3, H', W')`` = the shape of ``apply(u0)``; u0 ``(B, 3, H, W)`` -> ``(B, 3, H, W)`` (the last
        denoised estimate, not clamped).
    """
    fwd, adjoint = forward_and_adjoint(apply, u0)
    if config.iters < 1 or config.noise <= 0 or config.sigma_start < config.noise:
        raise ValueError(f"plug-and-play needs iters >= 1 and sigma_start >= noise > 0, got {config}")
    sigmas = np.geomspace(config.sigma_start, config.noise, config.iters)
    rhs_data = adjoint(target.detach().float())
    u = z = u0.detach().float()
    for sigma in sigmas:
        alpha = config.lam * config.noise ** 2 / float(sigma) ** 2

        def normal(v: torch.Tensor, alpha: float = alpha) -> torch.Tensor:
            return adjoint(fwd(v)) + alpha * v

        u = conjugate_gradients(normal, rhs_data + alpha * z, u, config.cg_iters)
        with torch.no_grad():
            z = denoiser(u, float(sigma))
    return z


__all__ = ["PnPXStep", "pnp_deconvolve"]
