"""Experiment work folders as caches that notice when their inputs changed.

The experiments of :mod:`blurkit.experiments.baseline_report` keep kernel-space datasets and baseline runs under one work
folder and skip what is finished. When an input changes (a retrained kernel space makes other blur, so its dataset
and every baseline trained on it are out of date), the stale output is moved aside to ``<name>.stale`` (replacing an
older one) and made again, instead of being reused or mixed with new output. Outside a work folder the library
refuses such folders (:class:`~blurkit.errors.StaleError`) rather than moving a user's files.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Callable, TypeVar

from blurkit.data.pairs import Pair, pairs_sha256
from blurkit.errors import StaleError

T = TypeVar("T")


def set_aside(folder: str | os.PathLike, why: str) -> Path:
    """Move ``folder`` to ``<folder>.stale`` (an older one there is deleted); returns the new path."""
    folder = Path(folder)
    aside = folder.with_name(folder.name + ".stale")
    if aside.exists():
        shutil.rmtree(aside)
    folder.rename(aside)
    print(f"blurkit: {why}; set '{folder}' aside as '{aside.name}' and making it again", file=sys.stderr)
    return aside


def rebuilt(make: Callable[[], T], folder: str | os.PathLike) -> T:
    """``make()``; when it refuses ``folder`` as stale (made with other settings or model), set it aside and retry."""
    try:
        return make()
    except StaleError as exc:
        set_aside(folder, f"'{Path(folder).name}' is out of date ({exc})")
        return make()


def run_is_stale(checkpoint: Path, recorded_sha256: str | None, pairs: list[Pair]) -> bool:
    """Whether a finished run was trained on other data than ``pairs`` hold now.

    Compares the fingerprint the run recorded (:func:`blurkit.data.pairs.pairs_sha256`); runs from before fingerprints
    were recorded count as stale when any of their training files is newer than the checkpoint.
    """
    if recorded_sha256 is not None:
        return recorded_sha256 != pairs_sha256(pairs)
    made = checkpoint.stat().st_mtime
    return any(os.stat(p).st_mtime > made for pair in pairs for p in pair)
