"""The weight of the x-step's image prior, chosen per kernel space on held-out training photos.

How strongly the linear x-step (:mod:`blurkit.deblur.linear_xstep`) must regularise depends on how exact F's blur
is: with the kernel-supervised ``uniform-8`` the blind ``fast`` path gains +3.3 dB at ``gamma = 0.03`` and
+2.7 dB at 0.1, while ``reds-like-kernel``, whose kernels are further from the truth, loses 0.4 dB at 0.03 and
breaks even at 0.1 (the ladder's images; docs/deblurring.md). One value cannot serve both, and choosing it on the
test images would be fitting to them. So ``gamma`` is chosen once per kernel space, on the pairs of the training
photos its code estimator held out (never trained E on, :func:`blurkit.space.code_estimator.split_by_photo`), by
the mean gain of the blind x-step over the blurry input, and stored in the estimator's record. By default the 24
most textured of those pairs are used: evenly spread ones (mostly flat, lightly blurred) chose gamma 1 for
``reds-like-kernel``, which lost 0.3 dB with the true code on the ladder's textured images where 0.1 gains 0.9
(``xstep_gamma``, with the whole table in ``xstep_calibration``). :func:`calibrated_xstep` reads it back.

The non-blind rows of the ladder (``true_code`` and the others that deblur with a code taken from the sharp image)
get a weight of their own, chosen the same way with the code ``G(x, y)`` (``code="sharp"``: ``xstep_gamma_sharp``):
a code from the sharp image is closer to the blur than E(y)'s, and a more exact blur wants a weaker prior (with the
true PSFs' codes, gamma 0.03 beats 0.3 by 1.4 dB on the reds-like ladder images). Without it they read the blind one.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from blurkit.data.datasets import resolve_pairs
from blurkit.data.images import gradient_energy, read_image, to_batch
from blurkit.deblur.linear_xstep import PRESET_XSTEP, LinearXStep, linear_xstep
from blurkit.profiles import get_profile
from blurkit.progress import progress_bar
from blurkit.space.code_estimator import ESTIMATOR_PROFILES, CodeEstimator, estimator_path, split_by_photo
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import psnr

GAMMAS: tuple[float, ...] = (0.01, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 4.0)
WORSE_DB = 0.3  # a pair counts as made worse when it loses more than this
CODES = ("blind", "sharp")  # where the calibration's code comes from: E(y), or G(x, y) with the sharp image


def record_suffix(code: str) -> str:
    """What the estimator record's calibration keys (``xstep_gamma``, ``xstep_calibration``, ...) and the results
    table's name carry for ``code``: nothing for the blind code, ``_sharp`` for the sharp one."""
    if code not in CODES:
        raise ValueError(f"the calibration's code must be one of {CODES}, got {code!r}")
    return "" if code == "blind" else f"_{code}"


def calibrate_gamma(model: KernelSpace, estimator: CodeEstimator, pairs: Sequence[tuple[torch.Tensor, torch.Tensor]],
                    base: LinearXStep, gammas: Sequence[float] = GAMMAS,
                    progress: bool = False, code: str = "blind") -> tuple[float, pd.DataFrame]:
    """The ``gamma`` whose x-step gains most over y on ``pairs``, and the table of all: the blind x-step (code
    ``E(y)``), or with ``code="sharp"`` the non-blind one (code ``G(x, y)``).

    Shape:
        pairs: ``(x, y)`` each ``(1, 3, H, W)`` in [0, 1].
    """
    if not pairs:
        raise ValueError("calibrating the x-step needs at least one held-out pair")
    record_suffix(code)  # a bad code fails before any work
    rows = []
    for g in progress_bar(list(gammas), desc="calibrate x-step", disable=not progress):
        cfg = dataclasses.replace(base, gamma=float(g))
        gains = []
        for x, y in pairs:
            with torch.no_grad():
                k = estimator(y) if code == "blind" else model.encode(x, y)
            out = linear_xstep(model, y, k, config=cfg)
            gains.append(float(psnr(out, x) - psnr(y, x)))
        gains_a = np.array(gains)
        rows.append({"gamma": float(g), "gain_db": float(gains_a.mean()),
                     "worse_frac": float((gains_a < -WORSE_DB).mean()), "n": len(gains)})
    table = pd.DataFrame(rows)
    return float(table.loc[table["gain_db"].idxmax(), "gamma"]), table


