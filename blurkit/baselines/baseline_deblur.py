"""Deblurring image files with a trained baseline (SRN-Deblur or DeblurGAN-v2): ``blurkit baseline deblur``.

:func:`predict_views` adds the geometric self-ensemble at test time (:mod:`blurkit.deblur.self_ensemble`): the mean
of the network's estimates of the 8 flips and quarter turns of the input, each turned back. The papers do not use it,
nor does any table; ``--views 8`` turns it on. It lives here, not in :mod:`blurkit.baselines.baseline_train`, whose
source is part of every run's code fingerprint.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from blurkit.baselines.baseline_train import load_baseline, predict
from blurkit.data.images import read_image, write_image
from blurkit.deblur.self_ensemble import MAX_VIEWS, self_ensemble
from blurkit.errors import BlurkitError
from blurkit.progress import progress_bar
from blurkit.provenance import provenance, save_result


def check_views(views: int) -> int:
    """``views`` when it is a whole number of views from 1 to 8, else a one-line :class:`BlurkitError`."""
    if isinstance(views, bool) or not isinstance(views, int) or not 1 <= views <= MAX_VIEWS:
        raise BlurkitError(f"views must be a whole number from 1 (no self-ensemble) to {MAX_VIEWS}, got {views!r}")
    return views


@torch.no_grad()
def predict_views(net: nn.Module, blur: torch.Tensor, views: int = 1) -> torch.Tensor:
    """:func:`blurkit.baselines.baseline_train.predict` averaged over the first ``views`` flips and turns of
    ``blur`` (``views=1``: ``predict`` itself).

    Shape:
        ``(B, 1 or 3, H, W) -> (B, same C, H, W)``.
    """
    return self_ensemble(lambda b: predict(net, b), blur, views=check_views(views))


def deblur_with_baseline(run_or_checkpoint: str | os.PathLike | nn.Module, images: Sequence[str | os.PathLike],
                         out_dir: str | os.PathLike, device: str | None = None, skip_existing: bool = False,
                         progress: bool = True, threads: int | None = None, views: int = 1) -> pd.DataFrame:
    """Deblur image files with a trained baseline; write PNGs of the inputs' sizes and ``deblur_log.csv``.

    Grayscale inputs are expanded to RGB for the network and the estimate averaged back to one channel. Missing
    or unreadable inputs fail before any work starts. ``views`` > 1: :func:`predict_views`. Returns the log table
    (one row per image).
    """
    from blurkit.deblur.deblur_files import output_names

    check_views(views)
    if threads:
        torch.set_num_threads(threads)
    paths = [Path(p) for p in images]
    if not paths:
        raise BlurkitError("no input images given")
    if missing := [str(p) for p in paths if not p.is_file()]:
        raise BlurkitError(f"input image(s) not found: {', '.join(missing[:5])}")
    decoded = [read_image(p, mode="keep") for p in paths]
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    net = run_or_checkpoint if isinstance(run_or_checkpoint, nn.Module) else load_baseline(run_or_checkpoint)
    net = net.to(dev)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [str(Path(n).with_suffix(".png")) for n in output_names(paths)]
    if len(set(names)) < len(names):  # a.jpg and a.png side by side: keep the whole name
        names = [n if n.lower().endswith(".png") else n + ".png" for n in output_names(paths)]
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    base = {"model": getattr(net, "model_name", type(net).__name__),
            "checkpoint": "in-memory" if isinstance(run_or_checkpoint, nn.Module) else str(run_or_checkpoint),
            "views": views}
    for path, img, name in progress_bar(list(zip(paths, decoded, names)), desc="baseline deblur", unit="img",
                                disable=not progress):
        target = out / name
        row = {"input": str(path), "output": str(target), "height": img.shape[0], "width": img.shape[1]}
        if skip_existing and target.exists():
            rows.append({**row, "status": "skipped (exists)", "wall_s": 0.0})
            continue
        t0 = time.perf_counter()
        y = torch.from_numpy(img).permute(2, 0, 1)[None].float().to(dev)
        write_image(target, predict_views(net, y, views)[0].permute(1, 2, 0).cpu().numpy())
        rows.append({**row, "status": "done", "wall_s": time.perf_counter() - t0})
        _write_log(rows, out, base, net, start)
    return _write_log(rows, out, base, net, start)


def _write_log(rows: list[dict], out: Path, base: dict, net: nn.Module, start: float) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=["input", "output", "status", "height", "width", "wall_s"])
    record = provenance(config=getattr(net, "config", None), wall_time_s=time.perf_counter() - start, **base,
                        model_provenance=getattr(net, "provenance", None))
    save_result(table, "deblur_log", out, record)
    return table


__all__ = ["check_views", "deblur_with_baseline", "predict_views"]
