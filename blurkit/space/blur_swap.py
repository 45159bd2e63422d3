"""Blur-swapped datasets (paper Sec. 4.1.2) and the resumable writer shared by every blur-data command.

:func:`swap_dataset` gives every pair (x, y) of a dataset a new sharp partner: a seeded random sharp image x_hat of
the same dataset, blurred with the pair's encoded kernel, ``y_hat = F(x_hat, G(x, y))`` (Sec. 3.4). The kernel of
the source is fitted to the target's size by :meth:`KernelSpace.transfer`, so x and x_hat may differ in size.

Output layout, a paired folder that :func:`blurkit.data.datasets.resolve_pairs` reads like any other::

    out/sharp/00000.png   out/blur/00000.png   ...   (the same name in both; 5 digits or more)
    out/manifest.json     out/provenance.json

Determinism and resuming: output i depends only on the data, the model and ``(seed, i)`` (its random choices come
from ``numpy.random.default_rng([seed, i])``), and it is always computed inside the same fixed batch (indices
``[b * batch_size, (b + 1) * batch_size)``, computed whole even when some of them are done or beyond ``limit``), so
a straight run, a re-run and an interrupted-then-resumed run write byte-identical files on the same device. Every
image is written atomically (temporary file, then rename); an output is done when both its files exist, and a
re-run skips done outputs without rewriting them. ``manifest.json`` is rewritten atomically as the run goes (see
:data:`MANIFEST_EVERY_S`) and lists every done output; its ``settings`` identify the job, and a folder holding
another job is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from blurkit.data.datasets import _REAL_SPLITS, resolve_pairs
from blurkit.data.default_data import DEFAULT_DOMAINS
from blurkit.data.domains import get_domain
from blurkit.data.images import check_same_size, read_image, write_image
from blurkit.data.pairs import Pair, image_names, unique_names
from blurkit.data.sensor_noise import add_sensor_noise
from blurkit.errors import BlurkitError, DatasetLayoutError, StaleError
from blurkit.files import write_text
from blurkit.profiles import Profile, get_profile
from blurkit.progress import progress_bar
from blurkit.provenance import provenance, timed, write_json
from blurkit.space.kernel_space import KernelSpace

MANIFEST_VERSION = 1
MANIFEST_EVERY_S = 2.0
"""Least seconds between two manifest rewrites during a run (it lists every output, so rewriting it after every
batch of a 24,000-pair dataset would cost more than the blurring); it is always rewritten at the end, on errors and
on Ctrl-C, and a killed run loses nothing either: a resumed run lists every output whose two files exist."""
OnBatch = Callable[[list[str]], None]


@dataclass(frozen=True)
class Job:
    """One output of a blur-data job.

    Attributes:
        index: position in the full plan (fixes its name, its random choices and its batch).
        name: file name in ``out/sharp`` and ``out/blur``.
        entry: its manifest entry (plain JSON data).
        inputs: what the compute step reads (paths, seeds).
    """

    index: int
    name: str
    entry: dict
    inputs: tuple


Compute = Callable[[list[Job]], list[tuple[np.ndarray, np.ndarray]]]
"""Computes a batch of jobs: one ``(sharp (H, W, 3), blur (H, W, 3))`` float pair in [0, 1] per job, in order."""


def output_name(index: int, n: int) -> str:
    """File name of output ``index`` of ``n``: zero-padded to 5 digits, more when ``n`` needs them."""
    return f"{index:0{max(5, len(str(max(n - 1, 0))))}d}.png"


def check_args(seed: int, limit: int | None, batch_size: int) -> None:
    """Raise :class:`BlurkitError` for a negative seed, a limit below 1 or a batch size below 1."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise BlurkitError(f"--seed must be a non-negative integer, got {seed!r}")
    if limit is not None and limit < 1:
        raise BlurkitError(f"--limit must be at least 1, got {limit}")
    if batch_size < 1:
        raise BlurkitError(f"--batch-size must be at least 1, got {batch_size}")


def is_folder(name_or_dir: str | os.PathLike) -> bool:
    """True when :func:`resolve_pairs` reads ``name_or_dir`` as a folder (dataset names come first)."""
    text = os.fspath(name_or_dir)
    return text not in (*DEFAULT_DOMAINS, *_REAL_SPLITS) and Path(text).expanduser().is_dir()


