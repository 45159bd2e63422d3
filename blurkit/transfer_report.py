"""Evaluation and figures of blur transfer (Fig. 7): reconstruction PSNR on held-out pairs, transfer grids."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from blurkit.datasets import resolve_pairs
from blurkit.images import read_image
from blurkit.kernel_space import KernelSpace
from blurkit.profiles import Profile
from blurkit.train import validate
from blurkit.transfer import transfer_images


def reconstruction_table(models: dict[str, KernelSpace], domains: Sequence[str], profile: str | Profile,
                         limit: int | None = None) -> pd.DataFrame:
    """PSNR of F(x, G(x, y)) against y on the held-out test pairs of each domain, for each model."""
    rows = []
    for mname, model in models.items():
        for domain in domains:
            pairs = resolve_pairs(domain, "test", profile)[:limit]
            rows.append({"model": mname, "test_domain": domain, "pairs": len(pairs),
                         "psnr_reconstruction": validate(model, pairs, torch.device("cpu"))})
    return pd.DataFrame(rows)


def transfer_grid(rows: list[dict], scale: float = 1.9) -> Figure:
    """One row per transfer: target x_hat, source x, source y, transferred y_hat.

    Each row dict has ``label``, ``target``, ``x``, ``y``, ``y_hat`` (images ``(H, W, C)`` in [0, 1]).
    """
    cols = ("target x\u0302", "source x", "source y", "transferred y\u0302")
    fig, axes = plt.subplots(len(rows), 4, figsize=(4 * scale, len(rows) * scale), squeeze=False)
    for r, row in enumerate(rows):
        for c, key in enumerate(("target", "x", "y", "y_hat")):
            ax = axes[r, c]
            img = np.clip(row[key], 0, 1)
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None,
                      vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(cols[c], fontsize=9)
        axes[r, 0].set_ylabel(row["label"], fontsize=8)
    fig.tight_layout(pad=0.3)
    return fig


def transfer_rows(model: KernelSpace, label: str, pairs: list, targets: list[tuple[str, np.ndarray]]) -> list[dict]:
    """Transfer the blur of ``pairs[i]`` onto ``targets[i]`` (zip), as rows for :func:`transfer_grid`."""
    rows = []
    for (s, b), (tname, tgt) in zip(pairs, targets):
        x, y = read_image(s), read_image(b)
        rows.append({"label": f"{label} \u2192 {tname}", "target": tgt, "x": x, "y": y,
                     "y_hat": transfer_images(model, x, y, tgt)})
    return rows
