"""Provenance records for every artefact, and the results-folder convention.

A record holds the config, seed, git commit, package versions, device and wall time. Results go to
``results/<profile>/<name>.csv`` with ``<name>.meta.json`` beside it.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from blurkit.files import atomic_path, write_text
from blurkit.paths import REPO_DIR

# Folders whose changes leave a record clean: generated results and documentation.
_OUTPUTS = ("results", "docs")
_PACKAGES = ("blurkit", "torch", "numpy", "scipy", "scikit-image", "scikit-learn", "pandas", "pillow")


def git_commit(repo: Path = REPO_DIR) -> str:
    """The repository's HEAD commit, with ``+dirty`` when tracked files that decide the numbers differ; ``unknown``
    outside git.

    Changes under ``results/`` and ``docs/`` do not count: they are outputs and prose, and a notebook run writes its
    own executed copy under ``results/`` while it runs, which made every notebook's record ``+dirty``.
    """
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *(f":(exclude){d}" for d in _OUTPUTS)],
            cwd=repo, capture_output=True, text=True, timeout=10,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    """Versions of Python and the packages that decide the numbers."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def device_info() -> dict[str, Any]:
    """The machine the work ran on."""
    info: dict[str, Any] = {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count()}
    try:
        import torch

        from blurkit.precision import cpu_bf16_native, cpu_capability

        info["cpu_model"] = _cpu_model()
        info["cpu_capability"] = cpu_capability()
        info["cpu_bf16_native"] = cpu_bf16_native()
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return info


def _cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what :mod:`platform` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return _jsonable(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj))
    if isinstance(obj, np.generic):  # numpy scalars
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def provenance(config: Any = None, seed: int | None = None, wall_time_s: float | None = None, **extra: Any) -> dict:
    """A provenance record: config, seed, commit, versions, device, wall time, creation time and extras."""
    rec = {
        "config": _jsonable(config),
        "seed": seed,
        "git_commit": git_commit(),
        "versions": versions(),
        "device": device_info(),
        "wall_time_s": None if wall_time_s is None else round(float(wall_time_s), 3),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }
    rec.update(_jsonable(extra))
    return rec


@contextmanager
def timed() -> Iterator[dict]:
    """``with timed() as t: ...`` then ``t["wall_time_s"]``."""
    box: dict = {}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["wall_time_s"] = time.perf_counter() - start


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write JSON atomically (sorted keys, indent 2)."""
    return write_text(path, json.dumps(_jsonable(obj), indent=2, sort_keys=True) + "\n")


def save_result(table: "Any", name: str, results_dir: str | os.PathLike, record: dict) -> Path:
    """Write ``<results_dir>/<name>.csv`` (floats to 4 decimals) and ``<name>.meta.json`` atomically.

    Returns the CSV path.

    ``table`` is a pandas DataFrame. ``record`` is a :func:`provenance` record.
    """
    results_dir = Path(results_dir)
    meta = json.dumps(_jsonable(record), indent=2, sort_keys=True) + "\n"  # fails before anything is written
    csv = results_dir / f"{name}.csv"
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    write_text(results_dir / f"{name}.meta.json", meta)
    return csv


def save_figure(fig: "Any", name: str, results_dir: str | os.PathLike, record: dict, dpi: int = 110) -> Path:
    """Save a matplotlib figure as ``<name>.png`` with its provenance in ``<name>.meta.json``."""
    results_dir = Path(results_dir)
    meta = json.dumps(_jsonable(record), indent=2, sort_keys=True) + "\n"
    png = results_dir / f"{name}.png"
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png", metadata={"Software": None})
    write_text(results_dir / f"{name}.meta.json", meta)
    return png
