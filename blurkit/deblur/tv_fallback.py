"""y deconvolved with its own blind total-variation kernel: the ``fast`` preset's fallback, and the ladder's
``tv_kernel`` rows.

The kernel is :func:`blurkit.deblur.tv_kernel.blind_estimate`'s, from y linearised by F's tone curve (or not at all
when F has none). y is then linearised by the camera curve of the kernel space's *training* domain (not the test
data's: the method is blind to the data) and deconvolved with that one kernel by the linear x-step's solver, the
solver of the ladder's ``oracle`` row. F and G are not used.

Every setting comes from training data, not from test images (docs/deblurring.md):

- the kernel's side is the *median* blur extent of the training domain's generator (:data:`TV_KERNEL_QUANTILE`,
  13 px for ``reds-like``), the side ``blurkit bench tv-calibration`` chose on 24 held-out calibration pairs;
- the result is y when the raw kernel has more than :data:`TV_KERNEL_MAX_BLOBS` blobs (chosen on the same pairs);
- the fallback returns ``y + TV_KERNEL_BLEND (x̂ - y)`` (:data:`TV_KERNEL_BLEND`, chosen on all 48 held-out pairs
  of ``tv-calibration``, both parts: on the calibration part alone the unblended kernel gains 0.08 dB more, both
  with no pair worse), a shrinkage towards y that gives up a little where the kernel is right for much less loss
  where it is wrong.

The estimate is made once per image and settings in a process (about 15 s for a 128 px crop on one thread).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time

import torch

from blurkit.data.domains import DOMAINS, get_domain
from blurkit.data.kernel_extent import domain_extent
from blurkit.deblur.linear_xstep import PRESET_XSTEP, XSTEP_MARGIN, LinearXStep, deconvolve, linear_domain_deconvolution
from blurkit.deblur.tv_kernel import TVKernelConfig, blind_estimate
from blurkit.space.basis_blur import cell_convolve
from blurkit.space.kernel_space import KernelSpace

TV_KERNEL_QUANTILE = 0.5  # the training domain's median blur extent sets the kernel's side
TV_KERNEL_MAX_BLOBS = 2  # held-out calibration pairs: +1.08 dB, none worse; the next 24: +0.82, 8 % worse
TV_KERNEL_BLEND = 0.75  # all 48 held-out pairs, with the blob check: +1.02 dB, none worse (1.0: +0.95, 2 worse)
TV_FALLBACK_XSTEP = PRESET_XSTEP  # the solver the settings were chosen with (its margin is replaced by 0)
TV_ESTIMATE_MAX_SIDE = 256  # the kernel is estimated on the central square of at most this side (cost ~ area)
SMOKE_TV_KERNEL = TVKernelConfig(iters=3)
_MADE: dict[tuple, tuple[torch.Tensor, torch.Tensor, int, float]] = {}  # key -> (x̂, kernel, blobs, seconds)
_KEPT = 64


def tv_kernel_settings(model: KernelSpace, iters: int | None = None) -> tuple[TVKernelConfig, str]:
    """The estimate's settings (its side from the training domain's median blur extent, at most F's side; F's side
    where the space records no known domain; ``iters`` steps per scale, default the estimator's) and the camera curve
    the x-step linearises with (``linear`` where there is no known domain)."""
    base = TVKernelConfig() if iters is None else TVKernelConfig(iters=iters)
    side, domain = model.config.basis_size, model.training_domain
    if domain is None or domain not in DOMAINS:
        return dataclasses.replace(base, size=side), "linear"
    return dataclasses.replace(base, size=min(side, domain_extent(domain, TV_KERNEL_QUANTILE))), get_domain(domain).crf


def fallback_record(model: KernelSpace, iters: int | None = None) -> dict:
    """What the fallback's result depends on beyond y and the kernel space's weights, as plain data for the keys of
    stored results: the estimate's settings, the camera curve, the blob limit, the blend and the x-step."""
    config, crf = tv_kernel_settings(model, iters)
    return {"tv": config.__dict__, "crf": crf, "max_blobs": TV_KERNEL_MAX_BLOBS, "blend": TV_KERNEL_BLEND,
            "xstep": TV_FALLBACK_XSTEP.__dict__}


def kernel_deconvolution(y: torch.Tensor, kernel: torch.Tensor, crf: str, xstep: LinearXStep) -> torch.Tensor:
    """Deconvolve y with one kernel for the whole image in the camera's linear domain, the unknown extended by
    :data:`XSTEP_MARGIN` px on every side (the x-step's own margin is not used).

    Shape:
        y ``(1, C, H, W)`` in [0, 1], kernel ``(S, S)`` -> ``(1, C, H, W)`` in [0, 1].
    """
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
        raise ValueError(f"the kernel must be square with an odd side, got shape {tuple(kernel.shape)}")
    one = kernel.detach().float().reshape(1, 1, *kernel.shape)
    step = dataclasses.replace(xstep, margin=0)
    return linear_domain_deconvolution(y, lambda u: cell_convolve(u, one, y.shape[-1], XSTEP_MARGIN), XSTEP_MARGIN,
                                       crf, lambda a, t, u0: deconvolve(a, t, u0, step))


