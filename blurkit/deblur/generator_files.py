"""Generator checkpoints by name or path, and the files driver of the generator prior (``blurkit deblur --prior
generator``).

Checkpoints by name (:func:`resolve_generator`) are described in ``data_manifests/stylegan2_checkpoints.json``
(:func:`generator_manifest`, :func:`manifest_checkpoint_path`); :func:`deblur_generator_files` deblurs image files
one at a time with :func:`blurkit.deblur.generator_prior.deblur_generator`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch

from blurkit import paths
from blurkit.data.images import read_image, write_image
from blurkit.deblur.deblur_files import output_names
from blurkit.deblur.generator_config import GeneratorPriorConfig, generator_prior_config
from blurkit.deblur.generator_latents import gaussian_fit
from blurkit.deblur.psf import save_psf_png
from blurkit.errors import BlurkitError, ImageSizeError, UnknownNameError
from blurkit.files import atomic_path
from blurkit.generator.checkpoints import load_pretrained
from blurkit.generator.stylegan2 import StyleGAN2Generator
from blurkit.progress import progress_bar
from blurkit.provenance import provenance, save_result
from blurkit.space.kernel_space import KernelSpace

MANIFEST_FILE = "stylegan2_checkpoints.json"
LOG_COLUMNS = ["input", "output", "status", "wall_s", "final_loss", "guard"]


def generator_manifest() -> dict[str, dict]:
    """The entries of ``data_manifests/stylegan2_checkpoints.json`` by name."""
    path = Path(paths.MANIFEST_DIR) / MANIFEST_FILE
    try:
        data = json.loads(path.read_text())
        return {e["name"]: e for e in data["checkpoints"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BlurkitError(f"cannot read the generator manifest '{path}': {exc}") from None


def manifest_checkpoint_path(entry: dict) -> Path:
    """Where a manifest entry's file is expected: under ``$BLURKIT_DATA`` (``root: data``) or the package
    (``root: package``)."""
    root = paths.data_root() if entry["root"] == "data" else paths.PACKAGE_DIR
    return root / entry["file"]


def resolve_generator(name_or_path: str | os.PathLike, map_location: str | torch.device = "cpu") -> StyleGAN2Generator:
    """A generator from a checkpoint path (any format :func:`~blurkit.generator.checkpoints.load_pretrained` reads)
    or a manifest entry name (``ffhq-256``, ``text-cpu``); a missing file raises one line naming the entry and the
    path it is expected at."""
    text = os.fspath(name_or_path)
    if (isinstance(name_or_path, os.PathLike) or "/" in text or os.sep in text or text.endswith((".pt", ".pkl"))
            or Path(text).is_file()):
        return load_pretrained(Path(text).expanduser(), map_location)
    entries = generator_manifest()
    if text not in entries:
        raise UnknownNameError(f"unknown generator '{text}': give a checkpoint path or an entry of "
                               f"data_manifests/{MANIFEST_FILE} ({', '.join(entries)})")
    entry = entries[text]
    path = manifest_checkpoint_path(entry)
    if not path.is_file():
        raise BlurkitError(f"generator '{text}' (entry '{text}' of data_manifests/{MANIFEST_FILE}) is not at "
                           f"'{path}': {entry['get']}")
    return load_pretrained(path, map_location, manifest_entry=text)


def deblur_generator_files(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                           model: str | os.PathLike | KernelSpace, generator: str | os.PathLike | StyleGAN2Generator,
                           config: str | GeneratorPriorConfig = "fast", seed: int = 0, save_kernel: bool = False,
                           skip_existing: bool = False, progress: bool = True,
                           device: str | torch.device | None = None) -> pd.DataFrame:
    """``blurkit deblur --prior generator``: each input deblurred into ``out_dir`` (same name) and written when done.

    Like :func:`blurkit.deblur.deblur_files.deblur_files` (``deblur_log.csv`` with provenance, rewritten after every
    image; ``skip_existing`` to resume; ``save_kernel`` writes ``<name>.kernel.pt`` and, for codes, the PSF drawing),
    with a ``guard`` column. Missing, unreadable or wrongly sized inputs fail before any work starts.
    """
    from blurkit.deblur.generator_prior import deblur_generator  # it re-exports this module's names

    cfg = generator_prior_config(config)
    paths_in = [Path(p) for p in inputs]
    if not paths_in:
        raise BlurkitError("no input images given")
    missing = [str(p) for p in paths_in if not p.is_file()]
    if missing:
        raise BlurkitError(f"input image(s) not found: {', '.join(missing[:5])}")
    images = [read_image(p, mode="keep") for p in paths_in]
    gen = generator if isinstance(generator, StyleGAN2Generator) else resolve_generator(generator)
    bad = [f"'{p}' ({img.shape[0]}x{img.shape[1]})" for p, img in zip(paths_in, images)
           if img.shape[:2] != (gen.size, gen.size)]
    if bad:
        raise ImageSizeError(f"the generator makes {gen.size}x{gen.size} px images; these inputs differ: "
                             f"{', '.join(bad[:5])}")
    ks = model if isinstance(model, KernelSpace) else KernelSpace.load(model)
    if device is not None:
        ks, gen = ks.to(device), gen.to(device)
    dev = gen.device
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = output_names(paths_in)
    fit = gaussian_fit(gen, cfg.fit_samples, cfg.fit_seed)
    record = {"config": cfg.to_dict(), "seed": seed, "prior": "generator",
              "model": str(model) if not isinstance(model, KernelSpace) else "in-memory",
              "generator": str(generator) if not isinstance(generator, StyleGAN2Generator) else "in-memory",
              "model_provenance": ks.provenance, "generator_provenance": gen.provenance}
    rows: list[dict] = []
    start = time.perf_counter()

    def write_log() -> pd.DataFrame:
        table = pd.DataFrame(rows, columns=LOG_COLUMNS)
        rec = provenance(config=record["config"], seed=seed, wall_time_s=time.perf_counter() - start,
                         **{k: v for k, v in record.items() if k not in ("config", "seed")})
        save_result(table, "deblur_log", out, rec)
        return table

    for i, (path, img, name) in enumerate(progress_bar(list(zip(paths_in, images, names)), desc="deblur", unit="img",
                                                       disable=not progress)):
        target = out / name
        if skip_existing and target.exists():
            rows.append({"input": str(path), "output": str(target), "status": "skipped (exists)", "wall_s": 0.0,
                         "final_loss": float("nan"), "guard": ""})
            continue
        y = torch.from_numpy(img).permute(2, 0, 1)[None].float().to(dev)
        res = deblur_generator(ks, gen, y, cfg, seed=seed + i, progress=progress, fit=fit)
        write_image(target, res.x[0].permute(1, 2, 0).cpu().numpy())
        if save_kernel:
            with atomic_path(out / f"{name}.kernel.pt") as tmp:
                torch.save(res.k.cpu().clone(), tmp)
            if cfg.kernel_prior == "encoded":
                save_psf_png(str(out / f"{Path(name).stem}.psf.png"), ks, res.k, tuple(y.shape[-2:]))
        decision = res.guard[0]
        final = res.trace[res.trace.phase == "final"]
        rows.append({"input": str(path), "output": str(target), "status": "done", "wall_s": res.wall_s[0],
                     "final_loss": float(final["loss"].iloc[-1]),
                     "guard": "" if decision is None else decision.reason})
        write_log()
    return write_log()


__all__ = ["LOG_COLUMNS", "MANIFEST_FILE", "deblur_generator_files", "generator_manifest", "manifest_checkpoint_path",
           "resolve_generator"]
