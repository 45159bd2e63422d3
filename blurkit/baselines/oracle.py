"""Non-blind "oracle" deblurring references: the true convolution kernel is given, not estimated.

These are upper-bound style baselines for the blind methods: :func:`wiener` (regularised Wiener filter with a
Laplacian smoothness prior, :func:`skimage.restoration.wiener`) and :func:`richardson_lucy`
(:func:`skimage.restoration.richardson_lucy`). Both work per channel on float images in ``[0, 1]``.

Boundaries: the blurry image is padded by reflection (``numpy.pad(mode="symmetric")``) by the kernel size on
every side before deconvolving and cropped back afterwards, so the implicit periodic (Wiener, FFT) or zero
(Richardson-Lucy) boundary of the solvers lies outside the returned region, which reduces edge ringing.

:func:`kernel_deconvolution` is the linear x-step's solver with the exact kernel (torch): the ladder's ``oracle`` row;
:func:`exact_blur_deconvolution` the same solver through the synthesis' own blur, moving objects included (its
``oracle_exact`` row).
"""

from __future__ import annotations

import numpy as np
import torch
from skimage.restoration import richardson_lucy as _sk_rl
from skimage.restoration import wiener as _sk_wiener

from blurkit.data.kernels import convolve
from blurkit.deblur.linear_xstep import LinearXStep, deconvolve, linear_domain_deconvolution

#: Default Wiener balance (weight of the Laplacian regulariser relative to the data term). ``1e-2`` suits
#: 8-bit-quantised or lightly noisy images (noise sigma around 0.5-1 % of the range); use smaller values for
#: noise-free inputs and larger ones for noisy inputs.
DEFAULT_BALANCE = 1e-2


