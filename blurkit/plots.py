"""Figures shared by the notebooks (matplotlib, no display needed)."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def show_pairs(rows: dict[str, Sequence[tuple[np.ndarray, np.ndarray, str]]], n: int = 3, scale: float = 1.6) -> Figure:
    """One row per domain: ``n`` sharp/blurry pairs side by side.

    ``rows`` maps a domain name to (sharp, blur, name) triples; images ``(H, W, 3)`` in [0, 1].
    """
    fig, axes = plt.subplots(len(rows), 2 * n, figsize=(2 * n * scale, len(rows) * scale), squeeze=False)
    for r, (domain, pairs) in enumerate(rows.items()):
        for j in range(n):
            for k, label in enumerate(("sharp", "blurry")):
                ax = axes[r, 2 * j + k]
                ax.set_xticks([])
                ax.set_yticks([])
                if j < len(pairs):
                    ax.imshow(np.clip(pairs[j][k], 0, 1))
                if r == 0:
                    ax.set_title(label, fontsize=8)
            if j == 0:
                axes[r, 0].set_ylabel(domain, fontsize=9)
    fig.tight_layout(pad=0.3)
    return fig


def show_kernels(kernels: Sequence[np.ndarray], titles: Sequence[str] | None = None, scale: float = 1.3) -> Figure:
    """Blur kernels in a row, each normalised to its own maximum."""
    fig, axes = plt.subplots(1, len(kernels), figsize=(len(kernels) * scale, scale * 1.15), squeeze=False)
    for i, k in enumerate(kernels):
        ax = axes[0, i]
        ax.imshow(k / max(float(k.max()), 1e-12), cmap="gray", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(titles[i] if titles else f"{k.shape[0]}x{k.shape[1]}", fontsize=8)
    fig.tight_layout(pad=0.3)
    return fig
