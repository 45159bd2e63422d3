"""Kernel spaces with a known blur, for tests that need the true answer."""

from __future__ import annotations

import torch

from blurkit.space.kernel_space import KernelSpace


def _frozen_smoke() -> KernelSpace:
    """The seeded smoke kernel space in eval mode with every parameter frozen."""
    torch.manual_seed(0)
    ks = KernelSpace("smoke").eval()
    for p in ks.parameters():
        p.requires_grad_(False)
    return ks


def box_blur_kernel_space(width: int = 5, logit: float = 40.0) -> KernelSpace:
    """A frozen smoke kernel space whose F applies one ``width`` px horizontal box everywhere, whatever x and k.

    Basis kernel 1 becomes the box (other pixels' softmax weight ``e^-logit``), F's weight logits pick it by
    ``logit`` over the other members, and the residual and the code's path to the weights are zeroed.
    """
    ks, half = _frozen_smoke(), width // 2
    s = ks.config.basis_size
    with torch.no_grad():
        box = torch.full((s, s), -logit)
        box[s // 2, s // 2 - half:s // 2 + half + 1] = 0.0
        ks.F.basis.logits[1] = box
        ks.F.post.conv_last.weight.zero_()
        ks.F.post.conv_last.bias.zero_()
        ks.F.post.conv_last.bias[3 + 1] = logit  # channels 0-2 are the residual, 3 + b the weight of member b
        ks.F.k_weights.weight.zero_()
    return ks


def switch_blur_kernel_space(width: int = 5, logit: float = 40.0) -> tuple[KernelSpace, torch.Tensor, torch.Tensor]:
    """A frozen smoke kernel space whose code switches F between no blur and a ``width`` px horizontal box.

    Basis kernel 0 becomes a delta and kernel 1 the box; the code's first channel, through F's 1x1 code path,
    adds ``-c`` to member 0's weight logit and ``+c`` to member 1's. Returns the model, a "no blur" code and a "box"
    code (shape ``(1, kdim, 1, 1)``, for images up to 128 px).
    """
    ks, half = _frozen_smoke(), width // 2
    s = ks.config.basis_size
    with torch.no_grad():
        delta = torch.full((s, s), -logit)
        delta[s // 2, s // 2] = 0.0
        box = torch.full((s, s), -logit)
        box[s // 2, s // 2 - half:s // 2 + half + 1] = 0.0
        ks.F.basis.logits[0] = delta
        ks.F.basis.logits[1] = box
        ks.F.post.conv_last.weight.zero_()
        ks.F.post.conv_last.bias.zero_()
        ks.F.post.conv_last.bias[3:] = -logit  # every member but the two switched ones is off
        ks.F.post.conv_last.bias[3 + 0] = 0.0
        ks.F.post.conv_last.bias[3 + 1] = 0.0
        ks.F.k_weights.weight.zero_()
        ks.F.k_weights.bias.zero_()
        ks.F.k_weights.weight[0, 0] = -1.0
        ks.F.k_weights.weight[1, 0] = 1.0
    kdim = ks.config.kdim
    no_blur, blurred = torch.zeros(1, kdim, 1, 1), torch.zeros(1, kdim, 1, 1)
    no_blur[:, 0], blurred[:, 0] = -logit, logit
    return ks, no_blur, blurred