def check_kernel(kernel: np.ndarray) -> np.ndarray:
    """Validate a 2-D blur kernel and return it as float64 normalised to sum 1.

    Shape:
        kernel ``(kh, kw)``, non-negative in practice (small negative values are clipped to 0).
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2:
        raise ValueError(f"kernel must be 2-D, got shape {k.shape}")
    if k.size == 0:
        raise ValueError(f"kernel is empty, shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise ValueError("kernel contains NaN or infinite values")
    k = np.clip(k, 0.0, None)
    total = k.sum()
    if total <= 0:
        raise ValueError(f"kernel must have a positive sum after clipping negatives, got {total:g}")
    return k / total


def check_image(y: np.ndarray, name: str = "y") -> np.ndarray:
    """Validate a float image ``(H, W)`` or ``(H, W, C)`` with finite values; returns float64."""
    arr = np.asarray(y, dtype=np.float64)
    if arr.ndim not in (2, 3) or min(arr.shape[:2]) < 1:
        raise ValueError(f"{name} must be (H, W) or (H, W, C), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _per_channel(y: np.ndarray, kernel: np.ndarray, fn) -> np.ndarray:  # type: ignore[no-untyped-def]
    img = check_image(y)
    k = check_kernel(kernel)
    p = max(k.shape)
    chans = img[..., None] if img.ndim == 2 else img
    h, w = chans.shape[:2]
    out = np.empty_like(chans)
    for c in range(chans.shape[2]):
        padded = np.pad(chans[..., c], p, mode="symmetric")  # numpy repeats the reflection for tiny images
        res = fn(padded, k)
        out[..., c] = res[p : p + h, p : p + w]
    out = np.clip(out, 0.0, 1.0)
    return out[..., 0] if img.ndim == 2 else out


def wiener(y: np.ndarray, kernel: np.ndarray, balance: float | None = None) -> np.ndarray:
    """Regularised Wiener deconvolution with the known kernel (Laplacian prior), per channel.

    ``balance`` defaults to :data:`DEFAULT_BALANCE` (``1e-2``). Output clipped to ``[0, 1]``.

    Shape:
        y ``(H, W)`` or ``(H, W, C)``; kernel ``(kh, kw)``; out same shape as ``y``.
    """
    bal = DEFAULT_BALANCE if balance is None else float(balance)
    if not np.isfinite(bal) or bal <= 0:
        raise ValueError(f"balance must be a positive finite number, got {balance}")
    return _per_channel(y, kernel, lambda im, k: _sk_wiener(im, k, bal, clip=False))


def richardson_lucy(y: np.ndarray, kernel: np.ndarray, iterations: int = 30) -> np.ndarray:
    """Richardson-Lucy deconvolution with the known kernel, ``iterations`` multiplicative updates per channel.

    Output clipped to ``[0, 1]``.

    Shape:
        y ``(H, W)`` or ``(H, W, C)``; kernel ``(kh, kw)``; out same shape as ``y``.
    """
    if int(iterations) != iterations or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations}")
    n = int(iterations)
    return _per_channel(y, kernel, lambda im, k: _sk_rl(np.clip(im, 0.0, None), k, num_iter=n, clip=False))


def kernel_deconvolution(y: torch.Tensor, kernel: np.ndarray | torch.Tensor,
                         config: LinearXStep = LinearXStep(outer=1, gamma=0.1, robust=True)) -> torch.Tensor:
    """Non-blind deconvolution with the true kernel and the x-step's own prior and solver.

    The same IRLS / conjugate-gradient solve as :func:`blurkit.deblur.linear_xstep.linear_xstep` (hyper-Laplacian
    prior, ``config``'s weights), with the exact convolution of :func:`blurkit.data.kernels.convolve` in place of
    the linearised F: the ceiling of that x-step when the blur is known exactly.

    Shape:
        y ``(B, C, H, W)`` in [0, 1], kernel ``(kh, kw)`` -> ``(B, C, H, W)`` in [0, 1].
    """
    k = torch.as_tensor(check_kernel(np.asarray(kernel)), dtype=torch.float32)
    y = y.detach().float()
    return deconvolve(lambda v: convolve(v, k), y, y, config).clamp(0, 1)


def cell_kernel_deconvolution(y: torch.Tensor, kernels: np.ndarray | torch.Tensor, crf: str = "linear",
                              config: LinearXStep = LinearXStep(outer=1, gamma=0.1, robust=True)) -> torch.Tensor:
    """:func:`kernel_deconvolution` with a true kernel per square image cell, in the camera's linear domain.

    For the GOPRO/REDS-like domains, ``kernels`` are the camera PSFs of :func:`blurkit.data.true_kernels.pair_kernels`
    (one per ``H / cells`` px cell) and ``crf`` the domain's camera curve: y is linearised, deconvolved with every
    pixel's own cell kernel, and mapped back; with ``config.margin`` the scene is solved that many px beyond the crop
    (the edge cells' kernels blur it), as the x-step does. Moving objects and noise are not modelled, so this is the
    ceiling of the x-step with the camera's blur known, not a perfect inverse.

    Shape:
        y ``(1, C, H, W)`` in [0, 1] with H = W a multiple of ``cells``, kernels ``(cells, cells, S, S)`` ->
        ``(1, C, H, W)`` in [0, 1].
    """
    from blurkit.space.basis_blur import cell_convolve

    k = torch.as_tensor(np.asarray(kernels), dtype=torch.float32)
    cells, h, w = k.shape[0], y.shape[-2], y.shape[-1]
    if k.ndim != 4 or k.shape[1] != cells or h != w or h % cells:
        raise ValueError(f"cell kernels of shape {tuple(k.shape)} do not tile a {h}x{w} image")

    def blur(u: torch.Tensor) -> torch.Tensor:
        return cell_convolve(u, k, h // cells, config.margin)

    return linear_domain_deconvolution(y, blur, config.margin, crf, lambda a, t, u0: deconvolve(a, t, u0, config))


def exact_blur_deconvolution(y: torch.Tensor, params: dict, domain: str,
                             config: LinearXStep = LinearXStep(outer=1, gamma=0.1, robust=True)) -> torch.Tensor:
    """The x-step's solver through the exact blur of a synthetic dynamic pair (camera motion and moving objects,
    from the pair's recorded ``params``: :func:`blurkit.data.synthesis.exact_blur`), in the camera's linear domain.

    The scene is solved on the rendered region (the crop plus the renderer's margin, started from the edge-padded
    crop) with the data term on the crop only, then cropped. Only the noise is not modelled: this is the ceiling of
    the x-step when everything about the blur is known, the bound for any kernel model of the pair.

    Shape:
        y ``(1, C, H, H)`` in [0, 1] (the whole recorded crop) -> ``(1, C, H, H)`` in [0, 1].
    """
    from blurkit.data.domains import get_domain
    from blurkit.data.synthesis import exact_blur, render_margin

    crop = y.shape[-1]
    if y.ndim != 4 or y.shape[0] != 1 or y.shape[-2] != crop:
        raise ValueError(f"exact-blur deconvolution takes one square crop (1, C, H, H), got {tuple(y.shape)}")
    return linear_domain_deconvolution(y, exact_blur(params, domain, crop), render_margin(crop),
                                       get_domain(domain).crf, lambda a, t, u0: deconvolve(a, t, u0, config))