def data_id(name_or_dir: str | os.PathLike) -> str:
    """How a dataset is recorded: the absolute path of a folder, else the name as given."""
    path = Path(os.fspath(name_or_dir)).expanduser()
    return str(path.resolve()) if is_folder(name_or_dir) else os.fspath(name_or_dir)


def split_profile(name_or_dir: str | os.PathLike, split: str, profile: str | Profile) -> dict:
    """The split and profile a dataset depends on: ``None`` for a folder (they do not change what it holds)."""
    if is_folder(name_or_dir):
        return {"split": None, "profile": None}
    return {"split": split, "profile": get_profile(profile).name}


def names_hash(paths: Sequence[Path]) -> str:
    """sha256 of the shortest names that tell the files apart: identifies a file list wherever it lives."""
    return hashlib.sha256("\n".join(unique_names(list(paths))).encode()).hexdigest()


def weights_hash(model: KernelSpace) -> str:
    """sha256 of a model's parameters and buffers (names, dtypes, shapes and bytes)."""
    h = hashlib.sha256()
    for key, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def load_model(model: str | os.PathLike | KernelSpace) -> tuple[KernelSpace, dict]:
    """The kernel space and its manifest record: name or path, weights sha256 and provenance sha256.

    A bad name or path raises :class:`BlurkitError` (from :meth:`KernelSpace.load`).
    """
    ks = model if isinstance(model, KernelSpace) else KernelSpace.load(model)
    name = "in-memory" if isinstance(model, KernelSpace) else os.fspath(model)
    prov = json.dumps(ks.provenance, sort_keys=True, default=str).encode()
    return ks, {"name": name, "weights_sha256": weights_hash(ks),
                "provenance_sha256": hashlib.sha256(prov).hexdigest()}


def pick_device(device: str | torch.device | None) -> torch.device:
    """``device``, else CUDA when present, else CPU."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def _tensor(imgs: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """Stack ``(H, W, C)`` float images. Shape: out ``(B, C, H, W)``."""
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous().to(device)


def groups_by(keys: Sequence[Any]) -> list[list[int]]:
    """Positions grouped by equal key, groups in order of first appearance (batches need one size)."""
    out: dict[Any, list[int]] = {}
    for pos, key in enumerate(keys):
        out.setdefault(key, []).append(pos)
    return list(out.values())


def transfer_compute(ks: KernelSpace, device: torch.device, noise: str | None = None) -> Compute:
    """Compute step for jobs whose inputs are ``(source_sharp, source_blur, target_sharp)`` paths.

    Returns ``(x_hat, F(x_hat, G(x, y)))`` per job; a batch is split into groups of equal source and target sizes.
    Images are read as RGB (a grayscale target is replicated to 3 channels). With ``noise`` (a domain name) each
    output gets that domain's sensor noise (:func:`blurkit.data.sensor_noise.add_sensor_noise`), drawn from a seed
    of the job's own ``rng`` entry, so it does not depend on the batch.
    """
    ks = ks.to(device).eval()

    def compute(batch: list[Job]) -> list[tuple[np.ndarray, np.ndarray]]:
        xs, ys, ts = [], [], []
        for job in batch:
            s, b, t = job.inputs
            x, y = read_image(s), read_image(b)
            check_same_size(x, y, s, b)
            xs.append(x)
            ys.append(y)
            ts.append(read_image(t))
        out: list[Any] = [None] * len(batch)
        with torch.inference_mode():
            for idx in groups_by([(xs[k].shape, ts[k].shape) for k in range(len(batch))]):
                y_hat = ks.transfer(_tensor([xs[k] for k in idx], device), _tensor([ys[k] for k in idx], device),
                                    _tensor([ts[k] for k in idx], device))
                y_hat = y_hat.clamp(0, 1).float().cpu()
                if noise is not None:
                    y_hat = torch.cat([add_sensor_noise(y_hat[pos:pos + 1], noise, job_generator(batch[k]))
                                       for pos, k in enumerate(idx)])
                y_hat = y_hat.permute(0, 2, 3, 1).numpy()
                for pos, k in enumerate(idx):
                    out[k] = (ts[k], y_hat[pos])
        return out

    return compute


def job_generator(job: Job) -> torch.Generator:
    """A torch generator seeded from the job's manifest ``rng`` entry (its noise draw, apart from its target draw)."""
    seed = int(np.random.default_rng([*job.entry["rng"], 1]).integers(0, 2**62))
    return torch.Generator().manual_seed(seed)


