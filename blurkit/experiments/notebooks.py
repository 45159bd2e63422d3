"""Running the numbered notebooks headless with papermill (``blurkit reproduce``).

Each notebook has a cell tagged ``parameters`` (``profile``, ``seed``, ``results_dir``); papermill injects the
values and writes the executed copy to ``<results_dir>/notebooks/``. The notebooks write their own tables and
figures (with provenance) into ``results_dir``.

Where a notebook runs without an injected ``results_dir`` (opened in Jupyter, or executed in place by nbval), it
asks :func:`results_folder`: ``$BLURKIT_RESULTS_DIR`` when set, else ``results/<profile>/``; the notebooks that
train baselines ask :func:`work_folder` for their cache (``$BLURKIT_WORK_DIR``, else ``runs/<profile>/baselines``).
``make test`` points both at a temporary folder, so a test run never writes into the checkout.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from blurkit.errors import BlurkitError, UnknownNameError
from blurkit.paths import NOTEBOOK_DIR, REPO_DIR, RESULTS_DIR
from blurkit.profiles import get_profile

_NB = re.compile(r"^(\d\d)_(.+)\.ipynb$")
RESULTS_ENV = "BLURKIT_RESULTS_DIR"
WORK_ENV = "BLURKIT_WORK_DIR"


def results_folder(profile: str, results_dir: str | os.PathLike | None = None) -> Path:
    """Where a notebook run writes its results: ``results_dir`` if given, else ``$BLURKIT_RESULTS_DIR``, else
    ``results/<profile>/`` of the repository."""
    if results_dir:
        return Path(results_dir)
    env = os.environ.get(RESULTS_ENV)
    return Path(env).expanduser() if env else RESULTS_DIR / get_profile(profile).name


def work_folder(profile: str, work_dir: str | os.PathLike | None = None) -> Path:
    """The resumable cache of the baseline notebooks (kernel-space datasets, trained baselines): ``work_dir`` if
    given, else ``$BLURKIT_WORK_DIR``, else ``runs/<profile>/baselines`` of the repository (git-ignored)."""
    if work_dir:
        return Path(work_dir)
    env = os.environ.get(WORK_ENV)
    return Path(env).expanduser() if env else REPO_DIR / "runs" / get_profile(profile).name / "baselines"


def use_threads(threads: int | None) -> int:
    """Set torch's intra-op thread count for the rest of the process, so that a notebook's ``threads`` parameter
    governs every step and not only the training steps that set it themselves (None: torch's default, unchanged).
    Returns the count in use. Results that depend on summation order (SelfDeblur's DIP) then repeat run to run."""
    import torch

    if threads is not None:
        if int(threads) < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()


def list_notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The numbered notebooks, in order."""
    return sorted(p for p in folder.glob("*.ipynb") if _NB.match(p.name))


def find_notebook(name: str, folder: Path = NOTEBOOK_DIR) -> Path:
    """Resolve ``00_data``, ``00`` or ``data`` to a notebook path."""
    for p in list_notebooks(folder):
        num, rest = _NB.match(p.name).groups()  # type: ignore[union-attr]
        if name in (p.stem, p.name, num, rest):
            return p
    known = ", ".join(p.stem for p in list_notebooks(folder)) or "(none)"
    raise UnknownNameError(f"unknown notebook '{name}'; choose one of: {known}, or all")


def parse_params(items: list[str]) -> dict:
    """``["threads=1", "models={\"a\": 1}", "name=x"]`` -> a dict; values parse as JSON, else stay strings."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise BlurkitError(f"notebook parameter '{item}' is not KEY=VALUE with KEY a Python name")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def run_notebook(path: Path, profile: str, results_dir: Path | None = None, seed: int = 0,
                 extra: dict[str, Any] | None = None, progress: bool = True) -> tuple[Path, float]:
    """Execute one notebook with papermill; returns (executed notebook path, wall seconds)."""
    import papermill as pm

    prof = get_profile(profile)
    results_dir = results_folder(prof.name, results_dir)
    out = results_dir / "notebooks" / path.name
    out.parent.mkdir(parents=True, exist_ok=True)
    params = {"profile": prof.name, "seed": seed, "results_dir": str(results_dir.resolve())}
    params.update(extra or {})
    start = time.perf_counter()
    pm.execute_notebook(str(path), str(out), parameters=params, cwd=str(path.parent), progress_bar=progress,
                        kernel_name="python3")
    return out, time.perf_counter() - start
