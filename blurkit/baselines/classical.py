"""A classical MAP blind-deconvolution baseline (numpy/scipy only): ℓ0-gradient prior, coarse to fine.

Kernel estimation follows the ℓ0 sparse-gradient MAP scheme of Xu, Zheng & Jia, "Unnatural L0 Sparse
Representation for Natural Image Deblurring" (CVPR 2013) as simplified by Pan, Hu, Su & Yang, "Deblurring Text
Images via L0-Regularized Intensity and Gradient Prior" (CVPR 2014), without the intensity term:

* on the grayscale image (mean of channels), over an image pyramid (scale ``1/sqrt(2)`` per level, coarsest
  kernel about 5 px), alternate
  ``x <- argmin ||k*x - y||^2 + lam ||grad x||_0`` (half-quadratic splitting, FFT solves) and
  ``k <- argmin ||grad x * k - grad y||^2 + gamma ||k||^2`` (closed form in the Fourier domain), then
  crop ``k`` to its support, clip negatives, zero entries below ``threshold * max(k)`` and renormalise;
  ``lam`` decays geometrically; the kernel of one level, upsampled, starts the next;
* the final sharp image is a non-blind deconvolution of each channel with the estimated kernel: a
  hyper-Laplacian prior ``|grad x|^0.8`` (Krishnan & Fergus, NIPS 2009, half-quadratic splitting,
  ``final="hyper_laplacian"``), or a Wiener filter (``final="wiener"``, :func:`blurkit.baselines.oracle.wiener`).

Boundaries: every FFT solve works on the image padded by reflection by the kernel size and cross-faded into a
blurred periodic copy near the outer border (an "edge taper"), then cropped back. The method is deterministic;
``seed`` is accepted for interface symmetry with the learnt methods and does not change the result.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.transform import resize

from blurkit.baselines.oracle import check_image, wiener

#: Cheap settings for tests and quick looks (``blind_deconvolve(y, **PRESETS["fast"])``).
PRESETS: dict[str, dict[str, object]] = {
    "fast": {"iterations": 3, "final": "wiener"},
    "default": {"iterations": 8, "final": "hyper_laplacian"},
}
FINALS = ("hyper_laplacian", "wiener")


@dataclass
class ClassicalResult:
    """Sharp estimate ``x`` (same shape as the input, in ``[0, 1]``), ``kernel`` (``(ks, ks)``, >= 0, sum 1)."""

    x: np.ndarray
    kernel: np.ndarray
    wall_s: float


def _otf(k: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Real-FFT transfer function of kernel ``k`` centred at pixel (0, 0) of an image of ``shape``."""
    pad = np.zeros(shape)
    kh, kw = k.shape
    pad[:kh, :kw] = k
    pad = np.roll(pad, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    return np.fft.rfft2(pad)


def _grad_otfs(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Transfer functions of the circular forward differences of :func:`_grads` along x and y."""
    delta = np.zeros(shape)
    delta[0, 0] = 1.0
    gx, gy = _grads(delta)
    return np.fft.rfft2(gx), np.fft.rfft2(gy)


def _grads(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.roll(x, -1, axis=1) - x, np.roll(x, -1, axis=0) - x


def _pad_taper(y: np.ndarray, p: int) -> np.ndarray:
    """Reflect-pad by ``p`` and blend the border into a periodically blurred copy so the result wraps smoothly."""
    yp = np.pad(y, p, mode="symmetric")
    if p == 0:
        return yp
    smooth = ndimage.gaussian_filter(yp, sigma=max(p / 2.0, 1.0), mode="wrap")
    ramps = []
    for n, size in zip(y.shape, yp.shape):
        r = np.ones(size)
        t = 0.5 - 0.5 * np.cos(np.pi * (np.arange(p) + 0.5) / p)  # 0 -> 1 over the pad
        r[:p], r[size - p :] = t, t[::-1]
        ramps.append(r)
    wgt = ramps[0][:, None] * ramps[1][None, :]
    return wgt * yp + (1 - wgt) * smooth


def _l0_deconv(y: np.ndarray, k: np.ndarray, lam: float, beta_max: float = 1e5, kappa: float = 2.0) -> np.ndarray:
    """``argmin_x ||k*x - y||^2 + lam ||grad x||_0`` by half-quadratic splitting (periodic, on a padded y)."""
    fk = _otf(k, y.shape)
    fdx, fdy = _grad_otfs(y.shape)
    num0 = np.conj(fk) * np.fft.rfft2(y)
    den_k, den_d = np.abs(fk) ** 2, np.abs(fdx) ** 2 + np.abs(fdy) ** 2
    x, beta = y.copy(), 2.0 * lam
    while beta < beta_max:
        gx, gy = _grads(x)
        keep = gx**2 + gy**2 >= lam / beta
        gx, gy = gx * keep, gy * keep
        rhs = num0 + beta * (np.conj(fdx) * np.fft.rfft2(gx) + np.conj(fdy) * np.fft.rfft2(gy))
        x = np.fft.irfft2(rhs / (den_k + beta * den_d), s=y.shape)
        beta *= kappa
    return x


def _estimate_kernel(x: np.ndarray, y: np.ndarray, ks: int, gamma: float, threshold: float) -> np.ndarray:
    """Gradient-domain least squares for ``k`` (Fourier closed form), cropped, non-negative, thresholded, sum 1."""
    num, den = 0.0, 0.0
    for gx, gy in zip(_grads(x), _grads(y)):
        fx = np.fft.rfft2(gx)
        num = num + np.conj(fx) * np.fft.rfft2(gy)
        den = den + np.abs(fx) ** 2
    full = np.fft.irfft2(num / (den + gamma * den.mean()), s=x.shape)
    r = ks // 2
    k = np.roll(full, (r, r), axis=(0, 1))[:ks, :ks]
    return _clean_kernel(k, threshold)


def _clean_kernel(k: np.ndarray, threshold: float) -> np.ndarray:
    k = np.clip(k, 0.0, None)
    if k.max() <= 0:
        k = np.zeros_like(k)
        k[k.shape[0] // 2, k.shape[1] // 2] = 1.0
        return k
    k[k < threshold * k.max()] = 0.0
    # re-centre the kernel on its centre of mass (blind deconvolution is shift-ambiguous; keeps it in the box)
    cy, cx = ndimage.center_of_mass(k)
    c = (k.shape[0] - 1) / 2.0
    k = ndimage.shift(k, (round(c - cy), round(c - cx)), order=0, mode="constant")
    return k / k.sum()


def _resize_kernel(k: np.ndarray, ks: int) -> np.ndarray:
    out = np.clip(resize(k, (ks, ks), order=1, anti_aliasing=False, mode="constant"), 0.0, None)
    return _clean_kernel(out, 0.0) if out.sum() > 0 else _clean_kernel(np.zeros((ks, ks)), 0.0)


def _shrink(v: np.ndarray, weight: float, alpha: float) -> np.ndarray:
    """Per-pixel ``argmin_w weight |w|^alpha + 0.5 (w - v)^2`` for ``0 < alpha <= 1`` (Newton + zero check)."""
    a = np.abs(v)
    if alpha >= 1.0:
        return np.sign(v) * np.maximum(a - weight, 0.0)
    w = a.copy()
    for _ in range(8):  # Newton on f(w) = weight*alpha*w^(alpha-1) + w - a, started from w = a
        ws = np.maximum(w, 1e-8)
        f = weight * alpha * ws ** (alpha - 1) + ws - a
        df = weight * alpha * (alpha - 1) * ws ** (alpha - 2) + 1.0
        w = np.clip(ws - f / np.where(np.abs(df) < 1e-12, 1e-12, df), 0.0, a)
    e_w = weight * w**alpha + 0.5 * (w - a) ** 2
    return np.where(e_w < 0.5 * a**2, np.sign(v) * w, 0.0)


def hyper_laplacian_deconv(y: np.ndarray, kernel: np.ndarray, lam: float = 2e-3, alpha: float = 0.8) -> np.ndarray:
    """Non-blind ``argmin ||k*x - y||^2 + lam sum |grad x|^alpha`` per channel (half-quadratic, FFT solves).

    Shape:
        y ``(H, W)`` or ``(H, W, C)``; kernel ``(kh, kw)`` summing to 1; out same shape as ``y``, in ``[0, 1]``.
    """
    img = check_image(y)
    chans = img[..., None] if img.ndim == 2 else img
    p = max(kernel.shape)
    out = np.empty_like(chans)
    for c in range(chans.shape[2]):
        yp = _pad_taper(chans[..., c], p)
        fk = _otf(kernel, yp.shape)
        fdx, fdy = _grad_otfs(yp.shape)
        num0, den_k = np.conj(fk) * np.fft.rfft2(yp), np.abs(fk) ** 2
        den_d = np.abs(fdx) ** 2 + np.abs(fdy) ** 2
        # Krishnan & Fergus's schedule beta = 1 .. 256 (x 2 sqrt 2), rescaled to this data-term weight
        x, beta = yp.copy(), lam / 2.0
        while beta < 128.0 * lam:
            gx, gy = (_shrink(g, lam / (2 * beta), alpha) for g in _grads(x))
            rhs = num0 + beta * (np.conj(fdx) * np.fft.rfft2(gx) + np.conj(fdy) * np.fft.rfft2(gy))
            x = np.fft.irfft2(rhs / (den_k + beta * den_d), s=yp.shape)
            beta *= 2 * math.sqrt(2)
        out[..., c] = x[p : p + chans.shape[0], p : p + chans.shape[1]]
    out = np.clip(out, 0.0, 1.0)
    return out[..., 0] if img.ndim == 2 else out


def _num_levels(ks: int, side: int, levels: int | None) -> int:
    by_kernel = 1 + max(0, int(math.floor(math.log(ks / 5.0) / math.log(math.sqrt(2)))))
    by_image = 1 + max(0, int(math.floor(math.log(side / 8.0) / math.log(math.sqrt(2)))))
    n = min(by_kernel, by_image) if levels is None else int(levels)
    if n < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    return min(n, by_image)


def blind_deconvolve(
    y: np.ndarray,
    kernel_size: int = 21,
    iterations: int = 8,
    levels: int | None = None,
    final: str = "hyper_laplacian",
    seed: int = 0,
    progress: bool = False,
    lam: float = 4e-3,
    gamma: float = 1e-2,
    threshold: float = 0.05,
) -> ClassicalResult:
    """Estimate the blur kernel and sharp image from one blurry image (ℓ0-gradient MAP, coarse to fine).

    ``iterations`` alternations per pyramid level; ``levels`` defaults to the number that brings the kernel to
    about 5 px, and is capped so that the coarsest image keeps >= 8 px; ``lam`` is the initial ℓ0 weight
    (decays by 0.9 per iteration to ``1e-4``), ``gamma`` the kernel ridge weight relative to the mean gradient
    power, ``threshold`` the relative cut-off for small kernel values. See :data:`PRESETS` for cheap settings
    (``"fast"``: 3 iterations and a Wiener final step, about 0.5 s on 128 px RGB; default about 2-3 s).

    Shape:
        y ``(H, W)`` or ``(H, W, C)`` float in ``[0, 1]``, H, W >= 8; out ``x`` same shape,
        ``kernel`` ``(kernel_size, kernel_size)``.
    """
    t0 = time.perf_counter()
    img = check_image(y)
    if min(img.shape[:2]) < 8:
        raise ValueError(f"image must be at least 8x8 px, got shape {img.shape}")
    if int(kernel_size) != kernel_size or kernel_size < 3 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be an odd integer >= 3, got {kernel_size}")
    if int(iterations) != iterations or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations}")
    if final not in FINALS:
        raise ValueError(f"final must be one of {FINALS}, got {final!r}")
    ks, n_it = int(kernel_size), int(iterations)
    gray = img.mean(axis=-1) if img.ndim == 3 else img
    n_lev = _num_levels(ks, min(gray.shape), levels)
    k = None
    for lev in range(n_lev - 1, -1, -1):
        s = math.sqrt(0.5) ** lev
        ks_l = max(3, int(round(ks * s)) | 1) if lev else ks
        shape_l = (max(8, round(gray.shape[0] * s)), max(8, round(gray.shape[1] * s)))
        y_l = resize(gray, shape_l, order=1, anti_aliasing=True) if lev else gray
        k = _clean_kernel(np.pad(np.ones((1, 1)), ks_l // 2), 0.0) if k is None else _resize_kernel(k, ks_l)
        yp, lam_l = _pad_taper(y_l, ks_l), lam
        for _ in range(n_it):
            xp = _l0_deconv(yp, k, lam_l)
            k = _estimate_kernel(xp, yp, ks_l, gamma, threshold)
            lam_l = max(lam_l * 0.9, 1e-4)
        if progress:
            print(f"[classical] level {n_lev - lev}/{n_lev}: image {shape_l}, kernel {ks_l}")
    assert k is not None
    x = hyper_laplacian_deconv(img, k) if final == "hyper_laplacian" else wiener(img, k)
    return ClassicalResult(x=x.astype(np.float64), kernel=k, wall_s=time.perf_counter() - t0)
