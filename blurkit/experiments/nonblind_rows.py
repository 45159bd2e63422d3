"""The ladder's non-blind rows: the x-step with the code of the sharp/blurry pair (``true_code``, ``retrieved_code``).

Both show what the blind solver could reach if it found the right code: ``true_code`` takes G's estimate
``G(x, y)``, ``retrieved_code`` the code kernel retrieval (:mod:`blurkit.deblur.retrieval`) finds for (x, y) from
that start, the code F says explains y best. The gap between the two rows is G's share of the deblurring loss.
"""

from __future__ import annotations

import time

import torch

from blurkit.deblur.deblur_config import DEBLUR_PRESETS, DeblurConfig
from blurkit.deblur.linear_xstep import LinearXStep, linear_xstep
from blurkit.deblur.retrieval import retrieve_kernel
from blurkit.deblur.xstep_calibration import calibrated_xstep_for
from blurkit.experiments.deblur_report import Method
from blurkit.space.kernel_space import KernelSpace

TRUE_CODE_XSTEP = LinearXStep(outer=1, gamma=0.1, robust=True)


def set_xstep(model_name: str) -> LinearXStep:
    """The x-step of a set's ``true_code`` and ``oracle`` rows: :data:`TRUE_CODE_XSTEP` with the prior weight
    calibrated for the kernel space where its estimator records one (:mod:`blurkit.deblur.xstep_calibration`), so
    that they use the same x-step as its ``fast`` row."""
    return calibrated_xstep_for(model_name, TRUE_CODE_XSTEP)


RETRIEVED_CODE = DEBLUR_PRESETS["fast-adam"].replace(k_param="code", steps=100, k_lr=1e-2, log_every=100)
"""Kernel retrieval of the ``retrieved_code`` row: G's code refined by 100 Adam steps on Eq. 6's k terms."""


def retrieval_config(smoke: bool) -> DeblurConfig:
    """The ``retrieved_code`` row's retrieval: :data:`RETRIEVED_CODE`, cut to 2 steps at the ``smoke`` profile."""
    return RETRIEVED_CODE.replace(steps=2) if smoke else RETRIEVED_CODE


def method_true_code(config: LinearXStep = TRUE_CODE_XSTEP, retrieval: DeblurConfig | None = None) -> Method:
    """The non-blind ceiling: k = G(x, y) from the sharp reference, then the linearised deconvolution.

    With ``retrieval`` (the ``retrieved_code`` row) k is instead the code that kernel retrieval
    (:func:`blurkit.deblur.retrieval.retrieve_kernel`) finds for (x, y), started at G(x, y): the code F says
    explains y best.
    """
    def run(y: torch.Tensor, model: KernelSpace, seed: int, reference: torch.Tensor) -> tuple[torch.Tensor, float]:
        t0 = time.perf_counter()
        if retrieval is None:
            with torch.no_grad():
                k = model.encode(reference, y)
        else:
            k = retrieve_kernel(model, reference, y, retrieval, seed=seed, progress=False).k
        return linear_xstep(model, y, k, config=config), time.perf_counter() - t0
    return run


__all__ = ["RETRIEVED_CODE", "TRUE_CODE_XSTEP", "method_true_code", "retrieval_config", "set_xstep"]
