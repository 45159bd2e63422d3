"""Helpers that make small image files for tests (fixture trees, bad inputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import png
from PIL import Image


def rand_rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth-ish random uint8 RGB image."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(h // 4 + 2, w // 4 + 2, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(base).resize((w, h), Image.BILINEAR))


def save_png(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def save_png16(path: Path, arr: np.ndarray) -> Path:
    """Write a 16-bit PNG (grayscale (H, W) or RGB (H, W, 3)) with pypng."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = arr.shape[:2]
    planes = 1 if arr.ndim == 2 else arr.shape[2]
    writer = png.Writer(width=w, height=h, bitdepth=16, greyscale=planes == 1, alpha=False)
    with open(path, "wb") as f:
        writer.write(f, arr.reshape(h, w * planes).tolist())
    return path


def synthetic_pairs(root: Path, domain: str, n: int, size: int, photos: int = 3) -> Path:
    """A folder of ``n`` synthetic ``domain`` pairs of ``size`` px (seed 0, blur records in its manifest) cut from
    ``photos`` random 96 px photos written under ``root/photos``; pair i comes from photo i % photos."""
    from blurkit.data.default_data import folder_sources, synth_folder

    for i in range(photos):
        save_png(root / "photos" / f"p{i}.png", rand_rgb(96, 96, seed=i))
    return synth_folder(domain, n, size, 0, root / "pairs", sources=folder_sources(root / "photos"), progress=False)
