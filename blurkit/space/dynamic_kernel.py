"""A blur kernel read directly off each code cell: blurkit's option ``KernelSpaceConfig.dynamic_kernel``.

The basis head (:mod:`blurkit.space.basis_blur`) mixes ``n_basis`` kernels shared by every image, so a motion kernel
outside their span is only approximated. With this option F also maps every code of k to its own kernel,
``K(k) = softmax(W k + b)`` over ``basis_size x basis_size`` taps, blurs the image with it (each code cell with its
own kernel) and adds it to the basis mixture as one more member whose weight logit is a 1x1 convolution of k.

With ``logit_code`` (``KernelSpaceConfig.g_lsq``) there is no map: the code of a cell *is* its kernel's logits
(``kdim = size ** 2``), ``K(k) = softmax(k)``, so any kernel is a code and G can hand over an estimate unchanged.

It starts as a delta kernel (no blur) with a weight logit of :data:`INIT_LOGIT`, so a model initialised from one
without it starts almost where that model was (the new member's share is a fraction of a percent).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as Fnn

from blurkit.space.basis_blur import cell_convolve

INIT_LOGIT = -6.0  # initial weight logit of the code's own kernel in the basis mixture
_FLOOR = -9.2  # log(1e-4): initial logit of every tap but the centre


class DynamicKernel(nn.Module):
    """Per-code-cell kernels from k, applied to an image.

    Shape:
        x ``(B, C, H, W)``, k ``(B, kdim, h_k, w_k)`` with ``h_k = ceil(H / stride)`` (after padding to 128) ->
        blurred ``(B, C, H, W)`` and weight logit ``(B, 1, H, W)``.
    """

    def __init__(self, kdim: int, size: int, stride: int, init_logit: float = INIT_LOGIT,
                 logit_code: bool = False) -> None:
        super().__init__()
        if logit_code and kdim != size * size:
            raise ValueError(f"a code that is a {size}x{size} kernel's logits has kdim {size * size}, got {kdim}")
        self.size, self.stride = size, stride
        self.to_kernel = None if logit_code else nn.Linear(kdim, size * size)
        self.to_logit = nn.Conv2d(kdim, 1, 1)
        with torch.no_grad():
            if self.to_kernel is not None:
                self.to_kernel.weight.zero_()
                self.to_kernel.bias.fill_(_FLOOR)
                self.to_kernel.bias[(size * size) // 2] = 0.0
            self.to_logit.weight.zero_()
            self.to_logit.bias.fill_(init_logit)

    def kernels(self, k: torch.Tensor) -> torch.Tensor:
        """The kernel of every code cell, non-negative and summing to 1.

        Shape:
            ``(B, kdim, h_k, w_k) -> (B, h_k, w_k, size, size)``.
        """
        b, _, hk, wk = k.shape
        if self.to_kernel is None:  # the code is the logits
            logits = k.float().permute(0, 2, 3, 1)
        else:
            logits = self.to_kernel(k.to(self.to_kernel.weight.dtype).permute(0, 2, 3, 1))
        return logits.softmax(dim=-1).view(b, hk, wk, self.size, self.size)

    def forward(self, x: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kern = self.kernels(k)
        out = torch.cat([cell_convolve(x[i:i + 1], kern[i], self.stride) for i in range(x.shape[0])])
        return out, self.weight_logit(k, *x.shape[-2:])

    def weight_logit(self, k: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """The mixture logit of the dynamic member at every pixel.

        Shape:
            k ``(B, kdim, h_k, w_k)`` -> ``(B, 1, h, w)``.
        """
        return Fnn.interpolate(self.to_logit(k.to(self.to_logit.weight.dtype)), scale_factor=self.stride, mode="nearest")[..., :h, :w]


__all__ = ["DynamicKernel", "INIT_LOGIT"]
