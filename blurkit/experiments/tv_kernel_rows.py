"""The ladder's rows that deconvolve y with its blind total-variation kernel directly: ``tv_kernel`` and
``tv_kernel_noguard``.

``tv_code`` (:mod:`blurkit.experiments.tv_rows`) turns the blind TV kernel of y into a code and deblurs through F.
These rows skip the code: y is linearised by the camera curve of the kernel space's training domain (not the test
data's: the method is blind to the data) and deconvolved with the one kernel by the set's hyper-Laplacian x-step,
the solver of the ``oracle`` row and of ``blurkit bench tolerance``
(:func:`blurkit.baselines.oracle.linear_domain_deconvolution`). Only the kernel space's tone curve (to linearise y
for the estimate), its training domain and its x-step are used; F and G are not.

Two settings come from training data, not the test images (docs/deblurring.md):
- the kernel's side is the *median* blur extent of the training domain's generator (:data:`TV_KERNEL_QUANTILE`,
  13 px for ``reds-like``), the side ``blurkit bench tv-calibration`` chose on held-out calibration pairs;
- ``tv_kernel`` returns y when the raw kernel has more than :data:`TV_KERNEL_MAX_BLOBS` blobs, the limit chosen on
  the same 24 calibration pairs through this solver (none worse) and checked on the next 24.

The two rows share one estimate per image in a process, and each reports the seconds the estimate took when made.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time

import torch

from blurkit.baselines.oracle import linear_domain_deconvolution
from blurkit.data.domains import DOMAINS, get_domain
from blurkit.data.kernel_extent import domain_extent
from blurkit.deblur.linear_xstep import XSTEP_MARGIN, LinearXStep, deconvolve
from blurkit.deblur.tv_kernel import TVKernelConfig, blind_estimate
from blurkit.experiments.deblur_report import Method
from blurkit.profiles import get_profile
from blurkit.space.basis_blur import cell_convolve
from blurkit.space.kernel_space import KernelSpace

TV_KERNEL_QUANTILE = 0.5  # the training domain's median blur extent sets the kernel's side
TV_KERNEL_MAX_BLOBS = 2  # held-out calibration pairs: +1.08 dB, none worse; the next 24: +0.82, 8 % worse
SMOKE_TV_KERNEL = TVKernelConfig(iters=3)
_MADE: dict[tuple, tuple[torch.Tensor, int, float]] = {}  # the latest estimates: key -> (x̂, blobs, seconds)
_KEPT = 64


def tv_kernel_settings(model: KernelSpace, profile: str) -> tuple[TVKernelConfig, str]:
    """The estimate's settings (its side from the training domain's median blur extent, at most F's side; F's side
    where the space records no known domain) and the camera curve the x-step linearises with (``linear`` then)."""
    base = SMOKE_TV_KERNEL if get_profile(profile).name == "smoke" else TVKernelConfig()
    side, domain = model.config.basis_size, model.training_domain
    if domain is None or domain not in DOMAINS:
        return dataclasses.replace(base, size=side), "linear"
    return dataclasses.replace(base, size=min(side, domain_extent(domain, TV_KERNEL_QUANTILE))), get_domain(domain).crf


def tv_kernel_row_settings(model_name: str, profile: str) -> tuple[TVKernelConfig, str]:
    """:func:`tv_kernel_settings` for the kernel space named ``model_name`` (a shipped name or a checkpoint path)."""
    return tv_kernel_settings(KernelSpace.load(model_name), profile)


def kernel_deconvolution(y: torch.Tensor, kernel: torch.Tensor, crf: str, xstep: LinearXStep) -> torch.Tensor:
    """Deconvolve y with one kernel for the whole image in the camera's linear domain, the unknown extended by
    :data:`XSTEP_MARGIN` px on every side (the x-step's own margin is not used).

    Shape:
        y ``(1, C, H, H)`` in [0, 1], kernel ``(S, S)`` -> ``(1, C, H, H)`` in [0, 1].
    """
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
        raise ValueError(f"the kernel must be square with an odd side, got shape {tuple(kernel.shape)}")
    one = kernel.detach().float().reshape(1, 1, *kernel.shape)
    step = dataclasses.replace(xstep, margin=0)
    return linear_domain_deconvolution(y, lambda u: cell_convolve(u, one, y.shape[-1], XSTEP_MARGIN), XSTEP_MARGIN,
                                       crf, lambda a, t, u0: deconvolve(a, t, u0, step))


def tv_kernel_deblur(model: KernelSpace, y: torch.Tensor, config: TVKernelConfig, crf: str,
                     xstep: LinearXStep) -> tuple[torch.Tensor, int, float]:
    """``(x̂, blobs, seconds)``: the blind TV kernel of y (linearised by F's tone curve, if F has one), then
    :func:`kernel_deconvolution`; made once per image and settings in a process (a second call returns the first
    call's results and seconds).

    Shape:
        y ``(1, 3, H, H)`` in [0, 1] -> x̂ ``(1, 3, H, H)``.
    """
    image = hashlib.sha256(y.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
    curve = model.F.tone  # None: y is estimated on as it is
    weights = b"" if curve is None else b"".join(p.detach().cpu().numpy().tobytes() for p in curve.parameters())
    key = (image, tuple(y.shape), hashlib.sha256(weights).hexdigest(), config, crf, xstep)
    if key not in _MADE:
        t0 = time.perf_counter()
        with torch.no_grad():
            kernel, blobs = blind_estimate(y, curve, config)
        _MADE[key] = (kernel_deconvolution(y, kernel, crf, xstep), blobs, time.perf_counter() - t0)
        while len(_MADE) > _KEPT:
            del _MADE[next(iter(_MADE))]  # the oldest
    return _MADE[key]


def method_tv_kernel(xstep: LinearXStep, config: TVKernelConfig, crf: str,
                     max_blobs: int | None = TV_KERNEL_MAX_BLOBS) -> Method:
    """The ``tv_kernel`` row (y where the raw kernel has more than ``max_blobs`` blobs) or, with ``max_blobs``
    None, ``tv_kernel_noguard``."""
    def run(y: torch.Tensor, model: KernelSpace, seed: int, reference: torch.Tensor) -> tuple[torch.Tensor, float]:
        out, blobs, seconds = tv_kernel_deblur(model, y, config, crf, xstep)
        if max_blobs is not None and blobs > max_blobs:
            out = y
        return out.clone(), seconds
    return run


__all__ = ["SMOKE_TV_KERNEL", "TV_KERNEL_MAX_BLOBS", "TV_KERNEL_QUANTILE", "kernel_deconvolution", "method_tv_kernel",
           "tv_kernel_deblur", "tv_kernel_row_settings", "tv_kernel_settings"]
