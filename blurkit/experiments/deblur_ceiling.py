"""How much of the blur a kernel model must capture: non-blind deblurring of the ladder's images with the blur known
at several levels of detail, under two image priors.

The ladder's ``true_code`` row asks how well the x-step inverts F with the code G(x, y). This table asks what any
model of the blur could reach at best on the same images (the ladder's rule: the ``n`` most textured test crops of a
GOPRO/REDS-like domain), with the blur taken from the synthesis' own records instead of a learned F:

- ``exact``: the renderer's blur itself, camera motion and every moving object
  (:func:`blurkit.data.synthesis.exact_blur`);
- ``exact_camera``: the same without the moving objects (the camera's spatially varying blur only);
- ``cells_32``, ``cells_16`` (any ``cells_N``): one camera PSF per 32 or 16 px cell (the kernel-head models' grid
  is 32 px; :func:`blurkit.data.true_kernels.pair_kernels`);
- ``psf`` and its variants (``psf_mirror``, ``psf_rot10``, ...: :mod:`blurkit.data.kernel_variants`): one kernel
  for the whole crop, the camera PSF at its centre with one controlled mistake made, the unknown extended by the
  x-step's margin. With ``reference="psf"`` the summary gives each variant's paired loss against the exact one: what
  each mistake a blind estimate can make costs the x-step.

Each is solved in the camera's linear domain by the ladder's x-step (``hyper_laplacian``: Eq. 6's prior with the
reds-like kernel space's x-step settings) and by the plug-and-play x-step (``pnp``: the shipped denoiser, with the
domain's own noise level, :mod:`blurkit.deblur.pnp`). Cells are written as they finish; a re-run computes only the
missing ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from blurkit.data.domains import get_domain
from blurkit.data.synthesis import exact_blur, render_margin
from blurkit.data.kernel_variants import is_variant, variant_kernel
from blurkit.data.true_kernels import camera_paths, pair_kernels
from blurkit.deblur.denoiser import denoiser_path, load_denoiser
from blurkit.deblur.linear_xstep import XSTEP_MARGIN, LinearXStep, deconvolve, linear_domain_deconvolution, xstep_key
from blurkit.deblur.metrics import psnr
from blurkit.deblur.pnp import PnPXStep, pnp_deconvolve
from blurkit.errors import UnknownNameError
from blurkit.experiments.deblur_report import to_image, to_tensor
from blurkit.experiments.ladder import set_xstep, textured_pairs
from blurkit.experiments.recorded_truth import recorded_blur
from blurkit.experiments.paired import paired_difference
from blurkit.files import sha256_file
from blurkit.progress import progress_bar
from blurkit.provenance import provenance, save_result

OPERATORS = ("exact", "exact_camera", "cells_32", "cells_16")  # also any cells_N (cells_8: about 2 min an image)
PRIORS = ("hyper_laplacian", "pnp")
CEILING_KERNEL = 31  # side of the cell PSFs (F's basis_size)


def domain_noise(domain: str, level: float = 0.25) -> float:
    """The noise std of a domain's synthesis at linear intensity ``level`` (its Poisson-Gaussian model), at least
    the 8-bit quantisation's ``1 / (255 sqrt(12))``."""
    dom = get_domain(domain)
    return max(math.sqrt(dom.shot_noise * level + dom.read_noise ** 2), 1 / (255 * math.sqrt(12)))


Operator = tuple[Callable[[torch.Tensor], torch.Tensor], int]  # a linear blur and the margin of its unknown


