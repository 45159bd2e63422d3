"""A no-reference guard: return the blurry input when a blind estimate cannot be trusted.

Blind deblurring can make an image worse: when the estimated blur is negligible there is nothing to undo, and when
the estimate does not explain y its sharpening is a guess. Three checks, none of which needs the sharp image:

* **blur strength**: ``PSNR(F(y, k), y)``, how much the estimated blur changes y itself. Above
  ``max_blur_psnr`` the code says "almost no blur" (the no-blur explanation), so y is returned unchanged.
* **data fit**: ``PSNR(F(x̂, k), y)`` against ``PSNR(F(y, k), y)``: blurring the estimate must reproduce y
  better, by ``min_fit_gain`` dB, than blurring y itself does; otherwise x̂ explains y no better than y and y is
  returned. (An absolute floor failed on the most blurred images: fits of 26.7 and 27.9 dB there were good
  estimates, gaining 1.6 dB and more.)
* **amplification**: the gradient energy of x̂ against y's. Deblurring raises it, but by more than
  ``max_gain`` times it is noise or ringing; y is returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import psnr


@dataclass(frozen=True)
class GuardConfig:
    """Thresholds of :func:`guard`.

    Attributes:
        max_blur_psnr: dB; an estimated blur that changes y by less than this (PSNR above it) counts as no blur.
        min_fit_gain: dB by which ``F(x̂, k)`` must fit y better than ``F(y, k)`` does.
        max_gain: largest trusted ratio of x̂'s mean squared gradient to y's.
    """

    max_blur_psnr: float = 45.0
    min_fit_gain: float = 3.0
    max_gain: float = 12.0


@dataclass(frozen=True)
class GuardDecision:
    """What the guard measured on one image, and whether it kept the estimate.

    Attributes:
        keep: True when the estimate is returned, False when y is.
        reason: ``"trusted"``, ``"no blur"``, ``"poor fit"`` or ``"amplified"``.
        blur_psnr, fit_psnr: dB, as in :class:`GuardConfig`.
        gain: gradient-energy ratio x̂ / y.
    """

    keep: bool
    reason: str
    blur_psnr: float
    fit_psnr: float
    gain: float


def _grad_energy(img: torch.Tensor) -> torch.Tensor:
    """Mean squared forward difference per image. Shape: ``(B, C, H, W) -> (B,)``."""
    gx = img[..., :, 1:] - img[..., :, :-1]
    gy = img[..., 1:, :] - img[..., :-1, :]
    return gx.pow(2).flatten(1).mean(1) + gy.pow(2).flatten(1).mean(1)


def guard_reason(blur_psnr: float, fit_psnr: float, gain: float, config: GuardConfig) -> str:
    """The guard's verdict on one image's measurements: ``"trusted"`` or why not."""
    if blur_psnr > config.max_blur_psnr:
        return "no blur"
    if fit_psnr - blur_psnr < config.min_fit_gain:
        return "poor fit"
    if gain > config.max_gain:
        return "amplified"
    return "trusted"


def guard(model: KernelSpace, y: torch.Tensor, x_hat: torch.Tensor, k: torch.Tensor,
          config: GuardConfig = GuardConfig()) -> tuple[torch.Tensor, list[GuardDecision]]:
    """Keep each estimate only when the three checks pass; otherwise return that image's y.

    Shape:
        y, x_hat ``(B, 3, H, W)`` in [0, 1], k ``(B, kdim, h_k, w_k)`` -> ``(B, 3, H, W)`` and B decisions.
    """
    if y.shape != x_hat.shape:
        raise ValueError(f"guard: x_hat shape {tuple(x_hat.shape)} differs from y shape {tuple(y.shape)}")
    with torch.no_grad():
        blur = psnr(model.apply(y, k).clamp(0, 1), y)
        fit = psnr(model.apply(x_hat, k).clamp(0, 1), y)
        gain = _grad_energy(x_hat) / _grad_energy(y).clamp_min(1e-12)
    decisions = []
    for b, f, g in zip(blur.reshape(-1).tolist(), fit.reshape(-1).tolist(), gain.tolist()):
        reason = guard_reason(b, f, g, config)
        decisions.append(GuardDecision(reason == "trusted", reason, b, f, g))
    keep = torch.tensor([d.keep for d in decisions], device=y.device).view(-1, 1, 1, 1)
    return torch.where(keep, x_hat, y), decisions


__all__ = ["GuardConfig", "GuardDecision", "guard", "guard_reason"]
