"""Eq. 6's objective, shared by the gradient solver and the linear blind solver."""

from __future__ import annotations

import torch

from blurkit.deblur.deblur_config import DeblurConfig
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import charbonnier, hyper_laplacian


def objective(model: KernelSpace, y: torch.Tensor, x: torch.Tensor, k: torch.Tensor,
              cfg: DeblurConfig) -> dict[str, torch.Tensor]:
    """The terms of Eq. 6: ``data = ρ(y, F(x, k))``, ``k_norm = ‖k‖₂`` (:meth:`KernelSpace.code_norm`: in units of
    the 128 px grid), ``prior`` (hyper-Laplacian), ``loss``.

    Shape:
        y, x ``(1, 3, H, W)``, k ``(1, kdim, *model.kernel_size(H, W))`` -> scalars.
    """
    data = charbonnier(model.apply(x, k), y, cfg.charbonnier_eps)
    k_norm = model.code_norm(k)
    prior = hyper_laplacian(x, cfg.alpha)
    return {"loss": data + cfg.lam * k_norm + cfg.gamma * prior, "data": data, "k_norm": k_norm, "prior": prior}


__all__ = ["objective"]
