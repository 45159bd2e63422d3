"""Blur transfer (paper Sec. 3.4): ``y_hat = F(x_hat, G(x, y))`` puts the blur of a pair (x, y) onto x_hat."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from blurkit.data.images import check_same_size, read_image, write_image
from blurkit.space.kernel_space import KernelSpace


def _t(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)[None]


@torch.no_grad()
def transfer_images(model: KernelSpace, source_sharp: np.ndarray, source_blur: np.ndarray,
                    target: np.ndarray) -> np.ndarray:
    """The target blurred with the source pair's encoded kernel.

    Shape:
        source_sharp, source_blur ``(H, W, 3)``; target ``(H', W', C)`` with C in {1, 3}; out ``(H', W', C)``.
    """
    model.eval()
    out = model.transfer(_t(source_sharp), _t(source_blur), _t(target))
    return out[0].permute(1, 2, 0).clamp(0, 1).numpy()


def transfer_files(model: str | os.PathLike | KernelSpace, source_sharp: str | os.PathLike,
                   source_blur: str | os.PathLike, target: str | os.PathLike, out: str | os.PathLike) -> Path:
    """File version of :func:`transfer_images`: a grayscale target stays grayscale. Returns the written path."""
    ks = model if isinstance(model, KernelSpace) else KernelSpace.load(model)
    xs, ys = read_image(source_sharp), read_image(source_blur)
    check_same_size(xs, ys, source_sharp, source_blur)
    tgt = read_image(target, mode="keep")
    return write_image(out, transfer_images(ks, xs, ys, tgt))
