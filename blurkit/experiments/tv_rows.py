"""The ladder's rows with the blind total-variation kernel: ``tv_code`` and ``tv_code_noguard``.

A blind start that needs no network: the kernel of y alone by coarse-to-fine total-variation blind deconvolution
(:func:`blurkit.deblur.tv_kernel.blind_kernel`, after Perrone & Favaro 2014), in the blur domain of the kernel space
(F's own tone curve, not the test data's camera curve: the method is blind to the data). The code whose cell kernels
are closest to it is fitted from the no-blur code G(y, y) (:func:`blurkit.experiments.nonblind_rows.kernel_fit_code`;
the sharp image is not used), and y is deblurred by the set's non-blind x-step and blend, as ``kernel_code`` and
``lsq_code`` do with kernels from the sharp image. ``tv_code`` then applies the no-reference guard with the
thresholds calibrated for the kernel space (:mod:`blurkit.deblur.guard_calibration`); ``tv_code_noguard`` does not.
"""

from __future__ import annotations

import dataclasses
import time

import torch

from blurkit.deblur.blended_xstep import XStepBlend
from blurkit.deblur.guard import GuardConfig, guard
from blurkit.deblur.guard_calibration import calibrated_guard
from blurkit.deblur.linear_xstep import LinearXStep
from blurkit.deblur.tv_kernel import TVKernelConfig, blind_kernel
from blurkit.experiments.deblur_report import Method
from blurkit.experiments.nonblind_rows import KERNEL_FIT_STEPS, code_xstep, kernel_fit_code
from blurkit.space.code_estimator import CodeEstimator, estimator_path
from blurkit.space.kernel_space import KernelSpace

TV_METHODS = ("tv_code", "tv_code_noguard")
SMOKE_TV = TVKernelConfig(iters=3)  # the smoke profile's estimate and code fit: seconds, for CI
SMOKE_FIT_STEPS = 20


def tv_code(model: KernelSpace, y: torch.Tensor, config: TVKernelConfig = TVKernelConfig(),
            fit_steps: int = KERNEL_FIT_STEPS) -> torch.Tensor:
    """The code whose cell kernels are closest to the blind TV kernel of y, the same kernel on every cell (the
    kernel's side is F's, whatever ``config.size`` says).

    Shape:
        y ``(1, 3, H, H)`` in [0, 1] -> ``(1, kdim, *model.kernel_size(H, H))``.
    """
    if model.config.head != "kernel":
        raise ValueError(f"tv_code needs a kernel-head space (F reads a kernel off each code cell), got head "
                         f"'{model.config.head}'")
    size = model.config.basis_size
    with torch.no_grad():
        kernel = blind_kernel(y, model.F.tone, dataclasses.replace(config, size=size))
    cells = kernel.expand(*model.kernel_size(*y.shape[-2:]), size, size).contiguous()
    return kernel_fit_code(model, y, y, cells, steps=fit_steps)


def method_tv_code(xstep: LinearXStep, blend: XStepBlend | None, guard_config: GuardConfig | None,
                   config: TVKernelConfig = TVKernelConfig(), fit_steps: int = KERNEL_FIT_STEPS) -> Method:
    """The ``tv_code`` row (with ``guard_config``) or ``tv_code_noguard`` (None): :func:`tv_code`, then the x-step."""
    def run(y: torch.Tensor, model: KernelSpace, seed: int, reference: torch.Tensor) -> tuple[torch.Tensor, float]:
        t0 = time.perf_counter()
        code = tv_code(model, y, config, fit_steps)
        out = code_xstep(model, y, code, xstep, blend)
        if guard_config is not None:
            out, _ = guard(model, y, out, code, guard_config)
        return out, time.perf_counter() - t0
    return run


def tv_guard(model_name: str) -> GuardConfig:
    """The ``tv_code`` row's guard: the thresholds calibrated for the kernel space's code estimator where it has
    one (:func:`blurkit.deblur.guard_calibration.calibrated_guard`), else the defaults."""
    path = estimator_path(model_name)
    return calibrated_guard(CodeEstimator.load(path)) if path.is_file() else GuardConfig()


def tv_settings(smoke: bool) -> tuple[TVKernelConfig, int]:
    """The TV estimate's settings and the code fit's Adam steps: the defaults, or seconds at ``smoke``."""
    return (SMOKE_TV, SMOKE_FIT_STEPS) if smoke else (TVKernelConfig(), KERNEL_FIT_STEPS)


__all__ = ["SMOKE_FIT_STEPS", "SMOKE_TV", "TV_METHODS", "method_tv_code", "tv_code", "tv_guard", "tv_settings"]
