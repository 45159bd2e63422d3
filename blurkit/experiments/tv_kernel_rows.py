"""The ladder's rows that deconvolve y with its blind total-variation kernel directly: ``tv_kernel`` and
``tv_kernel_noguard``.

``tv_code`` (:mod:`blurkit.experiments.tv_rows`) turns the blind TV kernel of y into a code and deblurs through F.
These rows skip the code: :func:`blurkit.deblur.tv_fallback.tv_kernel_deblur` (the ``fast`` preset's fallback, without
its blend) deconvolves y with the one kernel by the set's non-blind x-step. ``tv_kernel`` returns y when the raw kernel
has more than :data:`~blurkit.deblur.tv_fallback.TV_KERNEL_MAX_BLOBS` blobs; ``tv_kernel_noguard`` never does.

The two rows share one estimate per image in a process, and each reports the seconds the estimate took when made.
"""

from __future__ import annotations

import torch

from blurkit.deblur.linear_xstep import LinearXStep
from blurkit.deblur.tv_fallback import SMOKE_TV_KERNEL, tv_kernel_deblur, tv_kernel_settings
from blurkit.deblur.tv_kernel import TVKernelConfig
from blurkit.experiments.deblur_report import Method
from blurkit.profiles import get_profile
from blurkit.space.kernel_space import KernelSpace


def tv_kernel_row_settings(model_name: str, profile: str) -> tuple[TVKernelConfig, str]:
    """:func:`~blurkit.deblur.tv_fallback.tv_kernel_settings` for the kernel space named ``model_name`` (a shipped
    name or a checkpoint path), with the smoke estimate's few steps at ``smoke``."""
    smoke = get_profile(profile).name == "smoke"
    return tv_kernel_settings(KernelSpace.load(model_name), SMOKE_TV_KERNEL.iters if smoke else None)


def method_tv_kernel(xstep: LinearXStep, config: TVKernelConfig, crf: str, max_blobs: int | None) -> Method:
    """The ``tv_kernel`` row (y where the raw kernel has more than ``max_blobs`` blobs) or, with ``max_blobs`` None,
    ``tv_kernel_noguard``."""
    def run(y: torch.Tensor, model: KernelSpace, seed: int, reference: torch.Tensor) -> tuple[torch.Tensor, float]:
        out, _, blobs, seconds = tv_kernel_deblur(model, y, config, crf, xstep)
        return (y.clone() if max_blobs is not None and blobs > max_blobs else out), seconds
    return run


__all__ = ["method_tv_kernel", "tv_kernel_row_settings"]