def blur_operator(name: str, params: dict, domain: str, size: int) -> Operator:
    """The linear blur ``name`` of one recorded pair and the margin its unknown carries on every side.

    Shape:
        the returned map takes ``(1, C, size + 2 m, size + 2 m)`` to ``(1, C, size, size)``.
    """
    if name == "exact":
        return exact_blur(params, domain, size), render_margin(size)
    if name == "exact_camera":
        return exact_blur({**params, "objects": []}, domain, size), render_margin(size)
    if name.startswith("cells_") and name[6:].isdigit() and size % int(name[6:]) == 0:
        from blurkit.space.basis_blur import cell_convolve

        stride = int(name[6:])
        k = torch.as_tensor(pair_kernels(params, domain, size, stride, CEILING_KERNEL), dtype=torch.float32)
        return (lambda u: cell_convolve(u, k, stride)), 0
    if is_variant(name):
        from blurkit.space.basis_blur import cell_convolve

        centre = np.full((1, 2), (size - 1) / 2)
        kernel = variant_kernel(camera_paths(params, domain, size, centre)[0], name, CEILING_KERNEL)
        one = torch.from_numpy(kernel)[None, None]
        return (lambda u: cell_convolve(u, one, size, XSTEP_MARGIN)), XSTEP_MARGIN
    raise UnknownNameError(f"unknown blur operator '{name}' for {size} px; choose from {', '.join(OPERATORS)}, "
                           "psf or a psf_ variant")


def deblur_known(y: torch.Tensor, operator: Operator, domain: str,
                 prior: str, xstep: LinearXStep, pnp: PnPXStep, denoiser: torch.nn.Module | None) -> torch.Tensor:
    """Deconvolve y through a known linear blur in the domain's linear space.

    Shape:
        y ``(1, 3, H, H)`` in [0, 1] -> ``(1, 3, H, H)`` in [0, 1].
    """
    apply, m = operator
    if prior == "hyper_laplacian":
        def solve(a, t, u0):  # type: ignore[no-untyped-def]
            return deconvolve(a, t, u0, xstep)
    elif prior == "pnp":
        def solve(a, t, u0):  # type: ignore[no-untyped-def]
            return pnp_deconvolve(a, t, u0, denoiser, pnp)  # type: ignore[arg-type]
    else:
        raise UnknownNameError(f"unknown prior '{prior}'; choose from {', '.join(PRIORS)}")
    return linear_domain_deconvolution(y, apply, m, get_domain(domain).crf, solve)


def summarise_ceiling(per_image: pd.DataFrame, seed: int = 0, reference: str | None = None) -> pd.DataFrame:
    """Mean gain over the blurry input per (domain, operator, prior), with a seeded 95 % bootstrap interval; with a
    ``reference`` operator also each one's paired difference from it (``vs_ref_db``, ``vs_ref_low``,
    ``vs_ref_high``; empty where the reference was not run on the same images)."""
    rows = []
    for (domain, op, prior), g in per_image.groupby(["domain", "operator", "prior"], sort=False):
        g = g.sort_values("image")
        d = paired_difference(g["psnr"].to_numpy(), g["blurry_psnr"].to_numpy(), seed=seed) if len(g) > 1 else None
        row = {"domain": domain, "operator": op, "prior": prior, "psnr": g["psnr"].mean(),
               "gain_db": g["psnr"].mean() - g["blurry_psnr"].mean(),
               "ci_low": None if d is None else d.ci_low, "ci_high": None if d is None else d.ci_high,
               "sec_per_image": g["wall_s"].mean(), "n": len(g)}
        if reference is not None:
            ref = per_image[(per_image["domain"] == domain) & (per_image["operator"] == reference)
                            & (per_image["prior"] == prior)].sort_values("image")
            same = len(g) > 1 and list(ref["image"]) == list(g["image"])
            v = paired_difference(g["psnr"].to_numpy(), ref["psnr"].to_numpy(), seed=seed) if same else None
            row.update({"vs_ref_db": None if v is None else v.diff_db, "vs_ref_low": None if v is None else v.ci_low,
                        "vs_ref_high": None if v is None else v.ci_high})
        rows.append(row)
    return pd.DataFrame(rows)


