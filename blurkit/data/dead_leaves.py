"""Dead leaves: procedural sharp images with the edge and scale statistics of natural photos.

The dead leaves model (Matheron 1968; Lee, Mumford and Huang 2001) stacks opaque disks, each new one *behind* those
already drawn, until the image is covered. Radii follow ``p(r) ∝ r^-3`` between ``r_min`` and ``r_max``, which makes
the image statistics scale invariant, as in photos; Achddou et al. (2021) train restoration networks on such images.
Here every leaf also carries a seeded texture, so that the images hold the fine detail that deblurring must recover:
a linear shading, and with probability ``stripe_prob`` a sinusoidal grating of 2-16 px period. Colours are drawn
from a palette (for instance pixels of the training photos, which gives their colour statistics without their
content) or uniformly in RGB. Leaves are drawn at :data:`SUPERSAMPLE` x the size and box-filtered down
(anti-aliased edges).

They serve as extra sharp sources for any synthesis: ``blurkit data dead-leaves -o DIR`` then
``blurkit data synth --domain reds-like --from DIR/sharp ...``. An image's randomness depends only on
``(seed, index)``; the folder appears whole or not at all.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from blurkit.data.images import write_image
from blurkit.errors import BlurkitError
from blurkit.files import new_folder
from blurkit.progress import progress_bar
from blurkit.provenance import provenance, timed, write_json

SUPERSAMPLE = 2  # leaves are drawn at this multiple of the size, then box-filtered down
MIN_SIZE = 16
COVERED = 0.999  # once this share of the pixels is covered, the rest shows the last (rearmost) leaf
_DOMAIN = zlib.crc32(b"dead-leaves")


@dataclass(frozen=True)
class LeafConfig:
    """How leaves are drawn. Radii in output pixels.

    ``shading`` is the largest change of a leaf's intensity across its radius; ``stripe_contrast`` the largest
    amplitude of its grating.
    """

    r_min: float = 1.0
    r_max: float = 96.0
    shading: float = 0.15
    stripe_prob: float = 0.3
    stripe_contrast: float = 0.25
    max_leaves: int = 200_000

    def __post_init__(self) -> None:
        if not 0 < self.r_min < self.r_max:
            raise BlurkitError(f"need 0 < r_min < r_max, got r_min={self.r_min}, r_max={self.r_max}")
        if not 0 <= self.stripe_prob <= 1:
            raise BlurkitError(f"stripe_prob must lie in [0, 1], got {self.stripe_prob}")


def leaf_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of one image: depends only on the seed and the image's index."""
    return np.random.default_rng([seed, _DOMAIN, index])


def _radius(rng: np.random.Generator, r_min: float, r_max: float) -> float:
    """One radius of ``p(r) ∝ r^-3`` on ``[r_min, r_max]`` (inverse CDF)."""
    a, b = r_min ** -2, r_max ** -2
    return float((a - rng.random() * (a - b)) ** -0.5)


def _colour(rng: np.random.Generator, palette: np.ndarray | None) -> np.ndarray:
    if palette is None:
        return rng.random(3)
    return palette[int(rng.integers(len(palette)))].astype(np.float64)


def _texture(rng: np.random.Generator, dy: np.ndarray, dx: np.ndarray, r: float, cfg: LeafConfig) -> np.ndarray:
    """A leaf's intensity change at offsets ``(dy, dx)`` from its centre (supersampled px)."""
    t = rng.uniform(0, 2 * np.pi)
    tex = cfg.shading * rng.uniform(-1, 1) * (np.cos(t) * dx + np.sin(t) * dy) / r
    if rng.random() < cfg.stripe_prob:
        period = SUPERSAMPLE * np.exp(rng.uniform(np.log(2), np.log(16)))
        s = rng.uniform(0, 2 * np.pi)
        phase = 2 * np.pi * (np.cos(s) * dx + np.sin(s) * dy) / period
        tex = tex + cfg.stripe_contrast * rng.random() * np.sin(phase + rng.uniform(0, 2 * np.pi))
    return tex


