"""Blur augmentation (paper Sec. 4.4): encoded kernels of one dataset on the images of another, and the
conventional motion-blur baseline.

* :func:`augment_dataset` encodes the kernel of a seeded random pair of dataset D1 and applies it to each sharp
  image of dataset D2: ``y_hat = F(x_hat, G(x, y))`` (the paper's "encoded REDS / GOPRO kernels" on FFHQ).
* :func:`motion_blur_dataset` blurs each image with a seeded random motion kernel. The paper used imgaug's
  ``MotionBlur``; imgaug does not install with NumPy 2 and albumentations is not a dependency, so this uses
  blurkit's own camera-shake generator (:func:`blurkit.data.kernels.motion_kernel`, convolved with reflect padding by
  :func:`blurkit.data.kernels.convolve`): the same role (a conventional synthetic motion blur), other kernels.

Both write the layout of :mod:`blurkit.space.blur_swap` (``sharp/``, ``blur/``, ``manifest.json``, ``provenance.json``)
with the same guarantees: deterministic for a seed, resumable, atomic writes, a folder of another job refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from blurkit.data.datasets import resolve_pairs
from blurkit.data.images import read_image
from blurkit.data.kernels import convolve, motion_kernel
from blurkit.data.pairs import image_names
from blurkit.errors import BlurkitError, DatasetLayoutError
from blurkit.profiles import Profile
from blurkit.space.blur_swap import (
    Compute,
    Job,
    OnBatch,
    check_args,
    data_id,
    groups_by,
    is_folder,
    load_model,
    names_hash,
    output_name,
    pick_device,
    source_pairs,
    split_profile,
    transfer_compute,
    write_pairs,
)
from blurkit.space.kernel_space import KernelSpace

MOTION_SIZES: tuple[int, int] = (13, 27)
"""Default range of motion-kernel sides (px, odd sides only), the range of :func:`blurkit.data.kernels.random_kernels`."""


def sharp_images(images_from: str | os.PathLike, split: str = "train", profile: str | Profile = "smoke") -> list[Path]:
    """Absolute paths of the sharp images of a dataset: a plain folder of images, or anything resolve_pairs takes.

    A folder with ``sharp/`` and ``blur/`` is a paired dataset (its sharp images are used); any other folder must
    hold images directly. An empty one raises :class:`DatasetLayoutError`.
    """
    path = Path(os.fspath(images_from)).expanduser()
    if is_folder(images_from) and not ((path / "sharp").is_dir() and (path / "blur").is_dir()):
        names = image_names(path)
        if not names:
            raise DatasetLayoutError(f"no image files in '{path}' (give a folder of images, or a paired folder "
                                     "with sharp/ and blur/)")
        return [(path / n).resolve() for n in names]
    images = [Path(s).resolve() for s, _ in resolve_pairs(images_from, split, profile)]
    if not images:
        raise DatasetLayoutError(f"dataset '{images_from}' ({split}) holds no images")
    return images


def augment_dataset(model: str | os.PathLike | KernelSpace, kernels_from: str | os.PathLike,
                    images_from: str | os.PathLike, out: str | os.PathLike, seed: int, split: str = "train",
                    profile: str | Profile = "smoke", limit: int | None = None, batch_size: int = 4,
                    progress: bool = True, device: str | torch.device | None = None,
                    on_batch: OnBatch | None = None) -> Path:
    """Blur every sharp image of ``images_from`` (D2) with the encoded kernel of a seeded pair of ``kernels_from`` (D1).

    Output i is D2's image i and ``F(x_hat_i, G(x_j, y_j))`` with pair j of D1 drawn from ``default_rng([seed, i])``
    (uniformly; ``split``/``profile`` apply to both datasets when they are names). The manifest entry of each output
    holds the source pair's paths and index, the target's path and the seed of the draw. Images are read as RGB.
    Returns ``out``.

    Shape:
        sources and targets any size; outputs have the target's size.
    """
    check_args(seed, limit, batch_size)
    pairs = source_pairs(kernels_from, split, profile)
    targets = sharp_images(images_from, split, profile)
    ks, model_rec = load_model(model)
    n = len(targets)
    jobs = []
    for i, target in enumerate(targets):
        j = int(np.random.default_rng([seed, i]).integers(0, len(pairs)))
        s, b = pairs[j]
        name = output_name(i, n)
        entry = {"name": name, "index": i, "rng": [int(seed), i], "source_index": j, "source_sharp": str(s),
                 "source_blur": str(b), "target_sharp": str(target)}
        jobs.append(Job(i, name, entry, (s, b, target)))
    settings = {"kernels_from": data_id(kernels_from), "images_from": data_id(images_from),
                "kernels_split": split_profile(kernels_from, split, profile),
                "images_split": split_profile(images_from, split, profile), "seed": int(seed),
                "n_sources": len(pairs), "sources_sha256": names_hash([s for s, _ in pairs]), "n_targets": n,
                "targets_sha256": names_hash(targets), "model_weights_sha256": model_rec["weights_sha256"]}
    dev = pick_device(device)
    return write_pairs(out, "blur-augment", settings, jobs, transfer_compute(ks, dev),
                       {"model": model_rec, "device": dev.type}, limit, batch_size, progress, on_batch)


def seeded_motion_kernel(seed: int, index: int, sizes: tuple[int, int] = MOTION_SIZES) -> np.ndarray:
    """The motion kernel of output ``index``: side drawn from the odd sides in ``sizes``, then the path, both from
    ``default_rng([seed, index])``.

    Shape:
        out ``(s, s)`` float32, non-negative, sums to 1, ``s`` odd in ``sizes``.
    """
    rng = np.random.default_rng([seed, index])
    return motion_kernel(_draw_side(rng, sizes), rng)


def _draw_side(rng: np.random.Generator, sizes: tuple[int, int]) -> int:
    return int(rng.choice([s for s in range(sizes[0], sizes[1] + 1) if s % 2 == 1]))


def _check_sizes(sizes: tuple[int, int]) -> tuple[int, int]:
    lo, hi = int(sizes[0]), int(sizes[1])
    if lo < 3 or hi < lo or not any(s % 2 for s in range(lo, hi + 1)):
        raise BlurkitError(f"kernel sizes must be a range 3 <= min <= max holding an odd side, got {lo}..{hi}")
    return lo, hi


def _motion_compute(device: torch.device) -> Compute:
    """Compute step for jobs whose inputs are ``(image path, seed, index, sizes)``: the image and its motion blur."""

    def compute(batch: list[Job]) -> list[tuple[np.ndarray, np.ndarray]]:
        imgs = [read_image(job.inputs[0]) for job in batch]
        kernels = [seeded_motion_kernel(*job.inputs[1:]) for job in batch]
        out: list = [None] * len(batch)
        for idx in groups_by([(imgs[k].shape, kernels[k].shape) for k in range(len(batch))]):
            x = torch.from_numpy(np.stack([imgs[k] for k in idx])).permute(0, 3, 1, 2).contiguous().to(device)
            y = convolve(x, torch.from_numpy(np.stack([kernels[k] for k in idx])).to(device))
            y = y.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
            for pos, k in enumerate(idx):
                out[k] = (imgs[k], y[pos])
        return out

    return compute


def motion_blur_dataset(images_from: str | os.PathLike, out: str | os.PathLike, seed: int, split: str = "train",
                        profile: str | Profile = "smoke", limit: int | None = None, batch_size: int = 8,
                        kernel_sizes: tuple[int, int] = MOTION_SIZES, progress: bool = True,
                        device: str | torch.device | None = None, on_batch: OnBatch | None = None) -> Path:
    """Blur every sharp image of ``images_from`` with its own seeded motion kernel (the conventional augmentation).

    Output i uses :func:`seeded_motion_kernel` ``(seed, i, kernel_sizes)``; its manifest entry records the target
    path, the kernel's seed ``[seed, i]`` and side, so the kernel can be regenerated. blurkit's generator stands in
    for imgaug's ``MotionBlur`` (see the module docstring). Returns ``out``.

    Shape:
        images any size ``(H, W)``; outputs ``(H, W, 3)``.
    """
    check_args(seed, limit, batch_size)
    sizes = _check_sizes(kernel_sizes)
    targets = sharp_images(images_from, split, profile)
    n = len(targets)
    jobs = []
    for i, target in enumerate(targets):
        side = _draw_side(np.random.default_rng([seed, i]), sizes)  # the side seeded_motion_kernel draws first
        name = output_name(i, n)
        entry = {"name": name, "index": i, "target_sharp": str(target), "kernel_seed": [int(seed), i],
                 "kernel_size": side}
        jobs.append(Job(i, name, entry, (target, int(seed), i, sizes)))
    settings = {"images_from": data_id(images_from), **split_profile(images_from, split, profile),
                "seed": int(seed), "n_targets": n, "targets_sha256": names_hash(targets), "kernel_sizes": list(sizes),
                "generator": "blurkit.data.kernels.motion_kernel"}
    dev = pick_device(device)
    return write_pairs(out, "motion-blur", settings, jobs, _motion_compute(dev), {"device": dev.type}, limit,
                       batch_size, progress, on_batch)


__all__ = ["MOTION_SIZES", "augment_dataset", "motion_blur_dataset", "seeded_motion_kernel", "sharp_images"]
