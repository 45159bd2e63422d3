"""A real blur code for the kernel prior to warm up towards: the official code's ``kernel.pth``, made here.

The official code warms its kernel prior up towards one code that G extracted from a training pair, stored as
``kernel.pth``. No such file comes with a kernel space here, so :func:`training_code` extracts one the same way:
``G(x, y)`` of a fixed training pair of the domain the kernel space was trained on. The pair is the median, by
blurry-to-sharp PSNR, of the first :data:`WARM_PAIRS` training pairs by name (neither nearly sharp nor the heaviest
blur), and its code is fitted to the image's code grid (:func:`blurkit.space.kernel_space.resize_kernel`).
"""

from __future__ import annotations

import numpy as np
import torch

from blurkit.data.datasets import resolve_pairs
from blurkit.data.images import read_image
from blurkit.errors import BlurkitError
from blurkit.profiles import Profile
from blurkit.space.kernel_space import KernelSpace, resize_kernel

WARM_PAIRS = 32  # the warm-up pair is the median of this many training pairs, by blurry PSNR
_CODES: dict[tuple[str, str], torch.Tensor] = {}  # (kernel space's file, profile) -> the pair's code


def warm_pair(domain: str, profile: str | Profile = "cpu") -> tuple[str, np.ndarray, np.ndarray]:
    """``(name, sharp, blurry)`` of the training pair :func:`training_code` extracts its code from.

    Shape: sharp, blurry ``(H, W, 3)`` float in [0, 1].
    """
    pairs = resolve_pairs(domain, "train", profile)
    if not pairs:
        raise BlurkitError(f"the '{domain}' training set has no pairs to take a warm-up code from")
    scored = []
    for sharp, blurry in sorted(pairs, key=lambda p: p[0].name)[:WARM_PAIRS]:
        x, y = read_image(sharp), read_image(blurry)
        mse = float(np.mean((x.astype(np.float64) - y) ** 2))
        scored.append((-10 * np.log10(max(mse, 1e-12)), sharp.stem, x, y))
    scored.sort(key=lambda s: (s[0], s[1]))
    _, name, x, y = scored[len(scored) // 2]
    return name, x, y


def training_code(model: KernelSpace, height: int, width: int, profile: str | Profile = "cpu") -> torch.Tensor:
    """G's code of the warm-up pair (:func:`warm_pair`) of the kernel space's training domain, on the code grid
    of an ``height x width`` image.

    Shape:
        out ``(1, kdim, *model.kernel_size(height, width))``.
    """
    domain = model.training_domain
    if domain is None:
        raise BlurkitError("this kernel space records no training domain to take a warm-up code from; pass k_start= "
                           "to blurkit.deblur.solver.deblur")
    source = getattr(model, "source", None)  # a loaded kernel space's code is kept; an in-memory one's is not
    key = (str(source), str(getattr(profile, "name", profile)))
    code = _CODES.get(key) if source is not None else None
    if code is None:
        _, x, y = warm_pair(domain, profile)
        device = next(model.parameters()).device
        with torch.no_grad():
            code = model.encode(_as_batch(x).to(device), _as_batch(y).to(device)).detach()
        if source is not None:
            _CODES[key] = code
    return resize_kernel(code, model.kernel_size(height, width))


def _as_batch(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()


__all__ = ["WARM_PAIRS", "training_code", "warm_pair"]
