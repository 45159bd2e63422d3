"""The non-blind x-step of a kernel space, chosen on held-out training pairs: its prior weight and its blend.

The ladder's non-blind rows (``true_code`` and the other codes taken from the sharp image) deblur with the code
G(x, y). How much image prior that code wants, and whether the plug-and-play solve should be blended in
(:mod:`blurkit.deblur.blended_xstep`), depends on how close G's code is to the blur: with the least-squares kernel's
code the blend gains +1.2 dB on reds-like, with the learned G's it loses 0.7 (docs/deblurring.md). So both are
chosen per kernel space, on the 24 most textured pairs of the training photos its estimator holds out
(:func:`blurkit.deblur.xstep_calibration.held_out_pairs`), by the mean gain over the blurry input: every
``gamma`` of :data:`GAMMAS` with every plug-and-play share of :data:`WEIGHTS` (0: the hyper-Laplacian solve alone,
1: the plug-and-play solve alone). The choice is written beside the model's file (``<model>.nonblind.json``), which
is what :func:`nonblind_xstep_for` reads; a model without one keeps the weight its estimator records and no blend.
A kernel space without an estimator (a ``g_lsq`` one: its G reads the sharp image) uses the same photos' pairs.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from blurkit.deblur.blended_xstep import LADDER_BLEND, XStepBlend, mix_solves, shipped_denoiser
from blurkit.deblur.denoiser import Denoiser
from blurkit.deblur.linear_xstep import PRESET_XSTEP, LinearXStep, linear_xstep
from blurkit.deblur.pnp import PnPXStep
from blurkit.deblur.xstep_calibration import WORSE_DB, calibrated_xstep_for, held_out_pairs
from blurkit.errors import BlurkitError
from blurkit.files import atomic_path
from blurkit.progress import progress_bar
from blurkit.space.kernel_space import KernelSpace, checkpoint_path
from blurkit.space.losses import psnr

GAMMAS: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0)
WEIGHTS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)  # the plug-and-play solve's share
SUFFIX = ".nonblind.json"


def nonblind_path(model: str | os.PathLike) -> Path:
    """``<model>.nonblind.json`` beside the kernel space's checkpoint."""
    path = checkpoint_path(model)
    return path.with_name(path.stem + SUFFIX)


def calibrate_nonblind(model: KernelSpace, pairs: Sequence[tuple[torch.Tensor, torch.Tensor]],
                       base: LinearXStep = PRESET_XSTEP, blend: XStepBlend = LADDER_BLEND,
                       gammas: Sequence[float] = GAMMAS, weights: Sequence[float] = WEIGHTS,
                       denoiser: Denoiser | None = None, progress: bool = False) -> tuple[dict, pd.DataFrame]:
    """The (gamma, share) whose x-step with the code G(x, y) gains most over y on ``pairs``, and the table of all.

    Each pair is solved once per gamma by the hyper-Laplacian x-step and once by the plug-and-play one (noise
    ``blend.noise``); a share ``w`` scores ``(1 - w) * hyper-Laplacian + w * plug-and-play``, as
    :func:`blurkit.deblur.blended_xstep.blended_xstep` computes it. Returns ``{"gamma", "weight"}`` and the table.

    Shape:
        pairs: ``(x, y)`` each ``(1, 3, H, W)`` in [0, 1].
    """
    if not pairs:
        raise ValueError("calibrating the non-blind x-step needs at least one held-out pair")
    den = denoiser if denoiser is not None else shipped_denoiser(blend.denoiser)
    gains: dict[tuple[float, float], list[float]] = {(g, w): [] for g in gammas for w in weights}
    for x, y in progress_bar(list(pairs), desc="calibrate non-blind x-step", disable=not progress):
        with torch.no_grad():
            k = model.encode(x, y)
        pnp = linear_xstep(model, y, k, config=base, pnp=(PnPXStep(noise=blend.noise), den))
        before = float(psnr(y, x))
        for g in gammas:
            plain = linear_xstep(model, y, k, config=dataclasses.replace(base, gamma=float(g)))
            for w in weights:
                gains[(g, w)].append(float(psnr(mix_solves(plain, pnp, w), x)) - before)
    rows = [{"gamma": g, "weight": w, "gain_db": float(np.mean(v)), "worse_frac": float((np.array(v) < -WORSE_DB)
                                                                                         .mean()), "n": len(v)}
            for (g, w), v in gains.items()]
    table = pd.DataFrame(rows)
    best = table.loc[table["gain_db"].idxmax()]
    return {"gamma": float(best["gamma"]), "weight": float(best["weight"])}, table


def calibrate_nonblind_file(model: str | os.PathLike, data: str | os.PathLike, profile: str = "cpu",
                            base: LinearXStep = PRESET_XSTEP, blend: XStepBlend = LADDER_BLEND,
                            select: str = "textured", progress: bool = True,
                            record: dict | None = None) -> tuple[dict, pd.DataFrame]:
    """:func:`calibrate_nonblind` on the held-out training pairs of ``data``; writes ``<model>.nonblind.json``
    (the choice, the blend's noise and denoiser, the table and ``record``) atomically."""
    ks = KernelSpace.load(model).eval()
    for p in ks.parameters():
        p.requires_grad_(False)
    pairs = held_out_pairs(data, profile, select)
    choice, table = calibrate_nonblind(ks, pairs, base, blend, progress=progress)
    out = {"gamma": choice["gamma"], "blend": dataclasses.asdict(dataclasses.replace(blend, weight=choice["weight"])),
           "base": dataclasses.asdict(base), "data": str(data), "profile": profile, "select": select,
           "table": table.to_dict("records"), "provenance": record or {}}
    with atomic_path(nonblind_path(model)) as tmp:
        tmp.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    return choice, table


def nonblind_xstep_for(model: str | os.PathLike, base: LinearXStep = PRESET_XSTEP
                       ) -> tuple[LinearXStep, XStepBlend | None]:
    """The non-blind x-step of a kernel space: ``base`` with the gamma of ``<model>.nonblind.json`` and its blend
    (None for a share of 0), or without that file the weight its estimator records for codes from the sharp image
    (:func:`blurkit.deblur.xstep_calibration.calibrated_xstep_for`) and no blend."""
    try:
        path = nonblind_path(model)
    except BlurkitError:
        path = None
    if path is None or not path.is_file():
        return calibrated_xstep_for(model, base, code="sharp"), None
    saved = json.loads(path.read_text())
    blend = XStepBlend(**saved["blend"])
    return dataclasses.replace(base, gamma=float(saved["gamma"])), (blend if blend.weight > 0 else None)


__all__ = ["GAMMAS", "SUFFIX", "WEIGHTS", "calibrate_nonblind", "calibrate_nonblind_file",
           "nonblind_path", "nonblind_xstep_for"]