def _check_out(out: Path, kind: str, settings: dict) -> None:
    """Refuse an out folder that is a file, holds another job, or holds images without a manifest."""
    if out.exists() and not out.is_dir():
        raise BlurkitError(f"--out '{out}' is a file, not a folder")
    manifest = out / "manifest.json"
    if manifest.is_file():
        try:
            old = json.loads(manifest.read_text())
        except ValueError:
            raise BlurkitError(f"'{manifest}' is not valid JSON; delete '{out}' or choose another --out") from None
        if not isinstance(old, dict) or old.get("kind") != kind:
            what = old.get("kind") if isinstance(old, dict) and old.get("kind") else "another kind of dataset"
            raise BlurkitError(f"'{out}' holds {what}, not a {kind} dataset; choose another --out or delete it")
        before = old.get("settings", {})
        diff = [k for k in sorted(set(before) | set(settings)) if before.get(k) != settings.get(k)]
        if diff:
            said = "; ".join(f"{k} was {before.get(k)!r}, now {settings.get(k)!r}" for k in diff)
            raise StaleError(f"'{out}' holds a different {kind} ({said}); re-run with the same settings to "
                             "resume it, or choose another --out")
        return
    for sub in ("sharp", "blur"):
        if (out / sub).is_dir() and image_names(out / sub):
            raise BlurkitError(f"'{out}' already holds images in {sub}/ but no {kind} manifest.json; choose an "
                               "empty or new --out")


def _clean_tmp(folder: Path) -> None:
    """Remove temporary files an interrupted atomic write left behind (``.<name>.png.<random>.tmp``)."""
    for f in folder.glob(".*.tmp"):
        if f.is_file():
            f.unlink()


def write_pairs(out: str | os.PathLike, kind: str, settings: dict, jobs: Sequence[Job], compute: Compute,
                info: dict, limit: int | None = None, batch_size: int = 4, progress: bool = True,
                on_batch: OnBatch | None = None) -> Path:
    """Write the first ``limit`` jobs (all by default) into ``out/{sharp,blur}``, resuming a previous run.

    ``settings`` identify the job (an out folder whose manifest has other settings is refused); ``info`` is stored
    in the manifest and the provenance record without being compared. ``on_batch`` is called after every batch
    that wrote something, with the names it wrote. Returns ``out``.
    """
    out = Path(out)
    settings = json.loads(json.dumps(settings))
    _check_out(out, kind, settings)
    n_want = len(jobs) if limit is None else min(limit, len(jobs))
    for sub in ("sharp", "blur"):
        (out / sub).mkdir(parents=True, exist_ok=True)
        _clean_tmp(out / sub)
    present = set(image_names(out / "sharp")) & set(image_names(out / "blur"))
    done = {j.index for j in jobs if j.name in present}
    header = {"kind": kind, "format_version": MANIFEST_VERSION, "settings": settings, "seed": settings.get("seed"),
              "n_total": len(jobs), **info}
    _write_manifest(out, header, jobs, done)
    todo = sum(1 for j in jobs[:n_want] if j.index not in done)
    written, last_write = 0, time.monotonic()
    with timed() as t, progress_bar(total=todo, desc=kind, unit="pair", disable=not progress, leave=False) as bar:
        try:
            for start in range(0, n_want, batch_size):
                batch = list(jobs[start:start + batch_size])
                missing = {j.index for j in batch if j.index < n_want and j.index not in done}
                if not missing:
                    continue
                results = compute(batch)
                names = []
                for job, (sharp, blur) in zip(batch, results):
                    if job.index in missing:
                        write_image(out / "sharp" / job.name, sharp)
                        write_image(out / "blur" / job.name, blur)
                        done.add(job.index)
                        names.append(job.name)
                if time.monotonic() - last_write >= MANIFEST_EVERY_S:
                    _write_manifest(out, header, jobs, done)
                    last_write = time.monotonic()
                written += len(names)
                bar.update(len(names))
                if on_batch is not None:
                    on_batch(names)
        finally:  # also on an error or Ctrl-C: the manifest lists everything finished
            _write_manifest(out, header, jobs, done)
    write_json(out / "provenance.json",
               provenance(config=settings, seed=settings.get("seed"), wall_time_s=t["wall_time_s"], kind=kind,
                          written=written, skipped=n_want - todo, done=len(done), **info))
    return out