def run_ceiling(out_dir: str | Path, domains: Sequence[str] = ("reds-like",), operators: Sequence[str] = OPERATORS,
                priors: Sequence[str] = PRIORS, profile: str = "cpu", n: int = 16, size: int = 128,
                denoiser: str = "cpu", kernel_space: str = "reds-like-basis", seed: int = 0, progress: bool = True,
                name: str = "deblur_ceiling", reference: str | None = None) -> pd.DataFrame:
    """Run the table, resuming from ``out_dir/<name>_per_image.csv``; write both CSVs with provenance.

    The table grows: cells already on file (same solver key) are kept and summarised with the new ones, so a run
    with one more operator or domain adds its rows instead of replacing the table. A ``reference`` must be one of
    ``operators`` or have cells on file; otherwise nothing is computed or written."""
    out_dir = Path(out_dir)
    per_path = out_dir / f"{name}_per_image.csv"
    xstep = dataclasses.replace(set_xstep(kernel_space), margin=0)  # each operator sets its unknown's own margin
    den = load_denoiser(denoiser) if "pnp" in priors else None
    # the key's "pnp" holds PnPXStep's defaults; the noise level actually used is the domain's (``pnp_noise`` below).
    # The denoiser's hash enters whether or not this run uses it, so that a run of one prior resumes the table of both.
    den_file = denoiser_path(denoiser)
    spec = {"xstep": xstep_key(xstep), "pnp": PnPXStep().__dict__, "kernel": CEILING_KERNEL,
            "denoiser_sha256": sha256_file(den_file) if den_file.is_file() else None}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    done = pd.read_csv(per_path, dtype={"image": str}) if per_path.exists() else pd.DataFrame()
    if len(done):
        done = done[done["key"] == key]
    rows = done.to_dict("records")
    if reference is not None and reference not in operators and reference not in {r["operator"] for r in rows}:
        raise UnknownNameError(f"the reference operator '{reference}' is neither among this run's operators "
                               f"({', '.join(operators)}) nor on file in {per_path.name}")
    have = {(r["domain"], r["operator"], r["prior"], r["image"]) for r in rows}
    record = provenance(config={"domains": list(domains), "operators": list(operators), "priors": list(priors),
                                "profile": profile, "n": n, "size": size, "denoiser": denoiser, "reference": reference,
                                "kernel_space_xstep": kernel_space, **spec, "psf_margin": XSTEP_MARGIN,
                                "pnp_noise": {d: domain_noise(d) for d in domains},
                                "image_rule": "the ladder's: largest gradient energy of the sharp crop"}, seed=seed)
    start = time.perf_counter()
    for domain in domains:
        params = recorded_blur(domain, profile, size)
        if not params:
            raise UnknownNameError(f"'{domain}' has no recorded dynamic blur for whole {size} px test pairs")
        pnp = PnPXStep(noise=domain_noise(domain))
        pairs = textured_pairs(domain, profile, n, size)
        todo = [(op, pr, i) for op in operators for pr in priors for i in range(len(pairs))
                if (domain, op, pr, pairs[i][0]) not in have]
        for op, prior, i in progress_bar(todo, desc=f"ceiling {domain}", disable=not progress):
            image, x, y = pairs[i]
            t0 = time.perf_counter()
            out = deblur_known(to_tensor(y), blur_operator(op, params[image], domain, size), domain, prior, xstep,
                               pnp, den)
            rows.append({"domain": domain, "operator": op, "prior": prior, "image": image, "key": key,
                         "psnr": psnr(to_image(out), x), "blurry_psnr": psnr(y, x),
                         "wall_s": time.perf_counter() - t0})
            save_result(pd.DataFrame(rows), per_path.stem, out_dir, {**record, "partial": True})
    every = pd.DataFrame(rows)
    summary = summarise_ceiling(every, seed, reference)
    on_file = {c: list(dict.fromkeys(every[c])) for c in ("domain", "operator", "prior")}
    record["config"].update({"domains": on_file["domain"], "operators": on_file["operator"],
                             "priors": on_file["prior"], "pnp_noise": {d: domain_noise(d) for d in on_file["domain"]}})
    record["wall_time_s"] = time.perf_counter() - start
    save_result(every, per_path.stem, out_dir, record)
    save_result(summary, name, out_dir, record)
    return summary


__all__ = ["CEILING_KERNEL", "OPERATORS", "PRIORS", "blur_operator", "deblur_known", "domain_noise", "run_ceiling",
           "summarise_ceiling"]