def tv_kernel_deblur(model: KernelSpace, y: torch.Tensor, config: TVKernelConfig, crf: str,
                     xstep: LinearXStep) -> tuple[torch.Tensor, torch.Tensor, int, float]:
    """``(x̂, kernel, blobs, seconds)``: the blind TV kernel of y (linearised by F's tone curve, if F has one), then
    :func:`kernel_deconvolution`; made once per image and settings in a process (a second call returns the first
    call's results and seconds; callers get copies).

    Shape:
        y ``(1, 3, H, H)`` in [0, 1] -> x̂ ``(1, 3, H, H)``, kernel ``(size, size)``.
    """
    image = hashlib.sha256(y.detach().cpu().float().contiguous().numpy().tobytes()).hexdigest()
    curve = model.F.tone  # None: y is estimated on as it is
    weights = b"" if curve is None else b"".join(p.detach().cpu().numpy().tobytes() for p in curve.parameters())
    key = (image, tuple(y.shape), hashlib.sha256(weights).hexdigest(), config, crf, xstep)
    if key not in _MADE:
        t0 = time.perf_counter()
        with torch.no_grad():
            kernel, blobs = blind_estimate(y.detach().cpu().float(), None if curve is None else _on_cpu(curve),
                                           config)
        x_hat = kernel_deconvolution(y.detach().cpu().float(), kernel, crf, xstep)
        _MADE[key] = (x_hat, kernel, blobs, time.perf_counter() - t0)
        while len(_MADE) > _KEPT:
            del _MADE[next(iter(_MADE))]  # the oldest
    x_hat, kernel, blobs, seconds = _MADE[key]
    return x_hat.clone().to(y.device), kernel.clone(), blobs, seconds


def _on_cpu(curve: torch.nn.Module):  # type: ignore[no-untyped-def]
    """The tone curve applied on the CPU, whatever device it lives on."""
    device = next(curve.parameters()).device
    return lambda t: curve(t.to(device)).cpu()


def tv_fallback(model: KernelSpace, y: torch.Tensor, iters: int | None = None,
                max_blobs: int | None = TV_KERNEL_MAX_BLOBS, blend: float = TV_KERNEL_BLEND
                ) -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """``(x, kernel, reason)``: ``y + blend (x̂ - y)``, its kernel and ``"tv_kernel"``, with the kernel from
    :func:`tv_kernel_deblur` at :func:`tv_kernel_settings` on y's central square of at most
    :data:`TV_ESTIMATE_MAX_SIDE` px, and x̂ y deconvolved with it by :data:`TV_FALLBACK_XSTEP`; or y, None and why
    not: ``"tv_kernel:blobs"`` when the raw kernel has more than ``max_blobs`` blobs (None: no limit),
    ``"tv_kernel:small"`` when that square is under twice the kernel's side.

    Shape:
        y ``(1, C, H, W)`` in [0, 1] -> x like y, kernel ``(size, size)``.
    """
    if y.ndim != 4 or y.shape[0] != 1:
        raise ValueError(f"the TV fallback takes one image (1, C, H, W), got {tuple(y.shape)}")
    if not 0 < blend <= 1:
        raise ValueError(f"the TV fallback's blend must be in (0, 1], got {blend}")
    config, crf = tv_kernel_settings(model, iters)
    h, w = y.shape[-2:]
    side = min(h, w, TV_ESTIMATE_MAX_SIDE)
    if side < 2 * config.size:
        return y.clone(), None, "tv_kernel:small"
    top, left = (h - side) // 2, (w - side) // 2
    square = y[..., top:top + side, left:left + side]
    x_hat, kernel, blobs, _ = tv_kernel_deblur(model, square, config, crf, TV_FALLBACK_XSTEP)
    if max_blobs is not None and blobs > max_blobs:
        return y.clone(), None, "tv_kernel:blobs"
    if (side, side) != (h, w):
        x_hat = kernel_deconvolution(y.detach().cpu().float(), kernel, crf, TV_FALLBACK_XSTEP).to(y.device)
    return (y + blend * (x_hat - y)).clamp(0, 1), kernel, "tv_kernel"


__all__ = ["SMOKE_TV_KERNEL", "TV_ESTIMATE_MAX_SIDE", "TV_FALLBACK_XSTEP", "TV_KERNEL_BLEND", "TV_KERNEL_MAX_BLOBS",
           "TV_KERNEL_QUANTILE", "fallback_record", "kernel_deconvolution", "tv_fallback", "tv_kernel_deblur",
           "tv_kernel_settings"]