def _write_manifest(out: Path, header: dict, jobs: Sequence[Job], done: set[int]) -> None:
    pairs = [j.entry for j in jobs if j.index in done]
    manifest = {**header, "n": len(pairs), "complete": len(pairs) == len(jobs), "pairs": pairs}
    write_text(out / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def source_pairs(data: str | os.PathLike, split: str, profile: str | Profile) -> list[Pair]:
    """The pairs of a dataset with absolute paths; an empty one raises :class:`DatasetLayoutError`."""
    pairs = [(Path(s).resolve(), Path(b).resolve()) for s, b in resolve_pairs(data, split, profile)]
    if not pairs:
        raise DatasetLayoutError(f"dataset '{data}' ({split}) holds no pairs")
    return pairs


def swap_dataset(model: str | os.PathLike | KernelSpace, data: str | os.PathLike, out: str | os.PathLike,
                 seed: int, split: str = "train", profile: str | Profile = "smoke", limit: int | None = None,
                 batch_size: int = 4, progress: bool = True, device: str | torch.device | None = None,
                 on_batch: OnBatch | None = None, noise: str | None = None) -> Path:
    """Write the blur-swapped version of a dataset (Sec. 4.1.2): pair i becomes ``(x_hat, F(x_hat, G(x_i, y_i)))``.

    ``x_hat`` is the sharp image of pair ``t``, drawn from ``default_rng([seed, i])`` among the other pairs
    (``t != i`` when the dataset has more than one pair). Output i is named :func:`output_name` ``(i, n)``; its
    manifest entry holds the source pair's paths, the target's index and path, and the seed of its draw; the
    manifest also records the model (name, weights and provenance sha256) and the settings. ``limit`` writes only
    the first outputs (a later run with a larger limit continues). ``noise`` (a domain name; off in the paper and
    in Table 2) adds that domain's sensor noise to every output: F makes none, and a network trained on noiseless
    blurry images amplifies a real photo's noise (docs/baselines.md). Returns ``out``.

    Shape:
        sources ``(H, W)`` px, targets ``(H', W')`` px, any sizes; outputs have the target's size.
    """
    check_args(seed, limit, batch_size)
    pairs = source_pairs(data, split, profile)
    ks, model_rec = load_model(model)
    n = len(pairs)
    jobs = []
    for i, (s, b) in enumerate(pairs):
        t = i
        if n > 1:
            t = int(np.random.default_rng([seed, i]).integers(0, n - 1))
            t += t >= i  # skip the pair itself
        name = output_name(i, n)
        entry = {"name": name, "index": i, "rng": [int(seed), i], "source_sharp": str(s), "source_blur": str(b),
                 "target_index": t, "target_sharp": str(pairs[t][0])}
        jobs.append(Job(i, name, entry, (s, b, pairs[t][0])))
    settings = {"data": data_id(data), **split_profile(data, split, profile), "seed": int(seed), "n_sources": n,
                "sources_sha256": names_hash([s for s, _ in pairs]),
                "model_weights_sha256": model_rec["weights_sha256"]}
    if noise is not None:  # only when asked, so that folders made before the option stay valid
        settings["noise"] = get_domain(noise).name
    dev = pick_device(device)
    return write_pairs(out, "blur-swap", settings, jobs, transfer_compute(ks, dev, settings.get("noise")),
                       {"model": model_rec, "device": dev.type}, limit, batch_size, progress,
                       on_batch)


__all__ = ["Job", "MANIFEST_EVERY_S", "MANIFEST_VERSION", "check_args", "data_id", "is_folder", "job_generator",
           "load_model", "names_hash", "output_name", "source_pairs", "swap_dataset", "transfer_compute",
           "weights_hash", "write_pairs"]
