"""The kernel priors of the generator-prior solver (paper Fig. 6; :mod:`blurkit.deblur.generator_prior`).

Each turns the generated image x into its predicted blurry image B(x) and offers ``params`` (what Adam steps),
``terms()`` (``||k||`` and the anchor) and ``kernel()`` (what the result reports as k):

* ``_Encoded``: B(x) = F(x, k), k a code of the kernel space, started at E(y) or G(y, y) (``_k_start``,
  ``_resolve_estimator``);
* ``_Conv``: SelfDeblur's uniform kernel, the softmax of a small MLP (:class:`SoftmaxKernel`), applied as a convolution;
* ``_Bicubic``: PULSE's fixed bicubic down/up-sampling, nothing to learn;
* ``_Identity``: B(x) = x, nothing to learn (prior ``none``: projecting an image onto the manifold).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as Fnn

from blurkit.data.kernels import convolve
from blurkit.deblur.dip import seeded
from blurkit.deblur.generator_config import GeneratorPriorConfig
from blurkit.deblur.solver import code_estimator_for
from blurkit.space.code_estimator import estimator_path
from blurkit.space.kernel_space import KernelSpace


class _Encoded:
    """B(x) = F(x, k) with k a code of the kernel space, started at ``k0``."""

    def __init__(self, model: KernelSpace, k0: torch.Tensor) -> None:
        self.model, self.k0 = model, k0.detach()
        self.code = nn.Parameter(k0.detach().clone())
        self.params = [self.code]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.apply(x, self.code)

    def terms(self) -> tuple[torch.Tensor, torch.Tensor]:
        anchor = (self.code - self.k0).pow(2).mean() / self.k0.pow(2).mean().clamp_min(1e-12)
        return self.model.code_norm(self.code), anchor

    def kernel(self) -> torch.Tensor:
        return self.code.detach()


class SoftmaxKernel(nn.Module):
    """SelfDeblur's uniform kernel prior: ``softmax(MLP(z))`` over ``size²`` taps, z fixed noise in [0, 0.1).

    Shape:
        ``() -> (size, size)``, non-negative, summing to 1.
    """

    def __init__(self, size: int, z_dim: int, hidden: int, seed: int) -> None:
        super().__init__()
        self.size = size
        with seeded(seed):
            self.net = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU6(), nn.Linear(hidden, size * size))
        self.register_buffer("z", torch.rand(z_dim, generator=torch.Generator().manual_seed(seed)) * 0.1)

    def forward(self) -> torch.Tensor:
        return self.net(self.z).softmax(-1).view(self.size, self.size)


class _Conv:
    """B(x) = x convolved with one learned softmax kernel."""

    def __init__(self, cfg: GeneratorPriorConfig, seed: int, device: torch.device) -> None:
        self.net = SoftmaxKernel(cfg.conv_size, cfg.conv_input, cfg.conv_hidden, seed).to(device)
        self.params = list(self.net.parameters())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return convolve(x, self.net())

    def terms(self) -> tuple[torch.Tensor, torch.Tensor]:
        zero = self.net.z.new_zeros(())
        return zero, zero

    def kernel(self) -> torch.Tensor:
        with torch.no_grad():
            return self.net()[None]


class _Bicubic:
    """B(x) = bicubic upsampling of the bicubic (antialiased) downsampling of x: nothing to learn."""

    def __init__(self, factor: int) -> None:
        self.factor = factor
        self.params: list[nn.Parameter] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        small = Fnn.interpolate(x, size=(max(1, h // self.factor), max(1, w // self.factor)), mode="bicubic",
                                align_corners=False, antialias=True)
        return Fnn.interpolate(small, size=(h, w), mode="bicubic", align_corners=False)

    def terms(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.zeros(()), torch.zeros(())

    def kernel(self) -> torch.Tensor:
        return torch.zeros(1, 0)


class _Identity(_Bicubic):
    """B(x) = x: the search fits the generator to y itself (kernel prior ``none``)."""

    def __init__(self) -> None:
        super().__init__(1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _k_start(model: KernelSpace, y: torch.Tensor, estimator: Callable | None) -> torch.Tensor:
    with torch.no_grad():
        return (estimator(y) if estimator is not None else model.encode(y, y)).detach()


def _resolve_estimator(model: KernelSpace, cfg: GeneratorPriorConfig, estimator: Callable | None) -> tuple:
    """The estimator to start codes from (or None: G(y, y)) and the name of the start."""
    if cfg.kernel_prior != "encoded":
        return None, "none"
    if cfg.k_init == "extract":
        return None, "extract"
    if estimator is None:
        source = getattr(model, "source", None)
        if cfg.k_init == "estimate" or (source is not None and estimator_path(source).is_file()):
            estimator = code_estimator_for(model)  # one line naming the file when there is none
    return estimator, "estimate" if estimator is not None else "extract"


__all__ = ["SoftmaxKernel"]
