"""A blind kernel from the blurry image alone: coarse-to-fine total-variation blind deconvolution.

After Perrone & Favaro, "Total Variation Blind Deconvolution: The Devil is in the Details" (CVPR 2014): minimise
``0.5 ||k * u - f||^2 + lam TV(u)`` by alternating one normalised gradient step on the scene u and one on the kernel
k, k projected onto the simplex (non-negative, unit sum) after each step; lam falls by ``lam_mult`` from scale to
scale of a pyramid whose kernel side shrinks by ``size_mult``, and each scale ends with the same steps on u alone.
u is ``size - 1`` px larger than f, so the blur is a valid convolution and the crop's border costs nothing.

A blind kernel is found up to a shift, while the ladder scores against the *middle* sub-frame of the exposure. For a
path traversed once, the middle of the exposure is the point that halves the kernel's mass along the path:
:func:`path_origin` finds it along the kernel's principal axis, and :func:`centre_kernel` moves it to the centre
(on the camera PSFs of the 16 reds-like ladder images it recovers the true origin on 13 of 16; the centroid, as
classical estimators centre, is off on 10 of 16). Written here, as a probe for the ``fast`` preset's kernel start
(docs/deblurring.md); no preset uses it yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as Fnn
from scipy import ndimage

from blurkit.space.basis_blur import cell_convolve


@dataclass(frozen=True)
class TVKernelConfig:
    """Settings of :func:`tv_blind_kernel` (the defaults are the paper's for noise-free images).

    Attributes:
        size: kernel side (odd, px); lam: TV weight at the finest scale; iters: steps per scale (and as many
            steps on u alone after them); lam_mult, lam_max: lam grows by ``lam_mult`` per coarser scale while it
            stays below ``lam_max``; size_mult: the kernel side shrinks by it per coarser scale, down to 3 px;
            step_u, step_k: each step's largest change, relative to the largest value of u or k;
            clean: taps below this share of the largest are dropped, and all but the heaviest connected blob;
            spread: a pull towards the kernel's centre: each kernel step's gradient gains
            ``spread * max|g| * r^2 / r_max^2``, r a tap's distance from the centre (0: off, the paper's method).
    """

    size: int = 31
    lam: float = 6e-4
    iters: int = 1000
    lam_mult: float = 1.9
    lam_max: float = 0.11
    size_mult: float = 1.1
    step_u: float = 5e-3
    step_k: float = 1e-3
    clean: float = 0.1
    spread: float = 0.0

    def __post_init__(self) -> None:
        if self.size < 3 or self.size % 2 == 0:
            raise ValueError(f"TVKernelConfig.size must be odd and >= 3, got {self.size}")
        if not (self.lam > 0 and self.iters >= 1 and self.lam_mult > 1 and self.size_mult > 1):
            raise ValueError("TVKernelConfig needs lam > 0, iters >= 1, lam_mult > 1 and size_mult > 1")
        if not self.spread >= 0:
            raise ValueError(f"TVKernelConfig.spread must be >= 0, got {self.spread}")


def tv_pyramid(side: int, cfg: TVKernelConfig) -> list[tuple[int, int, float]]:
    """``(image side, kernel side, lam)`` per scale, coarsest first; both sides odd."""
    levels = [(side, cfg.size, cfg.lam)]
    while levels[-1][1] > 3 and levels[-1][2] * cfg.lam_mult < cfg.lam_max:
        s, ks, lam = levels[-1]
        nk = round(ks / cfg.size_mult)
        nk = max(3, min(nk - (1 - nk % 2), ks - 2))  # odd, and at least 2 px smaller
        ns = round(s * nk / ks)
        levels.append((ns - (1 - ns % 2), nk, lam * cfg.lam_mult))
    return levels[::-1]


def valid_blur(u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The blur of the repo's convention (:func:`cell_convolve`), valid part only.

    Shape:
        u ``(1, C, H + S - 1, W + S - 1)``, k ``(S, S)`` -> ``(1, C, H, W)``.
    """
    return cell_convolve(u, k[None, None], 1 << 30, k.shape[-1] // 2)


def _tv(u: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    dx, dy = u[..., :-1, 1:] - u[..., :-1, :-1], u[..., 1:, :-1] - u[..., :-1, :-1]
    return torch.sqrt(dx * dx + dy * dy + eps * eps).sum()


def spread_weight(side: int) -> torch.Tensor:
    """``r^2 / r_max^2`` over an odd kernel grid, r the distance from the centre tap (0 there, 1 at the corners).

    Shape:
        ``(side, side)``.
    """
    r = torch.arange(side, dtype=torch.float32) - side // 2
    r2 = r[:, None] ** 2 + r[None, :] ** 2
    return r2 / r2.max().clamp_min(1.0)


def _steps(f: torch.Tensor, u: torch.Tensor, k: torch.Tensor, lam: float, cfg: TVKernelConfig,
           update_k: bool) -> tuple[torch.Tensor, torch.Tensor]:
    weight = spread_weight(k.shape[-1]) if update_k and cfg.spread > 0 else None  # one kernel side per call
    for _ in range(cfg.iters):
        u = u.detach().requires_grad_(True)
        (gu,) = torch.autograd.grad(0.5 * (valid_blur(u, k) - f).pow(2).sum() + lam * _tv(u), u)
        u = (u - cfg.step_u * u.max() / gu.abs().max().clamp_min(1e-30) * gu).detach()
        if update_k:
            kv = k.detach().requires_grad_(True)
            (gk,) = torch.autograd.grad(0.5 * (valid_blur(u, kv) - f).pow(2).sum(), kv)
            if weight is not None:
                gk = gk + cfg.spread * gk.abs().max() * weight
            k = (kv - cfg.step_k * kv.max() / gk.abs().max().clamp_min(1e-30) * gk).detach().clamp_min(0)
            k = k / k.sum().clamp_min(1e-30)
    return u, k


def _resize(t: torch.Tensor, side: int) -> torch.Tensor:
    return Fnn.interpolate(t, size=(side, side), mode="bicubic", align_corners=False, antialias=True)


def tv_blind_kernel(f: torch.Tensor, cfg: TVKernelConfig = TVKernelConfig()) -> torch.Tensor:
    """The raw blind kernel of a square image in the blur's linear domain (not cleaned, not centred).

    Shape:
        f ``(1, C, H, H)`` -> ``(size, size)``, non-negative with unit sum.
    """
    if f.ndim != 4 or f.shape[0] != 1 or f.shape[-1] != f.shape[-2]:
        raise ValueError(f"tv_blind_kernel takes one square image (1, C, H, H), got {tuple(f.shape)}")
    if f.shape[-1] < 2 * cfg.size:
        raise ValueError(f"a {cfg.size} px kernel needs an image of at least {2 * cfg.size} px, got {f.shape[-1]}")
    f = f.detach().float()
    u = k = None
    with torch.enable_grad():
        for side, ks, lam in tv_pyramid(f.shape[-1], cfg):
            fs = f if side == f.shape[-1] else _resize(f, side)
            if u is None:
                u, k = Fnn.pad(fs, (ks // 2,) * 4, mode="replicate"), torch.full((ks, ks), 1.0 / ks**2)
            else:
                u = _resize(u, side + ks - 1)
                k = _resize(k[None, None], ks)[0, 0].clamp_min(0)
                k = k / k.sum().clamp_min(1e-30)
            u, k = _steps(fs, u, k, lam, cfg, update_k=True)
            u, _ = _steps(fs, u, k, lam, cfg, update_k=False)
    return k


def _strong_blobs(k: torch.Tensor, share: float) -> tuple[np.ndarray, np.ndarray, int]:
    """The kernel with the taps below ``share`` of the largest set to 0, the labels of its 8-connected blobs, and
    their number. Shape: k ``(S, S)`` -> ``(S, S)`` float64, ``(S, S)`` int, int."""
    a = k.detach().double().numpy().copy()
    a[a < share * a.max()] = 0
    labels, n = ndimage.label(a > 0, structure=np.ones((3, 3)))
    return a, labels, int(n)


def clean_kernel(k: torch.Tensor, share: float) -> torch.Tensor:
    """Drop the taps below ``share`` of the largest, keep the heaviest 8-connected blob, renormalise.

    Shape:
        k ``(S, S)`` -> ``(S, S)``.
    """
    a, labels, n = _strong_blobs(k, share)
    if n > 1:
        mass = ndimage.sum(a, labels, range(1, n + 1))
        a[labels != 1 + int(np.argmax(mass))] = 0
    return torch.from_numpy(a / a.sum()).to(k.dtype)


def path_origin(k: torch.Tensor) -> tuple[float, float]:
    """The point that halves the kernel's mass along its principal axis: the middle of the exposure for a path
    traversed once (row, column; the mass-weighted mean of the taps within 0.75 px of that projection)."""
    a = k.detach().double().numpy()
    rows, cols = np.indices(a.shape)
    w, p = a.ravel(), np.stack([rows.ravel(), cols.ravel()], 1).astype(float)
    mean = (w[:, None] * p).sum(0) / w.sum()
    d = p - mean
    cov = (w[:, None, None] * d[:, :, None] * d[:, None, :]).sum(0) / w.sum()
    s = d @ np.linalg.eigh(cov)[1][:, -1]
    order = np.argsort(s, kind="stable")
    middle = order[min(len(order) - 1, int(np.searchsorted(np.cumsum(w[order]) / w.sum(), 0.5)))]
    near = np.abs(s - s[middle]) <= 0.75
    r, c = (w[near, None] * p[near]).sum(0) / w[near].sum()
    return float(r), float(c)


def shift_kernel(k: torch.Tensor, row: float, col: float) -> torch.Tensor:
    """Move the point (row, col), rounded, to the kernel's centre; taps pushed out are dropped, then renormalised.

    Shape:
        k ``(S, S)`` -> ``(S, S)``.
    """
    n, half = k.shape[-1], k.shape[-1] // 2
    dr, dc = half - int(round(row)), half - int(round(col))
    out = torch.zeros_like(k)
    out[max(0, dr):min(n, n + dr), max(0, dc):min(n, n + dc)] = \
        k[max(0, -dr):min(n, n - dr), max(0, -dc):min(n, n - dc)]
    return out / out.sum().clamp_min(1e-30)


def centre_kernel(k: torch.Tensor) -> torch.Tensor:
    """:func:`shift_kernel` to :func:`path_origin`. Shape: ``(S, S)`` -> ``(S, S)``."""
    return shift_kernel(k, *path_origin(k))


def kernel_blobs(k: torch.Tensor, share: float) -> int:
    """The number of 8-connected blobs of the taps at or above ``share`` (> 0) of the largest, the blobs
    :func:`clean_kernel` chooses among: 1 for a clean path. Shape: k ``(S, S)``."""
    return _strong_blobs(k, share)[2]


def blind_estimate(y: torch.Tensor, crf: str | Callable[[torch.Tensor], torch.Tensor] | None,
                   cfg: TVKernelConfig = TVKernelConfig()) -> tuple[torch.Tensor, int]:
    """The blind kernel of a blurry image and the raw estimate's :func:`kernel_blobs` before cleaning: y is
    linearised (by the camera curve named ``crf``, or by a function such as a kernel space's tone curve, or not at
    all for None), made grey, estimated, cleaned, centred.

    Shape:
        y ``(1, C, H, H)`` in [0, 1] -> kernel ``(size, size)``.
    """
    from blurkit.data.crf import CRF

    to_linear = CRF(crf).inverse if isinstance(crf, str) else crf
    lin = y.detach().float() if to_linear is None else to_linear(y.detach().float())
    raw = tv_blind_kernel(lin.mean(1, keepdim=True), cfg)
    return centre_kernel(clean_kernel(raw, cfg.clean)), kernel_blobs(raw, cfg.clean)


def blind_kernel(y: torch.Tensor, crf: str | Callable[[torch.Tensor], torch.Tensor] | None,
                 cfg: TVKernelConfig = TVKernelConfig()) -> torch.Tensor:
    """The kernel of :func:`blind_estimate`. Shape: y ``(1, C, H, H)`` in [0, 1] -> ``(size, size)``."""
    return blind_estimate(y, crf, cfg)[0]


__all__ = ["TVKernelConfig", "blind_estimate", "blind_kernel", "centre_kernel", "clean_kernel", "kernel_blobs",
           "path_origin", "shift_kernel", "spread_weight", "tv_blind_kernel", "tv_pyramid", "valid_blur"]
