"""Drawing for interactive blind deconvolution (notebook 09): a live four-panel callback and summary figures.

:class:`LivePlot` is a solver callback (x, kernel or code, loss and PSNR curves) that redraws at most about a quarter
of the run time; :func:`summary_figure` is the final comparison; :func:`show_figure` puts a figure into an
``ipywidgets.Output`` or the current cell without needing a pyplot backend.
"""

from __future__ import annotations

import base64
import io
import time
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure


def to_hwc(t: torch.Tensor) -> np.ndarray:
    """Shape: ``(1, C, H, W)`` -> ``(H, W, 3)`` float in [0, 1] (grey repeated)."""
    a = t[0].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    return np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a


def code_image(k: np.ndarray) -> np.ndarray:
    """A kernel code as a near-square heat image (mean over spatial cells).

    Shape:
        ``(kdim, h, w)`` or ``(1, kdim, h, w)`` -> ``(r, kdim // r)``, r the largest divisor of kdim <= sqrt(kdim).
    """
    v = np.asarray(k, dtype=np.float64).reshape(-1, *np.shape(k)[-2:]).mean(axis=(-2, -1))
    r = max(d for d in range(1, int(np.sqrt(v.size)) + 1) if v.size % d == 0)
    return v.reshape(r, v.size // r)


def show_figure(fig: Figure, out: object | None = None, dpi: int = 80, clear: bool = True) -> None:
    """Show a figure as PNG in an ``ipywidgets.Output`` (replacing its content, kernel side, so it works with any
    frontend and headless) or in the current cell (replacing the cell's output when ``clear``); a no-op outside
    IPython. Needs no pyplot backend."""
    from IPython import get_ipython
    from IPython.display import clear_output, display

    if get_ipython() is None:
        return
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    bundle = {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"), "text/plain": repr(fig)}
    if out is None:
        if clear:
            clear_output(wait=True)
        display(bundle, raw=True)
    else:
        out.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)  # type: ignore[attr-defined]


def _draw_image(ax, img: np.ndarray | None, title: str) -> None:  # noqa: ANN001
    if img is not None:
        ax.imshow(img)
    ax.set(xticks=[], yticks=[])
    ax.set_title(title, fontsize=8)


def _draw_kernel(ax, k: np.ndarray | None, title: str) -> None:  # noqa: ANN001
    ax.set(xticks=[], yticks=[])
    if k is None:
        ax.text(0.5, 0.5, "spatially varying\n(no single kernel)", ha="center", va="center", fontsize=7)
        ax.set_title(title, fontsize=8)
        return
    k = np.asarray(k, dtype=np.float64)
    if k.ndim >= 3 and k.reshape(-1, *k.shape[-2:]).shape[0] > 1:  # a code (kdim, h, w)
        img = code_image(k)
        lim = max(float(np.abs(img).max()), 1e-12)
        ax.imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_title(f"{title}: code ({img.size}-d)", fontsize=8)
    else:
        k = k.reshape(k.shape[-2:])
        ax.imshow(k / max(float(k.max()), 1e-12), cmap="gray", interpolation="nearest")
        ax.set_title(f"{title}: {k.shape[0]}x{k.shape[1]}", fontsize=8)


def _draw_curves(ax_loss, ax_psnr, trace: pd.DataFrame, psnr_blurry: float | None = None) -> None:  # noqa: ANN001
    for ax, col in ((ax_loss, "loss"), (ax_psnr, "psnr")):
        ax.clear()
        ok = trace.dropna(subset=[col]) if col in trace else trace.iloc[:0]
        if len(ok):
            ax.plot(ok["step"], ok[col], marker="." if len(ok) < 30 else None)
            if col == "loss" and (ok[col] > 0).all():
                ax.set_yscale("log")
        else:
            ax.text(0.5, 0.5, f"no {col} trace", ha="center", va="center", transform=ax.transAxes, fontsize=8)
        ax.set_xlabel("step", fontsize=8)
        ax.set_title("loss" if col == "loss" else "PSNR vs sharp (dB)", fontsize=8)
        ax.tick_params(which="both", labelsize=7)
    if psnr_blurry is not None and np.isfinite(psnr_blurry):
        ax_psnr.axhline(psnr_blurry, ls="--", c="gray", lw=0.8, label="blurry")
        ax_psnr.legend(fontsize=7)


class LivePlot:
    """A solver callback: records every trace row and the latest x and k, and draws four panels (x, kernel or
    code, loss, PSNR). With ``interactive=True`` it redraws every ``every`` calls, at most once per
    ``min_interval_s`` and keeping drawing under about a quarter of the time, into ``out`` (an
    ``ipywidgets.Output``) or the cell's output; headless it only records, and :meth:`draw` draws at the end.

    Shape:
        event ``{"row": dict, "x": (1, C, H, W), "k": (1, ks, ks) kernel or (1, kdim, h, w) code}``.
    """

    def __init__(self, interactive: bool = False, out: object | None = None, every: int = 1,
                 min_interval_s: float = 1.0, psnr_blurry: float | None = None, title: str = "") -> None:
        self.interactive, self.out, self.every = interactive, out, max(1, int(every))
        self.min_interval_s, self._last, self._render_s = min_interval_s, -float("inf"), 0.0
        self.psnr_blurry, self.title, self.redraws = psnr_blurry, title, 0
        self.rows: list[dict] = []
        self.x: np.ndarray | None = None  # (H, W, 3)
        self.k: np.ndarray | None = None  # (1, ks, ks) or (1, kdim, h, w)
        self.figure: Figure | None = None

    def __call__(self, event: dict) -> None:
        self.rows.append(dict(event["row"]))
        self.x = to_hwc(event["x"])
        self.k = event["k"].detach().cpu().numpy()
        # a PNG redraw costs ~0.3 s: keep redrawing under about a quarter of the run's time
        due = time.perf_counter() - self._last >= max(self.min_interval_s, 3 * self._render_s)
        if self.interactive and len(self.rows) % self.every == 0 and due:
            self.show()

    def draw(self) -> Figure:
        """(Re)draw the four panels from what was recorded; returns the figure."""
        if self.figure is None:
            self.figure = Figure(figsize=(10, 2.6), layout="constrained")
            self.figure.subplots(1, 4)
        ax_x, ax_k, ax_loss, ax_psnr = self.figure.axes
        ax_x.clear()
        ax_k.clear()
        _draw_image(ax_x, self.x, f"x at step {self.rows[-1]['step'] if self.rows else 0}")
        if self.k is not None:
            _draw_kernel(ax_k, self.k, "k")
        _draw_curves(ax_loss, ax_psnr, pd.DataFrame(self.rows, columns=["step", "loss", "psnr"]), self.psnr_blurry)
        self.figure.suptitle(self.title, fontsize=9)
        self.redraws += 1
        return self.figure

    def show(self) -> None:
        """Draw, and display in ``out`` (or the current cell) when running inside IPython."""
        t0 = time.perf_counter()
        show_figure(self.draw(), self.out)
        self._last = time.perf_counter()
        self._render_s = self._last - t0


def summary_figure(problem: Any, result: Any) -> Figure:
    """Blurry / estimate / sharp / true kernel / estimated kernel or code, and the loss and PSNR curves."""
    fig = Figure(figsize=(11, 5), layout="constrained")
    axd = fig.subplot_mosaic([["y", "y", "x", "x", "s", "s", "kt", "kt", "ke", "ke"], ["l"] * 5 + ["p"] * 5],
                             height_ratios=[1.2, 1])
    m = result.metrics
    for key, img, title in (("y", problem.blurry, f"blurry {m['psnr_blurry']:.2f} dB / {m['ssim_blurry']:.3f}"),
                            ("x", result.x, f"{result.solver} {m['psnr']:.2f} dB / {m['ssim']:.3f}"),
                            ("s", problem.sharp, "sharp")):
        _draw_image(axd[key], to_hwc(img), title)
    _draw_kernel(axd["kt"], problem.true_kernel, "true")
    psf = getattr(result, "psf", None)
    if psf is not None:  # a code: show the blur it applies, not its numbers
        axd["ke"].imshow(psf, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axd["ke"].set(xticks=[], yticks=[])
        code = np.asarray(result.kernel).ndim >= 3  # else the one kernel of the fast preset's fallback
        axd["ke"].set_title("estimate: PSF field of the " + ("code" if code else "fallback's kernel"), fontsize=8)
    else:
        _draw_kernel(axd["ke"], result.kernel, "estimate")
    _draw_curves(axd["l"], axd["p"], result.trace, m["psnr_blurry"])
    fig.suptitle(f"{problem.description} | {result.solver}, {result.wall_s:.1f} s", fontsize=9)
    return fig
