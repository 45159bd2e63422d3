"""The ladder's rows with the blind total-variation kernel: ``tv_code`` and ``tv_code_noguard``.

A blind start that needs no network: the kernel of y alone by coarse-to-fine total-variation blind deconvolution
(:func:`blurkit.deblur.tv_kernel.blind_kernel`, after Perrone & Favaro 2014), in the blur domain of the kernel space
(F's own tone curve, not the test data's camera curve: the method is blind to the data). The code whose cell kernels
are closest to it is fitted from the no-blur code G(y, y) (:func:`blurkit.experiments.nonblind_rows.kernel_fit_code`;
the sharp image is not used), and y is deblurred by the set's non-blind x-step and blend, as ``kernel_code`` and
``lsq_code`` do with kernels from the sharp image. ``tv_code`` then applies the no-reference guard with the
thresholds calibrated for the kernel space (:mod:`blurkit.deblur.guard_calibration`); ``tv_code_noguard`` does not.

Two settings are read off the training domain, not the test images. The kernel's support is the blur extent of the
kernel space's training domain (:func:`tv_support`: the 90th percentile of the side holding 99 % of a cell kernel's
mass, over draws of the domain's blur generator, at most F's side; 23 px for ``reds-like``). And ``tv_code`` trusts
an estimate only when its raw kernel is one connected blob (:data:`TV_MAX_BLOBS`, chosen on the reds-like
estimator's 24 textured held-out training pairs; docs/deblurring.md), then applies the guard.

The two rows share their estimate: the code and the x-step's output are computed once per (kernel space, image,
settings) in a process (:func:`tv_xstep`), and the row that reuses them reports the seconds they took when made, so
that each row's time is what it would take alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
import weakref

import torch

from blurkit.data.domains import DOMAINS
from blurkit.data.kernel_extent import domain_extent
from blurkit.deblur.blended_xstep import XStepBlend
from blurkit.deblur.guard import GuardConfig, guard
from blurkit.deblur.guard_calibration import calibrated_guard
from blurkit.deblur.linear_xstep import LinearXStep
from blurkit.deblur.tv_kernel import TVKernelConfig, blind_estimate
from blurkit.experiments.deblur_report import Method
from blurkit.experiments.nonblind_rows import KERNEL_FIT_STEPS, code_xstep, kernel_fit_code
from blurkit.profiles import get_profile
from blurkit.space.code_estimator import CodeEstimator, estimator_path
from blurkit.space.kernel_space import KernelSpace

TV_METHODS = ("tv_code", "tv_code_noguard")
SMOKE_TV = TVKernelConfig(iters=3)  # the smoke profile's estimate and code fit: seconds, for CI
SMOKE_FIT_STEPS = 20
TV_SUPPORT_QUANTILE = 0.9  # the quantile of the training domain's blur extent that sets the kernel's side
TV_MAX_BLOBS = 1  # tv_code returns y when the raw kernel has more blobs (held-out pairs: +0.45 dB, none worse)
TV_MADE_KEPT = 64  # estimates kept per kernel space for the other row (the ladder needs one set's images)
_MADE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # space -> {key: (code, blobs, output, seconds)}


def tv_code(model: KernelSpace, y: torch.Tensor, config: TVKernelConfig = TVKernelConfig(),
            fit_steps: int = KERNEL_FIT_STEPS) -> tuple[torch.Tensor, int]:
    """The code whose cell kernels are closest to the blind TV kernel of y (``config.size`` px, padded to F's side),
    the same kernel on every cell, and the raw kernel's number of blobs
    (:func:`blurkit.deblur.tv_kernel.blind_estimate`).

    Shape:
        y ``(1, 3, H, H)`` in [0, 1] -> code ``(1, kdim, *model.kernel_size(H, H))``.
    """
    if model.config.head != "kernel":
        raise ValueError(f"tv_code needs a kernel-head space (F reads a kernel off each code cell), got head "
                         f"'{model.config.head}'")
    side = model.config.basis_size
    if config.size > side:
        raise ValueError(f"the TV kernel's side ({config.size} px) exceeds F's kernels ({side} px)")
    with torch.no_grad():
        kernel, blobs = blind_estimate(y, model.F.tone, config)
    pad = (side - config.size) // 2
    kernel = torch.nn.functional.pad(kernel, (pad,) * 4)
    cells = kernel.expand(*model.kernel_size(*y.shape[-2:]), side, side).contiguous()
    return kernel_fit_code(model, y, y, cells, steps=fit_steps), blobs


def tv_xstep(model: KernelSpace, y: torch.Tensor, xstep: LinearXStep, blend: XStepBlend | None,
             config: TVKernelConfig = TVKernelConfig(), fit_steps: int = KERNEL_FIT_STEPS
             ) -> tuple[torch.Tensor, int, torch.Tensor, float]:
    """``(code, blobs, x̂, seconds)``: :func:`tv_code`, then the x-step, made once per kernel space (while its
    weights are unchanged), image and settings; a second call returns the first call's results and seconds. The
    latest :data:`TV_MADE_KEPT` estimates of a kernel space are kept.

    Shape:
        y ``(1, 3, H, H)`` -> code ``(1, kdim, *model.kernel_size(H, H))``, x̂ ``(1, 3, H, H)``.
    """
    image = hashlib.sha256(y.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
    key = (image, tuple(y.shape), tuple(p._version for p in model.parameters()), xstep, blend, config, fit_steps)
    made = _MADE.setdefault(model, {})
    if key not in made:
        t0 = time.perf_counter()
        code, blobs = tv_code(model, y, config, fit_steps)
        made[key] = (code, blobs, code_xstep(model, y, code, xstep, blend), time.perf_counter() - t0)
        while len(made) > TV_MADE_KEPT:
            del made[next(iter(made))]  # the oldest
    return made[key]


def method_tv_code(xstep: LinearXStep, blend: XStepBlend | None, guard_config: GuardConfig | None,
                   config: TVKernelConfig = TVKernelConfig(), fit_steps: int = KERNEL_FIT_STEPS,
                   max_blobs: int = TV_MAX_BLOBS) -> Method:
    """The ``tv_code`` row (with ``guard_config``: y where the raw kernel has more than ``max_blobs`` blobs, else the
    guard) or ``tv_code_noguard`` (None: neither): :func:`tv_xstep`, then the checks."""
    def run(y: torch.Tensor, model: KernelSpace, seed: int, reference: torch.Tensor) -> tuple[torch.Tensor, float]:
        code, blobs, out, seconds = tv_xstep(model, y, xstep, blend, config, fit_steps)
        t0 = time.perf_counter()
        if guard_config is not None:
            out = y if blobs > max_blobs else guard(model, y, out, code, guard_config)[0]
        return out.clone(), seconds + time.perf_counter() - t0
    return run


def tv_guard(model_name: str) -> GuardConfig:
    """The ``tv_code`` row's guard: the thresholds calibrated for the kernel space's code estimator where it has
    one (:func:`blurkit.deblur.guard_calibration.calibrated_guard`), else the defaults."""
    path = estimator_path(model_name)
    return calibrated_guard(CodeEstimator.load(path)) if path.is_file() else GuardConfig()


def tv_support(model: KernelSpace) -> int:
    """The TV kernel's side for a kernel space: the blur extent of its training domain's generator
    (:func:`blurkit.data.kernel_extent.domain_extent` at :data:`TV_SUPPORT_QUANTILE`), at most F's side; F's side
    for a space that records no training domain, or one without a blur generator here (a folder of real pairs)."""
    side = model.config.basis_size
    domain = model.training_domain
    if domain is None or domain not in DOMAINS:
        return side
    return min(side, domain_extent(domain, TV_SUPPORT_QUANTILE))


def tv_settings(model: KernelSpace, profile: str) -> tuple[TVKernelConfig, int]:
    """The TV estimate's settings (its side from :func:`tv_support`) and the code fit's Adam steps: the defaults, or
    seconds at the ``smoke`` profile."""
    smoke = get_profile(profile).name == "smoke"
    config, steps = (SMOKE_TV, SMOKE_FIT_STEPS) if smoke else (TVKernelConfig(), KERNEL_FIT_STEPS)
    return dataclasses.replace(config, size=tv_support(model)), steps


def tv_row_settings(model_name: str, profile: str) -> tuple[TVKernelConfig, int]:
    """:func:`tv_settings` for the kernel space named ``model_name`` (a shipped name or a checkpoint path)."""
    return tv_settings(KernelSpace.load(model_name), profile)


__all__ = ["SMOKE_FIT_STEPS", "SMOKE_TV", "TV_MADE_KEPT", "TV_MAX_BLOBS", "TV_METHODS", "TV_SUPPORT_QUANTILE",
           "method_tv_code", "tv_code", "tv_guard", "tv_row_settings", "tv_settings", "tv_support", "tv_xstep"]
