"""The ladder's non-blind rows: the x-step with the code of the sharp/blurry pair (``true_code``, ``retrieved_code``,
``kernel_code``).

They show what the blind solver could reach if it found the right code: ``true_code`` takes G's estimate
``G(x, y)``, ``retrieved_code`` the code kernel retrieval (:mod:`blurkit.deblur.retrieval`) finds for (x, y) from
that start, the code F says explains y best. The gap between the two rows is G's share of the deblurring loss.
``kernel_code`` (F with cell kernels, data with recorded kernels) takes the code whose kernels are closest to the
true ones: what a G that extracted the blur exactly would give through this F. ``lsq_code`` (F with cell kernels)
takes the code whose kernels are closest to the non-negative least-squares kernel of (x, y) in F's blur domain
(:mod:`blurkit.space.kernel_lsq`): a non-blind extraction without a network and without the truth. The ``*_blend``
rows (``true_code_blend``, ``kernel_code_blend``, ``lsq_code_blend``) deblur with the same codes through the blended
x-step (:mod:`blurkit.deblur.blended_xstep`): what a better image prior gives with a code far from / close to the
blur.
"""

from __future__ import annotations

import time

import torch

from blurkit.deblur.blended_xstep import XStepBlend, blended_xstep
from blurkit.deblur.deblur_config import DEBLUR_PRESETS, DeblurConfig
from blurkit.deblur.linear_xstep import PRESET_XSTEP, LinearXStep, linear_xstep
from blurkit.deblur.retrieval import retrieve_kernel
from blurkit.deblur.self_ensemble import MAX_VIEWS, self_ensemble
from blurkit.deblur.nonblind_calibration import nonblind_xstep_for
from blurkit.experiments.deblur_report import Method
from blurkit.space.kernel_lsq import LSQ_ROBUST, LSQ_WEIGHTS, lsq_kernel
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import kernel_error

TRUE_CODE_XSTEP = PRESET_XSTEP
TRUE_CODE_VIEWS = MAX_VIEWS  # the true_code_x8 row's self-ensemble: all 8 flips and turns


def set_xstep(model_name: str) -> LinearXStep:
    """The x-step of a set's non-blind rows (``true_code`` and the other codes from the sharp image) and ``oracle``:
    :data:`TRUE_CODE_XSTEP`, the ``fast`` row's x-step, with the prior weight calibrated for the kernel space's
    non-blind x-step (:mod:`blurkit.deblur.nonblind_calibration`) where it has one, else for codes from the sharp
    image where its estimator records one, else the blind path's (:mod:`blurkit.deblur.xstep_calibration`)."""
    return nonblind_xstep_for(model_name, TRUE_CODE_XSTEP)[0]


def set_blend(model_name: str) -> XStepBlend | None:
    """The blend of a set's non-blind code rows: the one calibrated for the kernel space
    (:func:`blurkit.deblur.nonblind_calibration.nonblind_xstep_for`), None where it has none."""
    return nonblind_xstep_for(model_name, TRUE_CODE_XSTEP)[1]


RETRIEVED_CODE = DEBLUR_PRESETS["fast-adam"].replace(k_param="code", steps=100, k_lr=1e-2, log_every=100)
"""Kernel retrieval of the ``retrieved_code`` row: G's code refined by 100 Adam steps on Eq. 6's k terms."""


def code_xstep(model: KernelSpace, y: torch.Tensor, k: torch.Tensor, config: LinearXStep,
               blend: XStepBlend | None) -> torch.Tensor:
    """The non-blind rows' x-step with code k: :func:`linear_xstep`, or with ``blend`` (the ``*_blend`` rows)
    :func:`blurkit.deblur.blended_xstep.blended_xstep`.

    Shape:
        y ``(1, 3, H, W)``, k ``(1, kdim, h_k, w_k)`` -> ``(1, 3, H, W)``.
    """
    return linear_xstep(model, y, k, config=config) if blend is None else blended_xstep(model, y, k, config, blend)


def retrieval_config(smoke: bool) -> DeblurConfig:
    """The ``retrieved_code`` row's retrieval: :data:`RETRIEVED_CODE`, cut to 2 steps at the ``smoke`` profile."""
    return RETRIEVED_CODE.replace(steps=2) if smoke else RETRIEVED_CODE


def method_true_code(config: LinearXStep = TRUE_CODE_XSTEP, retrieval: DeblurConfig | None = None,
                     views: int = 1, blend: XStepBlend | None = None) -> Method:
    """The non-blind ceiling: k = G(x, y) from the sharp reference, then the linearised deconvolution.

    With ``retrieval`` (the ``retrieved_code`` row) k is instead the code that kernel retrieval
    (:func:`blurkit.deblur.retrieval.retrieve_kernel`) finds for (x, y), started at G(x, y): the code F says
    explains y best. With ``views`` > 1 (the ``true_code_x8`` row) both are done on that many flips and turns of
    (x, y), each with its own code, and the results are averaged (:mod:`blurkit.deblur.self_ensemble`). With
    ``blend`` (the ``true_code_blend`` row) the x-step is :func:`blurkit.deblur.blended_xstep.blended_xstep`.
    """
    def run(y: torch.Tensor, model: KernelSpace, seed: int, reference: torch.Tensor) -> tuple[torch.Tensor, float]:
        def one(yv: torch.Tensor, xv: torch.Tensor) -> torch.Tensor:
            if retrieval is None:
                with torch.no_grad():
                    k = model.encode(xv, yv)
            else:
                k = retrieve_kernel(model, xv, yv, retrieval, seed=seed, progress=False).k
            return code_xstep(model, yv, k, config, blend)

        t0 = time.perf_counter()
        out = self_ensemble(one, y, reference, views=views)
        return out, time.perf_counter() - t0
    return run


