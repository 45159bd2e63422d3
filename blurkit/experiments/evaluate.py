"""Batch evaluation (``blurkit evaluate``, notebook 10): any methods on any folder of blurry (and sharp) images.

Data (:func:`eval_items`): a paired folder (``sharp/`` + ``blur/``), a blurry-only folder (``blur/`` alone, or the
images directly in it: no reference, so only outputs and timing), a default domain (``reds-like``, ...) or a real
dataset (``gopro``, ``reds``, ``hide``) with its split. Methods (:func:`parse_method`): ``identity``,
``ours[:PRESET]``, ``selfdeblur[:PRESET]``, ``classical``, ``srn:RUN_DIR``, ``deblurganv2:RUN_DIR``, or a
``(label, Method)`` pair from Python (the signature of :data:`blurkit.experiments.deblur_report.Method`).

Every (image, method) cell is its own small JSON file under ``OUT/cells/<method>/`` (with the output image under
``OUT/images/<method>/``), written atomically once the cell is done; a re-run computes only the missing cells.
Under torchrun each rank computes the cells of its shard (:mod:`blurkit.experiments.sharding`), and rank 0 merges
them into ``OUT/per_image.csv`` and ``OUT/summary.csv`` (:mod:`blurkit.experiments.evaluate_tables`) with their
provenance, and draws the best / median / worst figure.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from blurkit.data.datasets import resolve_pairs
from blurkit.data.images import check_same_size, read_image, write_image
from blurkit.data.pairs import image_names, pair_folder, unique_names
from blurkit.deblur.metrics import lpips_distance, lpips_status, psnr, ssim
from blurkit.errors import BlurkitError, DatasetLayoutError, UnknownNameError
from blurkit.experiments.deblur_report import (
    Method,
    method_blurry,
    method_classical,
    method_ours,
    method_selfdeblur,
    to_image,
    to_tensor,
)
from blurkit.experiments.evaluate_tables import PER_IMAGE_COLUMNS, evaluation_figure, summarise
from blurkit.experiments.sharding import Shard
from blurkit.files import sha256_file
from blurkit.profiles import get_profile
from blurkit.progress import progress_bar
from blurkit.provenance import provenance, save_figure, save_result, write_json

METHOD_HELP = "identity, ours[:PRESET], selfdeblur[:PRESET], classical, srn:RUN_DIR, deblurganv2:RUN_DIR"


@dataclass(frozen=True)
class Item:
    """One test image: its unique name, its blurry file and its sharp reference (None without one)."""

    name: str
    blur: Path
    sharp: Path | None


@dataclass(frozen=True)
class MethodSpec:
    """A method by label: the callable, whether it needs the kernel space, whether it runs on the GPU."""

    label: str
    fn: Method
    needs_model: bool = False
    on_device: bool = False


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` returns on rank 0: both tables and the files written."""

    per_image: pd.DataFrame
    summary: pd.DataFrame
    files: dict[str, Path]
    computed: int


def _blurry_only(folder: Path) -> list[Item] | None:
    sub = folder / "blur" if (folder / "blur").is_dir() else folder
    names = image_names(sub)
    return [Item("", sub / n, None) for n in names] or None


def eval_items(data: str | os.PathLike, split: str = "test", profile: str = "smoke",
               n: int | None = None) -> list[Item]:
    """The test images of ``data``, sorted by their unique names; the first ``n`` when given."""
    path = Path(str(data)).expanduser()
    if path.is_dir() and not ((path / "sharp").is_dir() and (path / "blur").is_dir()):
        items = _blurry_only(path)
        if items is None:
            raise DatasetLayoutError(f"'{path}' holds neither sharp/ + blur/, nor blur/, nor image files")
    else:
        pairs = pair_folder(path) if path.is_dir() else resolve_pairs(str(data), split, profile)
        items = [Item("", b, s) for s, b in pairs]
    names = unique_names([it.blur for it in items])
    items = sorted((Item(nm, it.blur, it.sharp) for nm, it in zip(names, items)), key=lambda it: it.name)
    if n is not None:
        if n < 1:
            raise BlurkitError(f"--n must be at least 1, got {n}")
        items = items[:n]
    return items


def _preset(spec: str, kind: str, default: str, known: Sequence[str]) -> str:
    preset = spec.partition(":")[2] or default
    if preset not in known:
        raise UnknownNameError(f"unknown {kind} preset '{preset}' in method '{spec}'; presets: {', '.join(known)}")
    return preset