def held_out_pairs(data: str | os.PathLike, profile: str, select: str = "textured",
                   n: int = 24) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``n`` pairs of the training photos the profile's estimator holds out: ``textured``, the ones whose sharp image
    has the largest gradient energy (the ladder's rule for its test images, applied to training photos), or
    ``spread``, evenly spread over them (the estimator's own check).

    Shape:
        each pair ``(x, y)``, ``(1, 3, H, W)``.
    """
    if select not in ("textured", "spread"):
        raise ValueError(f"select must be 'textured' or 'spread', got {select!r}")
    prof = get_profile(profile)
    cfg = ESTIMATOR_PROFILES[prof.name]
    pairs = resolve_pairs(data, "train", prof)
    _, held = split_by_photo(pairs, max(1, cfg.hold_out), n if select == "spread" else len(pairs))
    loaded = [(read_image(s), read_image(b)) for s, b in held]
    if select == "textured":
        energy = [gradient_energy(x) for x, _ in loaded]
        loaded = [loaded[i] for i in sorted(np.argsort(energy)[::-1][:n])]
    return [(to_batch(x), to_batch(y)) for x, y in loaded]


def calibrate_estimator_file(model: str | os.PathLike, data: str | os.PathLike, profile: str = "cpu",
                             base: LinearXStep = PRESET_XSTEP,
                             gammas: Sequence[float] = GAMMAS, select: str = "textured",
                             progress: bool = True, code: str = "blind") -> tuple[float, pd.DataFrame]:
    """Calibrate ``gamma`` for the kernel space ``model`` on its estimator's held-out training pairs of ``data``
    (:func:`held_out_pairs`) and write it into the estimator file's record (``xstep_gamma``, ``xstep_calibration``;
    with ``code="sharp"``, ``xstep_gamma_sharp`` and ``xstep_calibration_sharp``)."""
    suffix = record_suffix(code)
    path = estimator_path(model)
    est = CodeEstimator.load(path)
    ks = KernelSpace.load(model).eval()
    for p in ks.parameters():
        p.requires_grad_(False)
    pairs = held_out_pairs(data, profile, select)
    gamma, table = calibrate_gamma(ks, est, pairs, base, gammas, progress, code)
    record = dict(est.provenance or {})
    record.update({f"xstep_gamma{suffix}": gamma, f"xstep_calibration{suffix}": table.to_dict("records"),
                   f"xstep_calibration_select{suffix}": select, f"xstep_calibration_data{suffix}": str(data),
                   f"xstep_base{suffix}": dataclasses.asdict(base)})
    est.save(path, record)
    return gamma, table


def calibrated_xstep(base: LinearXStep, estimator: CodeEstimator | None, code: str = "blind") -> LinearXStep:
    """``base`` with the estimator's calibrated ``gamma`` where its record has one, else ``base`` unchanged. With
    ``code="sharp"``, the weight calibrated for codes from the sharp image, else the blind one."""
    record = getattr(estimator, "provenance", None) or {}
    gamma = record.get(f"xstep_gamma{record_suffix(code)}", record.get("xstep_gamma"))
    return base if gamma is None else dataclasses.replace(base, gamma=float(gamma))


def calibrated_xstep_for(model: str | os.PathLike, base: LinearXStep, code: str = "blind") -> LinearXStep:
    """:func:`calibrated_xstep` for the estimator beside a kernel space's file (``base`` when it has none)."""
    path = Path(estimator_path(model))
    return calibrated_xstep(base, CodeEstimator.load(path) if path.is_file() else None, code)


__all__ = ["CODES", "GAMMAS", "calibrate_estimator_file", "calibrate_gamma", "calibrated_xstep",
           "calibrated_xstep_for", "held_out_pairs", "record_suffix"]
