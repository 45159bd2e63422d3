"""Geometric self-ensemble: run a deblurring function on flipped and turned copies of its inputs and average the
outputs, each turned back.

A kernel estimate read off an image by a network (G's code) is not equivariant: the 8 flips and quarter turns of
a pair give 8 different estimates, and the deconvolutions they drive ring in different places. Averaging the
8 results, each mapped back, keeps what they agree on. (Lim et al., "Enhanced Deep Residual Networks for Single
Image Super-Resolution", CVPR-W 2017, call this the geometric self-ensemble.)
"""

from __future__ import annotations

from collections.abc import Callable

import torch

MAX_VIEWS = 8  # the dihedral group of the square: identity, flips, quarter turns and their products


def view(t: torch.Tensor, i: int) -> torch.Tensor:
    """The ``i``-th of the 8 flips and turns of an image batch (0 is the identity): bit 2 transposes, then bit 0
    flips the width and bit 1 the height.

    Shape:
        t ``(..., H, W)`` -> ``(..., H, W)``, or ``(..., W, H)`` where bit 2 is set.
    """
    if not 0 <= i < MAX_VIEWS:
        raise ValueError(f"view index must be in 0..{MAX_VIEWS - 1}, got {i}")
    if i & 4:
        t = t.transpose(-2, -1)
    if i & 1:
        t = t.flip(-1)
    if i & 2:
        t = t.flip(-2)
    return t


def unview(t: torch.Tensor, i: int) -> torch.Tensor:
    """The inverse of :func:`view`: ``unview(view(t, i), i)`` is ``t``.

    Shape:
        as :func:`view`, back to the original orientation.
    """
    if not 0 <= i < MAX_VIEWS:
        raise ValueError(f"view index must be in 0..{MAX_VIEWS - 1}, got {i}")
    if i & 2:
        t = t.flip(-2)
    if i & 1:
        t = t.flip(-1)
    if i & 4:
        t = t.transpose(-2, -1)
    return t


def self_ensemble(fn: Callable[..., torch.Tensor], *images: torch.Tensor, views: int = MAX_VIEWS) -> torch.Tensor:
    """The mean of ``unview(fn(view(a, i), view(b, i), ...), i)`` over the first ``views`` views (``views=1`` is
    ``fn`` itself). ``fn`` must return an image of its first input's orientation.

    Shape:
        images ``(B, C, H, W)`` each -> ``(B, C, H, W)``.
    """
    if not 1 <= views <= MAX_VIEWS:
        raise ValueError(f"views must be in 1..{MAX_VIEWS}, got {views}")
    total = None
    for i in range(views):
        out = unview(fn(*(view(t, i) for t in images)), i)
        total = out if total is None else total + out
    return total / views


__all__ = ["MAX_VIEWS", "self_ensemble", "unview", "view"]
