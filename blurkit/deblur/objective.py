"""Eq. 6's objective, shared by the gradient solver and the linear blind solver, and the official code's variant."""

from __future__ import annotations

import torch

from blurkit.deblur.deblur_config import DeblurConfig
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import charbonnier, hyper_laplacian, ssim

# The official code's joint loss (its JointDeblur): ``OFFICIAL_RHO_FIRST · ρ + (1 - SSIM) + λ‖k‖`` up to half the
# steps, then ``ρ + OFFICIAL_GAMMA · hyper-Laplacian + λ‖k‖``.
OFFICIAL_RHO_FIRST = 0.6
OFFICIAL_GAMMA = 5e-2


def _terms(model: KernelSpace, y: torch.Tensor, x: torch.Tensor, k: torch.Tensor,
           cfg: DeblurConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``F(x, k)`` and the three terms both losses weigh: ``ρ(y, F(x, k))``, ``‖k‖₂``, the hyper-Laplacian."""
    blurred = model.apply(x, k)
    return blurred, charbonnier(blurred, y, cfg.charbonnier_eps), model.code_norm(k), hyper_laplacian(x, cfg.alpha)


def objective(model: KernelSpace, y: torch.Tensor, x: torch.Tensor, k: torch.Tensor,
              cfg: DeblurConfig) -> dict[str, torch.Tensor]:
    """The terms of Eq. 6: ``data = ρ(y, F(x, k))``, ``k_norm = ‖k‖₂`` (:meth:`KernelSpace.code_norm`: in units of
    the 128 px grid), ``prior`` (hyper-Laplacian), ``loss``.

    Shape:
        y, x ``(1, 3, H, W)``, k ``(1, kdim, *model.kernel_size(H, W))`` -> scalars.
    """
    _, data, k_norm, prior = _terms(model, y, x, k, cfg)
    return {"loss": data + cfg.lam * k_norm + cfg.gamma * prior, "data": data, "k_norm": k_norm, "prior": prior}


def official_objective(model: KernelSpace, y: torch.Tensor, x: torch.Tensor, k: torch.Tensor, cfg: DeblurConfig,
                       second_half: bool) -> dict[str, torch.Tensor]:
    """The official code's joint loss: ``0.6 ρ + (1 - SSIM(F(x, k), y)) + λ‖k‖`` in the first half of the steps,
    ``ρ + 5e-2 · prior + λ‖k‖`` in the second (``second_half``). ρ is Eq. 6's Charbonnier, standing in for the
    official VGG perceptual loss (no VGG weights here). The terms as :func:`objective`'s, ``prior`` logged in both
    halves.

    Shape:
        y, x ``(1, 3, H, W)``, k ``(1, kdim, *model.kernel_size(H, W))`` -> scalars.
    """
    blurred, data, k_norm, prior = _terms(model, y, x, k, cfg)
    if second_half:
        loss = data + OFFICIAL_GAMMA * prior + cfg.lam * k_norm
    else:
        loss = OFFICIAL_RHO_FIRST * data + (1 - ssim(blurred.clamp(0, 1), y)) + cfg.lam * k_norm
    return {"loss": loss, "data": data, "k_norm": k_norm, "prior": prior}


__all__ = ["OFFICIAL_GAMMA", "OFFICIAL_RHO_FIRST", "objective", "official_objective"]