KERNEL_FIT_STEPS = 1500  # Adam steps of kernel_fit_code (the relative kernel error levels off by then on reds-like)
KERNEL_FIT_LR = 0.05


def has_cell_kernels(model: KernelSpace, kernels: torch.Tensor, size: int) -> bool:
    """Whether F is nothing but a kernel read off each code cell (the kernel head; a basis head's dynamic member is
    one of a mixture, so fitting it says nothing of F's blur) and its grid and kernel size match ``kernels`` for a
    ``size`` px image (so :func:`kernel_fit_code` applies). Shape: kernels ``(h, w, S, S)``."""
    grid = model.kernel_size(size, size)
    return (model.config.head == "kernel" and model.config.basis_size == kernels.shape[-1]  # the head always has F.dyn
            and kernels.shape[0] <= grid[0] and kernels.shape[1] <= grid[1])


def kernel_fit_code(model: KernelSpace, reference: torch.Tensor, y: torch.Tensor, kernels: torch.Tensor,
                    steps: int = KERNEL_FIT_STEPS, lr: float = KERNEL_FIT_LR) -> torch.Tensor:
    """The code whose cell kernels are closest to ``kernels`` (relative squared error), by Adam from G(x, y).

    Code cells beyond the recorded ones (F pads the image) keep G's code.

    Shape:
        reference, y ``(1, C, H, W)``, kernels ``(h, w, S, S)`` -> ``(1, kdim, h_k, w_k)``.
    """
    if not has_cell_kernels(model, kernels, reference.shape[-1]):
        raise ValueError(f"kernel_fit_code needs F's kernel head with cell kernels of {kernels.shape[-1]} px on a grid "
                         f"covering {tuple(kernels.shape[:2])} cells")
    with torch.no_grad():
        k0 = model.encode(reference, y)
    true = kernels[None].float()
    code = k0.clone().requires_grad_(True)
    opt = torch.optim.Adam([code], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            err = kernel_error(model.cell_kernels(code)[:, :true.shape[1], :true.shape[2]], true)
            opt.zero_grad(set_to_none=True)
            err.backward()
            opt.step()
    return code.detach()


def kernel_code_deblur(model: KernelSpace, y: torch.Tensor, reference: torch.Tensor, kernels: torch.Tensor,
                       config: LinearXStep = TRUE_CODE_XSTEP, blend: XStepBlend | None = None) -> torch.Tensor:
    """The ``kernel_code`` row: the x-step with :func:`kernel_fit_code`'s code; with ``blend`` (the
    ``kernel_code_blend`` row) the blended x-step.

    Shape:
        y, reference ``(1, 3, H, W)``, kernels ``(h, w, S, S)`` -> ``(1, 3, H, W)``.
    """
    return code_xstep(model, y, kernel_fit_code(model, reference, y, kernels), config, blend)


def lsq_cell_kernels(model: KernelSpace, reference: torch.Tensor, y: torch.Tensor,
                     robust: int = LSQ_ROBUST, weights: str = LSQ_WEIGHTS) -> torch.Tensor:
    """The least-squares kernel of (x, y) in F's blur domain (its tone curve, if any), one per image, repeated on
    every code cell of F's grid (:func:`blurkit.space.kernel_lsq.lsq_kernel`).

    Shape:
        reference, y ``(1, C, H, W)`` -> ``(h_k, w_k, S, S)`` with ``S = config.basis_size``.
    """
    size = model.config.basis_size
    kernel = lsq_kernel(reference, y, size, to_linear=model.F.tone, robust=robust, weights=weights)[0]
    grid = model.kernel_size(*reference.shape[-2:])
    return kernel.expand(*grid, size, size).contiguous()


def lsq_code_deblur(model: KernelSpace, y: torch.Tensor, reference: torch.Tensor,
                    config: LinearXStep = TRUE_CODE_XSTEP, blend: XStepBlend | None = None) -> torch.Tensor:
    """The ``lsq_code`` row: the x-step with the code fitted (:func:`kernel_fit_code`) to
    :func:`lsq_cell_kernels`; with ``blend`` (the ``lsq_code_blend`` row) the blended x-step. Needs F's kernel head.

    Shape:
        y, reference ``(1, 3, H, W)`` -> ``(1, 3, H, W)``.
    """
    return code_xstep(model, y, kernel_fit_code(model, reference, y, lsq_cell_kernels(model, reference, y)), config,
                      blend)


__all__ = ["KERNEL_FIT_LR", "KERNEL_FIT_STEPS", "RETRIEVED_CODE", "TRUE_CODE_VIEWS", "TRUE_CODE_XSTEP",
           "code_xstep", "has_cell_kernels", "kernel_code_deblur", "kernel_fit_code", "lsq_cell_kernels",
           "lsq_code_deblur", "method_true_code", "retrieval_config", "set_blend", "set_xstep"]