def dead_leaves(size: int, rng: np.random.Generator, config: LeafConfig = LeafConfig(),
                palette: np.ndarray | None = None) -> np.ndarray:
    """One dead-leaves image.

    Shape:
        palette ``(K, 3)`` float in [0, 1] or None; out ``(size, size, 3)`` float32 in [0, 1].
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < MIN_SIZE:
        raise BlurkitError(f"size must be an integer >= {MIN_SIZE}, got {size!r}")
    if palette is not None and (palette.ndim != 2 or palette.shape[1] != 3 or len(palette) == 0):
        raise BlurkitError(f"palette must have shape (K, 3) with K >= 1, got {tuple(palette.shape)}")
    side = size * SUPERSAMPLE
    img = np.zeros((side, side, 3), np.float64)
    free = np.ones((side, side), bool)
    left, stop = side * side, side * side * (1 - COVERED)
    r_min, r_max = config.r_min * SUPERSAMPLE, config.r_max * SUPERSAMPLE
    for _ in range(config.max_leaves):
        if left <= stop:
            break
        r = _radius(rng, r_min, r_max)
        cy, cx = rng.uniform(-r, side + r, size=2)
        y0, y1 = max(int(cy - r), 0), min(int(np.ceil(cy + r)) + 1, side)
        x0, x1 = max(int(cx - r), 0), min(int(np.ceil(cx + r)) + 1, side)
        colour = _colour(rng, palette)
        if y0 >= y1 or x0 >= x1:
            continue
        dy = np.arange(y0, y1)[:, None] + 0.5 - cy
        dx = np.arange(x0, x1)[None, :] + 0.5 - cx
        mask = (dy * dy + dx * dx <= r * r) & free[y0:y1, x0:x1]
        if not mask.any():
            continue
        ys, xs = np.nonzero(mask)
        tex = _texture(rng, dy[ys, 0], dx[0, xs], r, config)
        img[ys + y0, xs + x0] = colour[None, :] + tex[:, None]
        free[ys + y0, xs + x0] = False
        left -= len(ys)
    img[free] = _colour(rng, palette)
    img = img.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE, 3).mean(axis=(1, 3))
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def photo_palette(images: list[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` pixel colours drawn from photos (about ``n / len(images)`` from each).

    Shape:
        images each ``(H, W, 3)`` float in [0, 1]; out ``(n, 3)`` float32.
    """
    if not images:
        raise BlurkitError("a palette needs at least one photo")
    per = -(-n // len(images))
    cols = [img.reshape(-1, img.shape[-1])[rng.integers(img.shape[0] * img.shape[1], size=per), :3] for img in images]
    return np.concatenate(cols)[:n].astype(np.float32)


def write_dead_leaves(out_dir: str | os.PathLike, n: int, size: int, seed: int = 0,
                      config: LeafConfig = LeafConfig(), palette: np.ndarray | None = None,
                      progress: bool = True) -> Path:
    """Write ``n`` dead-leaves images into ``out_dir/sharp`` (``00000.png`` ...) with ``provenance.json``.

    The folder is written beside the target and renamed into place, so it appears whole or not at all.

    Shape: each PNG ``(size, size, 3)``, 8-bit.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise BlurkitError(f"n must be an integer >= 1, got {n!r}")
    with new_folder(out_dir) as tmp:
        with timed() as t:
            for i in progress_bar(range(n), desc="dead leaves", unit="image", disable=not progress, leave=False):
                write_image(tmp / "sharp" / f"{i:05d}.png", dead_leaves(size, leaf_rng(seed, i), config, palette))
        settings = {"n": n, "size": size, "seed": seed, "supersample": SUPERSAMPLE, **asdict(config),
                    "palette": None if palette is None else f"{len(palette)} colours"}
        write_json(tmp / "provenance.json", provenance(config=settings, seed=seed, wall_time_s=t["wall_time_s"]))
    return Path(out_dir)
