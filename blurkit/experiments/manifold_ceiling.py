"""How close a generator gets to the sharp images: the ceiling of deblurring on its manifold (paper Sec. 3.3).

The generator-prior solver (:mod:`blurkit.deblur.generator_prior`) can only return images the generator makes. For
each pair (x sharp, y blurry) of a paired folder, the same PULSE-style search is run on x itself with the identity
forward model (kernel prior ``none``): the PSNR of that fit against x is how close the search gets to x when it
sees x unblurred. When it stays below the blurry input's own PSNR, no kernel prior can make the solver beat the
blurry input on those images, whatever F does; the paired difference (fit minus blurry, same images) with its 95 %
interval says by how much (:func:`blurkit.experiments.paired.paired_difference`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from blurkit.data.datasets import resolve_pairs
from blurkit.data.images import read_image
from blurkit.deblur.generator_prior import (
    GeneratorPriorConfig,
    deblur_generator,
    gaussian_fit,
    generator_prior_config,
)
from blurkit.errors import BlurkitError
from blurkit.experiments.deblur_report import to_tensor
from blurkit.experiments.paired import paired_difference, verdict_columns
from blurkit.generator.stylegan2 import StyleGAN2Generator
from blurkit.progress import progress_bar
from blurkit.space.losses import psnr

CEILING_COLUMNS = ["image", "projection_psnr", "blurry_psnr", "wall_s"]


def projection_config(config: str | GeneratorPriorConfig = "fast") -> GeneratorPriorConfig:
    """The generator-prior search of ``config`` with the identity forward model and no guard."""
    return dataclasses.replace(generator_prior_config(config), kernel_prior="none", guard=False)


def projection_rows(generator: StyleGAN2Generator, pairs: list[tuple[Path, Path]],
                    config: str | GeneratorPriorConfig = "fast",
                    seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """Fit the generator to each pair's sharp image (kernel prior ``none``, image i with seed ``seed + i``).

    Returns one row per pair: ``image`` (the sharp file's stem), ``projection_psnr`` (the fit against the sharp
    image), ``blurry_psnr`` (the blurry input against the sharp image), ``wall_s``. Images must be the generator's
    size (one :class:`~blurkit.errors.ImageSizeError` line otherwise).
    """
    if not pairs:
        raise BlurkitError("no pairs to project: the paired folder is empty")
    cfg = projection_config(config)
    fit = gaussian_fit(generator, cfg.fit_samples, cfg.fit_seed)
    rows: list[dict[str, Any]] = []
    for i, (s, b) in enumerate(progress_bar(pairs, desc="project sharp crops", unit="img", disable=not progress)):
        x, y = to_tensor(read_image(s)), to_tensor(read_image(b))
        t0 = time.perf_counter()
        res = deblur_generator(None, generator, x, cfg, seed=seed + i, progress=False, fit=fit)
        rows.append({"image": Path(s).stem, "projection_psnr": float(psnr(res.x, x)),
                     "blurry_psnr": float(psnr(y, x)), "wall_s": time.perf_counter() - t0})
    return pd.DataFrame(rows, columns=CEILING_COLUMNS)


def ceiling_summary(rows: pd.DataFrame, target_gain_db: float = 3.0, seed: int = 0) -> pd.DataFrame:
    """One row: mean projection and blurry PSNR, the verdict of "projection > blurry" with its interval, and of
    "projection > blurry + target_gain_db" (can a solver on this manifold reach the target gain at all?)."""
    if len(rows) < 2:
        raise BlurkitError(f"the ceiling needs at least 2 images, got {len(rows)}")
    proj, blurry = rows.projection_psnr.to_numpy(float), rows.blurry_psnr.to_numpy(float)
    over = verdict_columns(paired_difference(proj, blurry, "greater", seed=seed))
    target = verdict_columns(paired_difference(proj, blurry + target_gain_db, "greater", seed=seed))
    return pd.DataFrame([{"projection_psnr": float(np.mean(proj)), "blurry_psnr": float(np.mean(blurry)),
                          **{f"over_blurry_{k}": v for k, v in over.items()},
                          "target_gain_db": target_gain_db,
                          **{f"over_target_{k}": v for k, v in target.items()}}])


def manifold_ceiling(generator: str | os.PathLike | StyleGAN2Generator, data: str | os.PathLike,
                     results_dir: str | os.PathLike, n: int | None = 16, config: str | GeneratorPriorConfig = "fast",
                     seed: int = 0, target_gain_db: float = 3.0,
                     name: str = "manifold_ceiling", progress: bool = True) -> pd.DataFrame:
    """Project the first ``n`` sharp images of a paired folder onto a generator's manifold; write
    ``<name>_per_image.csv`` and ``<name>.csv`` (:func:`ceiling_summary`) into ``results_dir`` with provenance.
    ``generator`` is a manifest name (``text-cpu``), a checkpoint path or a generator. Returns the summary."""
    from blurkit.deblur.generator_files import resolve_generator
    from blurkit.provenance import provenance, save_result

    folder = Path(data)
    if not folder.is_dir():
        raise BlurkitError(f"'{folder}' is not a paired folder (sharp/ and blur/)")
    gen = generator if isinstance(generator, StyleGAN2Generator) else resolve_generator(generator)
    pairs = resolve_pairs(folder)
    pairs = pairs[:n] if n else pairs
    start = time.perf_counter()
    rows = projection_rows(gen, pairs, config, seed, progress)
    summary = ceiling_summary(rows, target_gain_db, seed)
    name_or_path = "in-memory" if isinstance(generator, StyleGAN2Generator) else str(generator)
    record = provenance(config={"generator": name_or_path, "generator_config": gen.config.to_dict(),
                                "data": str(folder), "n": len(rows),
                                "solver": dataclasses.asdict(projection_config(config)),
                                "target_gain_db": target_gain_db}, seed=seed,
                        wall_time_s=time.perf_counter() - start)
    out = Path(results_dir)
    save_result(rows, f"{name}_per_image", out, record)
    save_result(summary, name, out, record)
    return summary


__all__ = ["CEILING_COLUMNS", "ceiling_summary", "manifold_ceiling", "projection_config", "projection_rows"]
