"""What the synthesis recorded about the default test pairs: the true cell kernels and the blur parameters.

The ladder's ``oracle``, ``kernel_code`` and ``oracle_exact`` rows and the deblurring ceiling read the truth from here:
the recorded kernel of a uniform domain, or the camera PSF of every 32 px cell of a GOPRO/REDS-like pair
(:mod:`blurkit.data.true_kernels`), or the whole rendered motion of a dynamic pair. A test set whose manifest records
no such thing gives an empty dict, never an error, so those rows are skipped there.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from blurkit.data.default_data import default_dir
from blurkit.data.domains import get_domain
from blurkit.data.true_kernels import pair_kernels
from blurkit.errors import BlurkitError

ORACLE_CELL = 32  # px per cell of the oracle's camera PSFs (the kernel-head models' code grid)
ORACLE_KERNEL = 31  # side of its kernels (F's basis_size)


def _test_manifest(domain: str, profile: str) -> dict:
    """The manifest of a domain's default test set ({} when it cannot be read)."""
    try:
        return json.loads((default_dir(profile, domain, "test") / "manifest.json").read_text())
    except (OSError, ValueError, BlurkitError):
        return {}


def known_kernels(domain: str, profile: str, size: int = 128) -> dict[str, np.ndarray]:
    """The true cell kernels of the top-left ``size`` px crop of every default test pair of ``domain`` (name ->
    ``(cells, cells, S, S)``): the recorded kernel of a uniform domain (one cell), or the camera PSF of every 32 px
    cell of a GOPRO/REDS-like pair (:mod:`blurkit.data.true_kernels`; moving objects and noise are not in it).
    Empty when the test set records no blur parameters."""
    manifest = _test_manifest(domain, profile)
    try:
        dom = get_domain(manifest["domain"]["name"])
        full = int(manifest["size"])
        stride = full if dom.kind == "uniform" else ORACLE_CELL
        cells = 1 if dom.kind == "uniform" or size < ORACLE_CELL else size // ORACLE_CELL
        if size > full or (dom.kind != "uniform" and size >= ORACLE_CELL and size % ORACLE_CELL):
            return {}
        return {Path(pair["name"]).stem: pair_kernels(pair["params"], dom, full, stride, ORACLE_KERNEL)[:cells, :cells]
                for pair in manifest["pairs"]}
    except (OSError, ValueError, KeyError, TypeError, BlurkitError):
        return {}


def recorded_blur(domain: str, profile: str, size: int = 128) -> dict[str, dict]:
    """The recorded blur parameters of every default test pair of a dynamic ``domain`` (name -> ``params``) when
    the ladder deblurs whole pairs (``size`` equals the pairs' side); empty otherwise."""
    manifest = _test_manifest(domain, profile)
    try:
        if get_domain(manifest["domain"]["name"]).kind != "dynamic" or int(manifest["size"]) != size:
            return {}
        return {Path(pair["name"]).stem: pair["params"] for pair in manifest["pairs"]}
    except (OSError, ValueError, KeyError, TypeError, BlurkitError):
        return {}


__all__ = ["ORACLE_CELL", "ORACLE_KERNEL", "known_kernels", "recorded_blur"]
