"""What each mistake of a blur kernel estimate costs the x-step (``blurkit bench tolerance``).

The ladder's images are deconvolved non-blind, in the camera's linear domain, with the camera PSF at the crop's
centre (``psf``) and with that PSF after one controlled mistake (:mod:`blurkit.data.kernel_variants`): centred on its
mass, mirrored, replaced by the best bent (quadratic) or straight path, turned by 10 or 20 degrees, or stretched by
0.8 or 1.2. The table (:func:`blurkit.experiments.deblur_ceiling.run_ceiling` with ``reference="psf"``) gives each
variant's gain over blurry and its paired loss against the exact PSF; the figure draws the kernels of one image
beside those losses. It bounds what a blind estimator must get right before the x-step can deblur.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from blurkit.data.kernel_variants import variant_kernel
from blurkit.data.true_kernels import camera_paths
from blurkit.experiments.deblur_ceiling import CEILING_KERNEL, run_ceiling
from blurkit.experiments.ladder import textured_pairs
from blurkit.experiments.recorded_truth import recorded_blur
from blurkit.provenance import save_figure

TOLERANCE_OPERATORS = ("psf", "psf_centred", "psf_mirror", "psf_quadratic", "psf_line", "psf_rot10", "psf_rot20",
                       "psf_scale0.8", "psf_scale1.2")
TOLERANCE_NAME = "kernel_tolerance"


def example_kernels(domain: str, profile: str, size: int = 128, operators: Sequence[str] = TOLERANCE_OPERATORS,
                    n: int = 16) -> tuple[str, dict[str, np.ndarray]]:
    """The kernel of every variant for the first of the ladder's images of ``domain`` (its name, then name ->
    kernel).

    Shape:
        each kernel ``(CEILING_KERNEL, CEILING_KERNEL)``.
    """
    image = textured_pairs(domain, profile, n, size)[0][0]
    path = camera_paths(recorded_blur(domain, profile, size)[image], domain, size, np.full((1, 2), (size - 1) / 2))[0]
    return image, {op: variant_kernel(path, op, CEILING_KERNEL) for op in operators}


def tolerance_figure(summary: pd.DataFrame, kernels: dict[str, np.ndarray], title: str):  # type: ignore[no-untyped-def]
    """Top: the variants' kernels for one image (cropped to their common support); bottom: each variant's loss
    against the exact PSF, per domain, with its 95 % interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(kernels)
    support = np.argwhere(np.sum([kernels[op] for op in names], axis=0) > 0)  # all kernels, cropped to their union
    (r0, c0), (r1, c1) = support.min(axis=0) - 2, support.max(axis=0) + 3
    side = max(r1 - r0, c1 - c0)
    r0, c0 = max(0, (r0 + r1 - side) // 2), max(0, (c0 + c1 - side) // 2)
    fig = plt.figure(figsize=(1.3 * len(names), 5.2))
    grid = fig.add_gridspec(2, len(names), height_ratios=[1, 2.2], hspace=0.35)
    for i, op in enumerate(names):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(kernels[op][r0:r0 + side, c0:c0 + side], cmap="magma", interpolation="nearest")
        ax.set_title(op.replace("psf_", "") if op != "psf" else "exact", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    ax = fig.add_subplot(grid[1, :])
    domains = list(dict.fromkeys(summary["domain"]))
    width = 0.8 / max(len(domains), 1)
    for j, domain in enumerate(domains):
        rows = summary[summary["domain"] == domain].set_index("operator").reindex(names)
        pos = np.arange(len(names)) + (j - (len(domains) - 1) / 2) * width
        err = np.vstack([rows["vs_ref_db"] - rows["vs_ref_low"], rows["vs_ref_high"] - rows["vs_ref_db"]])
        ax.bar(pos, rows["vs_ref_db"], width, yerr=err, capsize=2, label=domain)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(np.arange(len(names)), [n.replace("psf_", "") if n != "psf" else "exact" for n in names],
                  fontsize=8)
    ax.set_ylabel("dB against the exact PSF")
    ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    return fig


def run_tolerance(out_dir: str | Path, domains: Sequence[str] = ("reds-like", "gopro-like"), profile: str = "cpu",
                  n: int = 16, size: int = 128, progress: bool = True) -> pd.DataFrame:
    """The table and its figure (``<out_dir>/kernel_tolerance.csv``, ``.png``, per-image CSV, provenance);
    resumes from the per-image CSV."""
    out_dir = Path(out_dir)
    summary = run_ceiling(out_dir, domains, TOLERANCE_OPERATORS, ("hyper_laplacian",), profile=profile, n=n,
                          size=size, progress=progress, name=TOLERANCE_NAME, reference="psf")
    image, kernels = example_kernels(domains[0], profile, size, TOLERANCE_OPERATORS, n)
    record = json.loads((out_dir / f"{TOLERANCE_NAME}.meta.json").read_text())
    fig = tolerance_figure(summary, kernels, f"kernels of {domains[0]} {image}; each mistake's cost to the x-step "
                                             f"(n {n} per domain)")
    save_figure(fig, TOLERANCE_NAME, out_dir, record)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return summary


__all__ = ["TOLERANCE_NAME", "TOLERANCE_OPERATORS", "example_kernels", "run_tolerance", "tolerance_figure"]
