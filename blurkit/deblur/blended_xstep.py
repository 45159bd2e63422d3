"""A blended x-step: the hyper-Laplacian solve and the plug-and-play solve of one code, averaged.

The two image priors of the linear x-step fail on different images. With a code close to the blur (the least-squares
kernel of (x, y), :mod:`blurkit.space.kernel_lsq`) the plug-and-play solve (:mod:`blurkit.deblur.pnp`, the shipped
denoiser) recovers more detail where the kernel is right and rings where it is not (a moving object), and the
hyper-Laplacian solve (:mod:`blurkit.deblur.linear_xstep`) keeps the flat regions flat and rings less; their errors
are only partly correlated, so their mean beats both. Chosen on the 48 most textured reds-like *training* pairs with
each pair's least-squares code (``reds-like-kernel``; mean gain over blurry, docs/deblurring.md): the hyper-Laplacian
solve at the calibrated gamma 0.1 +1.71 dB, at 0.03 +2.48, plug-and-play at noise 0.01 +2.25, their mean at gamma
0.1 and noise 0.01 (:data:`LADDER_BLEND`) +2.94, +0.46 dB [+0.30, +0.60] over the best single solve (n 48). With a
code far from the blur (G's on reds-like) the denoiser amplifies F's model error and the blend loses, so no preset
uses it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from blurkit.deblur.denoiser import Denoiser, load_denoiser
from blurkit.deblur.linear_xstep import LinearXStep, linear_xstep
from blurkit.deblur.pnp import PnPXStep
from blurkit.space.kernel_space import KernelSpace


@dataclass(frozen=True)
class XStepBlend:
    """Settings of :func:`blended_xstep`.

    Attributes:
        weight: the plug-and-play solve's share of the result (0: the hyper-Laplacian solve alone, 1: the
            plug-and-play solve alone).
        noise: the plug-and-play solve's data noise level (its last denoising level).
        denoiser: the shipped denoiser's name or a file (:func:`blurkit.deblur.denoiser.load_denoiser`).
    """

    weight: float = 0.5
    noise: float = 0.01
    denoiser: str = "cpu"


LADDER_BLEND = XStepBlend()
"""The ladder's ``*_blend`` rows: equal shares, noise 0.01, the shipped ``cpu`` denoiser (see the module's text)."""


@functools.lru_cache(maxsize=4)
def shipped_denoiser(name: str) -> Denoiser:
    """The denoiser ``name`` (:func:`blurkit.deblur.denoiser.load_denoiser`) in eval mode, loaded once per process."""
    return load_denoiser(name).eval()


def mix_solves(plain: torch.Tensor, pnp: torch.Tensor, weight: float) -> torch.Tensor:
    """``(1 - weight) * plain + weight * pnp`` clipped to [0, 1]: the blend of two solves already made.

    Shape:
        plain, pnp ``(B, 3, H, W)`` -> ``(B, 3, H, W)``.
    """
    return ((1.0 - weight) * plain + weight * pnp).clamp(0, 1)


def blended_xstep(model: KernelSpace, y: torch.Tensor, k: torch.Tensor, config: LinearXStep,
                  blend: XStepBlend = LADDER_BLEND, denoiser: Denoiser | None = None) -> torch.Tensor:
    """``(1 - w) * linear_xstep(y, k) + w * linear_xstep(y, k, pnp)`` with ``w = blend.weight``: the
    hyper-Laplacian solve of ``config`` and the plug-and-play solve with ``config``'s outer steps and margin.

    ``denoiser`` overrides ``blend.denoiser`` (a loaded one, e.g. in tests).

    Shape:
        y ``(B, 3, H, W)`` in [0, 1], k ``(B or 1, kdim, h_k, w_k)`` -> ``(B, 3, H, W)`` in [0, 1].
    """
    w = blend.weight
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"the blend's weight must lie in [0, 1], got {w}")
    if w == 0.0:
        return linear_xstep(model, y, k, config=config)
    den = denoiser if denoiser is not None else shipped_denoiser(blend.denoiser)
    pnp = linear_xstep(model, y, k, config=config, pnp=(PnPXStep(noise=blend.noise), den))
    if w == 1.0:
        return pnp
    return mix_solves(linear_xstep(model, y, k, config=config), pnp, w)


__all__ = ["LADDER_BLEND", "XStepBlend", "blended_xstep", "mix_solves", "shipped_denoiser"]
