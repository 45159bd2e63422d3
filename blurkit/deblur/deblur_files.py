"""Deblur image files (``blurkit deblur``): one image at a time, each written as soon as it is finished.

A crash or Ctrl-C loses at most the image in progress: finished outputs are already on disk (written atomically),
and a rerun with ``skip_existing`` continues where the last one stopped. ``deblur_log.csv`` (one row per image:
input, output, wall time, final loss) and its ``.meta.json`` provenance are rewritten after every image.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch

from blurkit.data.images import read_image, write_image
from blurkit.data.pairs import unique_names
from blurkit.deblur.deblur_config import DeblurConfig, deblur_config
from blurkit.deblur.psf import save_psf_png
from blurkit.deblur.solver import deblur
from blurkit.errors import BlurkitError
from blurkit.files import atomic_path
from blurkit.progress import progress_bar
from blurkit.provenance import provenance, save_result
from blurkit.space.kernel_space import KernelSpace


def output_names(inputs: Sequence[Path]) -> list[str]:
    """Output file names: the inputs' names, with parent folders joined by ``__`` where names would clash."""
    return [n.replace("/", "__") for n in unique_names(inputs)]


def deblur_files(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                 model: str | os.PathLike | KernelSpace = "default", config: str | DeblurConfig = "fast",
                 seed: int = 0, save_kernel: bool = False, skip_existing: bool = False,
                 progress: bool = True, device: str | torch.device | None = None) -> pd.DataFrame:
    """Deblur each input file into ``out_dir`` (same name; grayscale stays grayscale); return the log table.

    ``device``: where the solver runs (the model is moved there, each image is sent there and its result brought
    back to the CPU before it is written); None keeps the model where it is (a loaded one is on the CPU).

    With ``save_kernel`` the code k is saved beside each image as ``<name>.kernel.pt`` (a ``(1, kdim, h, w)``
    tensor) and drawn as ``<stem>.psf.png``, the PSFs it applies on a 32 px grid (:mod:`blurkit.deblur.psf`); where
    the ``fast`` preset's fallback made the result, the PNG draws the one kernel it used instead. Missing or
    unreadable inputs fail before any work starts.
    """
    paths = [Path(p) for p in inputs]
    if not paths:
        raise BlurkitError("no input images given")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise BlurkitError(f"input image(s) not found: {', '.join(missing[:5])}")
    images = [read_image(p, mode="keep") for p in paths]  # decode all first: a bad file fails before any work
    cfg = deblur_config(config)
    ks = model if isinstance(model, KernelSpace) else KernelSpace.load(model)
    if device is not None:
        ks = ks.to(device)
    dev = next(ks.parameters()).device
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = output_names(paths)
    rows: list[dict] = []
    start = time.perf_counter()
    record_base = {"config": cfg.to_dict(), "seed": seed,
                   "model": str(model) if not isinstance(model, KernelSpace) else "in-memory",
                   "model_provenance": ks.provenance}
    for i, (path, img, name) in enumerate(progress_bar(list(zip(paths, images, names)), desc="deblur", unit="img",
                                               disable=not progress)):
        target = out / name
        if skip_existing and target.exists():
            rows.append({"input": str(path), "output": str(target), "status": "skipped (exists)",
                         "wall_s": 0.0, "final_loss": float("nan")})
            continue
        y = torch.from_numpy(img).permute(2, 0, 1)[None].float().to(dev)
        res = deblur(ks, y, cfg, seed=seed + i, progress=progress)
        write_image(target, res.x[0].permute(1, 2, 0).cpu().numpy())
        if save_kernel:
            with atomic_path(out / f"{name}.kernel.pt") as tmp:
                torch.save(res.k.cpu().clone(), tmp)
            save_psf_png(out / f"{Path(name).stem}.psf.png", ks, res.k, tuple(y.shape[-2:]),
                         kernel=res.first_psf)
        rows.append({"input": str(path), "output": str(target), "status": "done", "wall_s": res.wall_s[0],
                     "final_loss": float(res.trace["loss"].iloc[-1])})
        _write_log(rows, out, record_base, start)
    return _write_log(rows, out, record_base, start)


def _write_log(rows: list[dict], out: Path, record_base: dict, start: float) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=["input", "output", "status", "wall_s", "final_loss"])
    record = provenance(config=record_base["config"], seed=record_base["seed"],
                        wall_time_s=time.perf_counter() - start, model=record_base["model"],
                        model_provenance=record_base["model_provenance"])
    save_result(table, "deblur_log", out, record)
    return table
