"""Figures shared by the notebooks (matplotlib, no display needed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

if TYPE_CHECKING:
    import pandas as pd


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


def paper_vs_ours(table: "pd.DataFrame", title: str, baseline_col: str | None = "blurry_psnr") -> Figure:
    """Grouped bars, one group per table entry: the paper's PSNR, ours, and (if present) our blurry input's.

    ``table`` has columns ``entry, paper, ours`` (as :func:`blurkit.paper.compare` builds) and optionally
    ``verdict`` (with ``ci_low``, ``ci_high``: the claim's paired interval) or the older ``claim_holds``, shown
    under each entry.
    """
    cols = [("paper", "paper (their data)", "#999999"), ("ours", "ours", "#1f77b4")]
    if baseline_col and baseline_col in table:
        cols.append((baseline_col, "blurry input (ours)", "#ff7f0e"))
    n = len(table)
    per_entry = 1.5 if "verdict" in table else 1.1  # room for a verdict and its interval under each entry
    fig, ax = plt.subplots(figsize=(max(5.0, per_entry * n + 1.5), 3.6))
    width = 0.8 / len(cols)
    for j, (col, label, color) in enumerate(cols):
        ax.bar(np.arange(n) + (j - (len(cols) - 1) / 2) * width, table[col].astype(float), width, label=label,
               color=color)
    labels = list(table.entry)
    if "verdict" in table:
        def mark(r: "pd.Series") -> str:
            if not isinstance(r.verdict, str):
                return ""
            ci = f"\n[{r.ci_low:+.1f}, {r.ci_high:+.1f}] dB" if "ci_low" in r and r.ci_low == r.ci_low else ""
            return f"\nclaim {r.verdict}{ci}"

        labels = [f"{r.entry}{mark(r)}" for _, r in table.iterrows()]
    elif "claim_holds" in table:
        marks = {True: "claim holds", False: "claim fails"}
        labels = [f"{e}\n{marks.get(c, '')}" if c in marks else e for e, c in zip(table.entry, table.claim_holds)]
    ax.set_xticks(np.arange(n), labels, rotation=0, fontsize=7)
    ax.set_ylabel("PSNR (dB)")
    lo = float(np.nanmin(table[[c for c, _, _ in cols]].astype(float).to_numpy()))
    ax.set_ylim(max(0.0, lo - 3), None)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def tone_curves(learned: dict[str, tuple[np.ndarray, np.ndarray]],
                cameras: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> Figure:
    """Learned tone curves (display intensity -> F's blur domain, solid) beside the cameras' true inverse
    response curves (dashed), and the identity (the plain basis head's domain).

    Each entry maps a label to ``(display, value)`` arrays of equal length on [0, 1].
    """
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    ax.plot([0, 1], [0, 1], color="#bbbbbb", lw=1, label="identity (no curve)")
    for i, (label, (xs, ys)) in enumerate(learned.items()):
        ax.plot(xs, ys, color=f"C{i}", lw=2, label=f"learned: {label}")
    for i, (label, (xs, ys)) in enumerate((cameras or {}).items()):
        ax.plot(xs, ys, color=f"C{i}", lw=1.2, ls="--", label=f"true inverse CRF: {label}")
    ax.set_xlabel("display intensity (x)")
    ax.set_ylabel("intensity F blurs in")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig
