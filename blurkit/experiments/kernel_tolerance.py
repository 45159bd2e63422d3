"""What each mistake of a blur kernel estimate costs the x-step (``blurkit bench tolerance``).

The ladder's images are deconvolved non-blind, in the camera's linear domain, with the camera PSF at the crop's
centre (``psf``) and with that PSF after one controlled mistake (:mod:`blurkit.data.kernel_variants`): centred on its
mass, mirrored, replaced by the best bent (quadratic) or straight path, turned by 10 or 20 degrees, or stretched by
0.8 or 1.2. The table (:func:`blurkit.experiments.deblur_ceiling.run_ceiling` with ``reference="psf"``) gives each
variant's gain over blurry and its paired loss against the exact PSF. The figure draws those losses under the
kernels and the deconvolutions of one image, the one where the exact PSF gains most. It bounds what a blind
estimator must get right before the x-step can deblur.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from blurkit.data.kernel_variants import variant_kernel
from blurkit.data.true_kernels import camera_paths
from blurkit.deblur.metrics import psnr
from blurkit.deblur.pnp import PnPXStep
from blurkit.errors import UnknownNameError
from blurkit.experiments.deblur_ceiling import CEILING_KERNEL, blur_operator, deblur_known, run_ceiling
from blurkit.experiments.deblur_report import to_image, to_tensor
from blurkit.experiments.ladder import set_xstep, textured_pairs
from blurkit.experiments.recorded_truth import recorded_blur
from blurkit.provenance import save_figure

TOLERANCE_OPERATORS = ("psf", "psf_centred", "psf_mirror", "psf_quadratic", "psf_line", "psf_rot10", "psf_rot20",
                       "psf_scale0.8", "psf_scale1.2")
TOLERANCE_NAME = "kernel_tolerance"


def example_image(per_image: pd.DataFrame, domain: str, reference: str = "psf") -> str:
    """The image of ``domain`` on which the exact PSF gains most over blurry: where its variants' mistakes show."""
    rows = per_image[(per_image["domain"] == domain) & (per_image["operator"] == reference)]
    return str(rows.loc[(rows["psnr"] - rows["blurry_psnr"]).idxmax(), "image"])


@dataclass
class Example:
    """One image deconvolved with every variant: ``kernels`` and ``outputs`` by variant name, ``psnr`` likewise.

    Shape:
        sharp, blurry and each output ``(H, W, 3)`` in [0, 1]; each kernel ``(CEILING_KERNEL, CEILING_KERNEL)``.
    """

    domain: str
    image: str
    sharp: np.ndarray
    blurry: np.ndarray
    kernels: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    psnr: dict[str, float]


def example(domain: str, image: str, profile: str, size: int = 128, operators: Sequence[str] = TOLERANCE_OPERATORS,
            n: int = 16, kernel_space: str = "reds-like-basis") -> Example:
    """Deconvolve one of the ladder's images with every variant, as the table does."""
    pairs = {name: (x, y) for name, x, y in textured_pairs(domain, profile, n, size)}
    if image not in pairs:
        raise UnknownNameError(f"'{image}' is not one of the ladder's {n} {domain} images")
    x, y = pairs[image]
    params = recorded_blur(domain, profile, size)[image]
    path = camera_paths(params, domain, size, np.full((1, 2), (size - 1) / 2))[0]
    xstep = dataclasses.replace(set_xstep(kernel_space), margin=0)
    kernels, outputs, scores = {}, {}, {}
    for op in operators:
        kernels[op] = variant_kernel(path, op, CEILING_KERNEL)
        out = to_image(deblur_known(to_tensor(y), blur_operator(op, params, domain, size), domain, "hyper_laplacian",
                                    xstep, PnPXStep(), None))
        outputs[op], scores[op] = out, psnr(out, x)
    return Example(domain, image, x, y, kernels, outputs, scores)


def tolerance_figure(summary: pd.DataFrame, ex: Example, title: str):  # type: ignore[no-untyped-def]
    """Top: one image's variant kernels (cropped to their common support); middle: its deconvolution with each
    (the central half of the crop, PSNR in the title); bottom: each variant's loss against the exact PSF, per
    domain, with its 95 % interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(ex.kernels)
    support = np.argwhere(np.sum([ex.kernels[op] for op in names], axis=0) > 0)  # cropped to the kernels' union
    (r0, c0), (r1, c1) = support.min(axis=0) - 2, support.max(axis=0) + 3
    side = max(r1 - r0, c1 - c0)
    r0, c0 = max(0, (r0 + r1 - side) // 2), max(0, (c0 + c1 - side) // 2)
    h, w = ex.sharp.shape[:2]
    view = (slice(h // 4, h - h // 4), slice(w // 4, w - w // 4))
    fig = plt.figure(figsize=(1.35 * len(names), 7.0))
    grid = fig.add_gridspec(3, len(names), height_ratios=[1, 1, 2.2], hspace=0.35)
    for i, op in enumerate(names):
        label = op.replace("psf_", "") if op != "psf" else "exact"
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(ex.kernels[op][r0:r0 + side, c0:c0 + side], cmap="magma", interpolation="nearest")
        ax.set_title(label, fontsize=8)
        ax = fig.add_subplot(grid[1, i])
        ax.imshow(ex.outputs[op][view], interpolation="nearest")
        ax.set_title(f"{ex.psnr[op]:.2f} dB", fontsize=8)
        for a in fig.axes[-2:]:
            a.set_xticks([])
            a.set_yticks([])
    ax = fig.add_subplot(grid[2, :])
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
    per_image = pd.read_csv(out_dir / f"{TOLERANCE_NAME}_per_image.csv", dtype={"image": str})
    ex = example(domains[0], example_image(per_image, domains[0]), profile, size, TOLERANCE_OPERATORS, n)
    record = json.loads((out_dir / f"{TOLERANCE_NAME}.meta.json").read_text())
    title = (f"{ex.domain} {ex.image} (blurry {psnr(ex.blurry, ex.sharp):.2f} dB; centre half shown), deconvolved with "
             f"each variant of its PSF; below, each mistake's cost on n {n} images per domain")
    fig = tolerance_figure(summary, ex, title)
    save_figure(fig, TOLERANCE_NAME, out_dir, record)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return summary


__all__ = ["Example", "TOLERANCE_NAME", "TOLERANCE_OPERATORS", "example", "example_image", "run_tolerance",
           "tolerance_figure"]
