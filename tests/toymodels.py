"""Kernel spaces with a known blur, for tests that need the true answer."""

from __future__ import annotations

import torch

from blurkit.space.kernel_space import KernelSpace


def box_blur_kernel_space(width: int = 5, logit: float = 40.0) -> KernelSpace:
    """A frozen smoke kernel space whose F applies one ``width`` px horizontal box everywhere, whatever x and k.

    Basis kernel 1 becomes the box (other pixels' softmax weight ``e^-logit``), F's weight logits pick it by
    ``logit`` over the other members, and the residual and the code's path to the weights are zeroed.
    """
    torch.manual_seed(0)
    ks = KernelSpace("smoke").eval()
    for p in ks.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        s, half = ks.config.basis_size, width // 2
        box = torch.full((s, s), -logit)
        box[s // 2, s // 2 - half:s // 2 + half + 1] = 0.0
        ks.F.basis.logits[1] = box
        ks.F.post.conv_last.weight.zero_()
        ks.F.post.conv_last.bias.zero_()
        ks.F.post.conv_last.bias[3 + 1] = logit  # channels 0-2 are the residual, 3 + b the weight of member b
        ks.F.k_weights.weight.zero_()
    return ks
