"""Seeded uniform motion-blur kernels (random camera-shake trajectories) and convolution with them.

The kernels imitate the eight of Levin et al. (CVPR 2009): camera-shake paths rasterised into square kernels of
13-27 px. :func:`eight_kernels` is the fixed set used for Table 1 (same sizes as Levin's eight, drawn from our own
generator: they are *like* Levin's, not Levin's; :func:`blurkit.data.real_datasets.levin_kernels` loads the real file).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as Fnn

LEVIN_SIZES: tuple[int, ...] = (19, 17, 15, 27, 13, 21, 23, 23)
EIGHT_KERNELS_SEED = 2009


def shake_trajectory(rng: np.random.Generator, n_steps: int = 256, inertia: float = 0.85, pull: float = 0.02) -> np.ndarray:
    """A random camera-shake path: a random walk with inertia, pulled weakly back to the start.

    Shape:
        out ``(n_steps, 2)`` (x, y), centred at its mean, arbitrary scale.
    """
    pos = np.zeros((n_steps, 2))
    vel = rng.normal(size=2)
    vel /= np.linalg.norm(vel) + 1e-12
    for i in range(1, n_steps):
        vel = inertia * vel + (1 - inertia) * rng.normal(size=2) * 1.5 - pull * pos[i - 1] / max(i, 1) ** 0.5
        # occasional jerks, as in hand shake
        if rng.random() < 0.02:
            vel += rng.normal(size=2) * 2.0
        pos[i] = pos[i - 1] + vel
    return pos - pos.mean(axis=0)


def rasterize(path: np.ndarray, size: int) -> np.ndarray:
    """Splat a path into a ``size x size`` kernel with bilinear weights, centred on its mass, summing to 1.

    Shape:
        path ``(N, 2)`` in pixels relative to the kernel centre; out ``(size, size)`` float32.
    """
    k = np.zeros((size, size), dtype=np.float64)
    c = (size - 1) / 2.0
    x = path[:, 0] + c
    y = path[:, 1] + c
    x0 = np.floor(x).astype(int)
    y0 = np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + dx, y0 + dy
        ok = (xi >= 0) & (xi < size) & (yi >= 0) & (yi < size)
        np.add.at(k, (yi[ok], xi[ok]), w[ok])
    if k.sum() <= 0:
        k[size // 2, size // 2] = 1.0
    return (k / k.sum()).astype(np.float32)


def motion_kernel(size: int, rng: np.random.Generator, fill: float = 0.8) -> np.ndarray:
    """One random motion kernel whose path spans about ``fill * size`` pixels.

    Shape:
        out ``(size, size)`` float32, non-negative, sums to 1.
    """
    if size < 3 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and >= 3, got {size}")
    path = shake_trajectory(rng)
    extent = np.ptp(path, axis=0).max()
    path = path / max(extent, 1e-9) * (fill * (size - 2))
    # centre the bounding box so that the whole path fits
    path = path - (path.max(axis=0) + path.min(axis=0)) / 2.0
    return rasterize(path, size)


def random_kernels(n: int, seed: int, sizes: tuple[int, int] = (13, 27)) -> list[np.ndarray]:
    """``n`` seeded motion kernels with odd sizes drawn from ``sizes`` (inclusive range)."""
    rng = np.random.default_rng(seed)
    odd = [s for s in range(sizes[0], sizes[1] + 1) if s % 2 == 1]
    return [motion_kernel(int(rng.choice(odd)), rng) for _ in range(n)]


def eight_kernels(seed: int = EIGHT_KERNELS_SEED) -> list[np.ndarray]:
    """The fixed set of eight kernels for Table 1 (sizes of Levin et al.'s eight)."""
    rng = np.random.default_rng(seed)
    return [motion_kernel(s, rng) for s in LEVIN_SIZES]


def convolve(img: torch.Tensor, kernel: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Blur images with one kernel per batch item (or one shared kernel), reflect padding, same size out.

    Shape:
        img ``(B, C, H, W)``; kernel ``(kh, kw)`` or ``(B, kh, kw)``; out ``(B, C, H, W)``.
    """
    k = torch.as_tensor(kernel, dtype=img.dtype, device=img.device)
    if k.ndim == 2:
        k = k.expand(img.shape[0], *k.shape)
    b, c, h, w = img.shape
    kh, kw = k.shape[-2:]
    ph, pw = kh // 2, kw // 2
    mode = "reflect" if (h > ph and w > pw) else "replicate"
    x = Fnn.pad(img, (pw, kw - 1 - pw, ph, kh - 1 - ph), mode=mode)
    # grouped conv: one kernel per (batch, channel); conv2d is correlation, so flip for convolution
    weight = k.flip(-1, -2).repeat_interleave(c, dim=0).unsqueeze(1)
    out = Fnn.conv2d(x.reshape(1, b * c, *x.shape[-2:]), weight, groups=b * c)
    return out.reshape(b, c, h, w)