def parse_method(spec: str, profile: str = "smoke") -> MethodSpec:
    """A method from its command-line spelling (see :data:`METHOD_HELP`); presets default to the profile's."""
    from blurkit.baselines.selfdeblur import SELFDEBLUR_PRESETS
    from blurkit.deblur.deblur_config import DEBLUR_PRESETS

    smoke = get_profile(profile).name == "smoke"
    kind, _, arg = spec.partition(":")
    if kind == "identity" and not arg:
        return MethodSpec(spec, method_blurry())
    if kind == "ours":
        preset = _preset(spec, "deblur", "smoke" if smoke else "fast", list(DEBLUR_PRESETS))
        return MethodSpec(spec, method_ours(preset, profile), needs_model=True, on_device=True)
    if kind == "selfdeblur":
        preset = _preset(spec, "SelfDeblur", "smoke" if smoke else "fast", sorted(SELFDEBLUR_PRESETS))
        return MethodSpec(spec, method_selfdeblur(preset), on_device=True)
    if kind == "classical" and not arg:
        return MethodSpec(spec, method_classical(**({"kernel_size": 7, "iterations": 1} if smoke else
                                                    {"kernel_size": 31})))
    if kind in ("srn", "deblurganv2"):
        from blurkit.experiments.baseline_report import method_baseline

        run = Path(arg).expanduser()
        if not arg or not (run / "model.pt").is_file():
            raise BlurkitError(f"method '{spec}' needs a finished run folder holding model.pt "
                               f"({kind}:RUN_DIR, made by `blurkit baseline train`)")
        return MethodSpec(spec, method_baseline(run))
    raise UnknownNameError(f"unknown method '{spec}'; choose from: {METHOD_HELP}")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "_"


def _specs(methods: Sequence[str | tuple[str, Method]], profile: str) -> list[MethodSpec]:
    if not methods:
        raise BlurkitError(f"no method given; choose from: {METHOD_HELP}")
    specs = [parse_method(m, profile) if isinstance(m, str) else MethodSpec(m[0], m[1], needs_model=True)
             for m in methods]
    slugs = [_slug(s.label) for s in specs]
    if len(set(slugs)) < len(slugs):
        raise BlurkitError(f"methods {', '.join(s.label for s in specs)} name the same method twice")
    return specs


def cell_path(out: Path, method: str, image: str) -> Path:
    """The JSON file of one (image, method) cell."""
    return out / "cells" / _slug(method) / f"{image.replace('/', '__')}.json"


def output_path(out: Path, method: str, image: str) -> Path:
    """The output image of one (image, method) cell (always PNG)."""
    return out / "images" / _slug(method) / f"{Path(image.replace('/', '__')).stem}.png"


def model_key(model: object, needed: bool) -> dict:
    """What the cells depend on of the ``ours`` methods' kernel space: its name or path and, where a method needs it,
    the hashes of its file and its code estimator's, so that another file under the same name (a shipped model
    renamed or retrained) makes the cells out of date. A KernelSpace object counts as ``in-memory``."""
    if not isinstance(model, (str, os.PathLike)):
        return {"model": "in-memory"}
    if not needed:
        return {"model": str(model)}
    from blurkit.experiments.bench_deblur import model_file_hashes

    return {"model": str(model), **model_file_hashes(str(model), with_estimator=True)}


def cell_key(settings: dict, item: Item) -> dict:
    """What a stored cell must have been computed from: the settings and the bytes of the image (and reference)."""
    files = [item.blur] + ([item.sharp] if item.sharp is not None else [])
    return {**settings, "files_sha256": [sha256_file(f)[:16] for f in files]}


def read_cell(path: Path, key: dict) -> dict | None:
    """A finished cell computed with ``key`` (:func:`cell_key`: model and its files' hashes, seed, profile, input
    bytes), else None."""
    try:
        cell = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return cell if cell.get("key") == key else None


def _metrics(out: np.ndarray, item: Item) -> dict[str, float | None]:
    if item.sharp is None:
        return {"psnr": None, "ssim": None, "lpips": None}
    x = read_image(item.sharp, mode="rgb")
    check_same_size(x, out, item.sharp, item.blur)
    return {"psnr": psnr(out, x), "ssim": ssim(out, x) if min(x.shape[:2]) >= 3 else None,
            "lpips": lpips_distance(out, x)}


def compute_cell(spec: MethodSpec, item: Item, index: int, model: object, seed: int,
                 device: str) -> tuple[dict, np.ndarray]:
    """Run one method on one image: the cell's row (``image, method, psnr, ssim, lpips, wall_s``) and its output.

    Shape: the method sees ``(1, 3, H, W)`` tensors of the blurry image and its reference (the blurry image again
    when there is none).
    """
    y = to_tensor(read_image(item.blur, mode="rgb"))
    ref = to_tensor(read_image(item.sharp, mode="rgb")) if item.sharp is not None else y
    dev = torch.device(device if spec.on_device else "cpu")
    t0 = time.perf_counter()
    x, wall = spec.fn(y.to(dev), model, seed + index, ref.to(dev))
    out = to_image(x.detach().cpu())
    row = {"image": item.name, "method": spec.label, **_metrics(out, item),
           "wall_s": float(wall or time.perf_counter() - t0)}
    return row, out


def _load_model(model: object, device: str) -> object:
    from blurkit.space.kernel_space import KernelSpace

    ks = model if isinstance(model, KernelSpace) else KernelSpace.load(str(model), map_location=device)
    ks = ks.to(device).eval()
    for p in ks.parameters():
        p.requires_grad_(False)
    return ks


def evaluate(data: str | os.PathLike, methods: Sequence[str | tuple[str, Method]], out: str | os.PathLike,
             model: object = "default", n: int | None = None, split: str = "test", profile: str = "smoke",
             seed: int = 0, progress: bool = True, shard: Shard | None = None) -> Evaluation | None:
    """Evaluate every method on every image of ``data`` into ``out``, computing only the missing cells.

    ``model``: the kernel space of the ``ours`` methods (a shipped name, a ``.pt`` path or a KernelSpace). Image
    ``i`` of the sorted list gets seed ``seed + i``, whatever the number of ranks. Under torchrun pass the
    :class:`Shard` of :func:`blurkit.experiments.sharding.join`: only rank 0 merges, and only it returns the
    :class:`Evaluation` (other ranks get None).
    """
    shard = shard or Shard()
    out = Path(out)
    prof = get_profile(profile).name
    specs = _specs(methods, prof)
    items = eval_items(data, split, prof, n)
    key = {**model_key(model, any(s.needs_model for s in specs)), "seed": seed, "profile": prof}
    keys = [cell_key(key, it) for it in items]
    missing = [(s, i, it) for s in specs for i, it in enumerate(items)
               if read_cell(cell_path(out, s.label, it.name), keys[i]) is None]
    shard.barrier()  # every rank has counted the missing cells before any is written
    todo = [(s, i, it) for s, i, it in missing if i % shard.world == shard.rank]  # the shard of rank::world
    ks = _load_model(model, shard.device) if any(s.needs_model for s, _, _ in todo) else None
    start = time.perf_counter()
    sums: dict[str, list[float]] = {}
    with progress_bar(total=len(todo), desc="evaluate", unit="cell", disable=not progress) as bar:
        for spec, i, item in todo:
            bar.set_description(f"evaluate {spec.label}", refresh=False)
            row, img = compute_cell(spec, item, i, ks, seed, shard.device)
            write_image(output_path(out, spec.label, item.name), img)
            write_json(cell_path(out, spec.label, item.name), {**row, "key": keys[i], "rank": shard.rank})
            if row["psnr"] is not None and np.isfinite(row["psnr"]):
                sums.setdefault(spec.label, []).append(row["psnr"])
            bar.set_postfix(mean_psnr=f"{np.mean(sums[spec.label]):.2f}" if spec.label in sums else "-",
                            refresh=False)
            bar.update(1)
    shard.barrier()
    if not shard.is_main:
        return None
    return _merge(out, items, specs, key, keys, data, split, n, len(missing), time.perf_counter() - start, shard)


def _merge(out: Path, items: list[Item], specs: list[MethodSpec], key: dict, keys: list[dict], data: object,
           split: str,
           n: int | None, computed: int, wall: float, shard: Shard) -> Evaluation:
    rows, missing = [], []
    for spec in specs:
        for item, item_key in zip(items, keys):
            cell = read_cell(cell_path(out, spec.label, item.name), item_key)
            if cell is None:
                missing.append(f"{spec.label} / {item.name}")
            else:
                rows.append({c: cell.get(c) for c in PER_IMAGE_COLUMNS})
    if missing:
        raise BlurkitError(f"{len(missing)} cell(s) missing after every rank finished, e.g. {missing[0]}; run again")
    per_image = pd.DataFrame(rows, columns=PER_IMAGE_COLUMNS)
    summary = summarise(per_image, _identity_psnr(items), [s.label for s in specs])
    ok, reason = lpips_status()
    record = provenance(config={"profile": key["profile"], "data": str(data), "split": split, "n": n,
                                "methods": [s.label for s in specs], "model": key["model"]},
                        seed=key["seed"], wall_time_s=wall, images=len(items), cells_computed_now=computed,
                        references=sum(it.sharp is not None for it in items), world_size=shard.world,
                        lpips={"available": ok, "reason": reason},
                        columns={"lpips": "empty where LPIPS is unavailable (see lpips.reason)",
                                 "psnr, ssim": "empty for images without a sharp reference"})
    files = {"per_image": save_result(per_image, "per_image", out, record),
             "summary": save_result(summary, "summary", out, record)}
    fig = draw(out, per_image)
    files["figure"] = save_figure(fig, "best_median_worst", out, record)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return Evaluation(per_image, summary, files, computed)


def draw(out: str | os.PathLike, per_image: pd.DataFrame) -> Figure:
    """The best / median / worst figure of an evaluation folder, from its stored outputs."""
    return evaluation_figure(per_image, lambda m, img: read_image(output_path(Path(out), m, img), mode="rgb"))


def _identity_psnr(items: list[Item]) -> dict[str, float]:
    """PSNR of each blurry input against its reference: the identity row every gain is measured from."""
    out = {}
    for it in items:
        if it.sharp is not None:
            out[it.name] = psnr(read_image(it.blur, mode="rgb"), read_image(it.sharp, mode="rgb"))
    return out


__all__ = ["Evaluation", "Item", "METHOD_HELP", "MethodSpec", "cell_key", "cell_path", "compute_cell", "draw",
           "eval_items", "evaluate", "output_path", "parse_method", "read_cell"]
