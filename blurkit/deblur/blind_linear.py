"""Blind deblurring with a learned code start and the linearised x-step (the ``fast`` preset).

Per image:

1. ``k0 = E(y)``, the blind code estimator's code (:mod:`blurkit.space.code_estimator`): a start on the learned
   blur manifold, not at the no-blur code G(y, y) that Eq. 6 otherwise prefers.
2. ``x = linear_xstep(y, k)``: the convex deconvolution through F linearised at y (:mod:`blurkit.deblur.linear_xstep`),
   with the prior weight calibrated for the kernel space where its estimator records one
   (:mod:`blurkit.deblur.xstep_calibration`); with ``refine`` and a refiner, ``x = refiner(x, y)``
   (:mod:`blurkit.deblur.refiner`).
3. For every further round (``steps - 1`` of them): ``k_refine_steps`` Adam steps on the code with x fixed, on
   Eq. 6's k terms plus ``k_anchor * ||k - k0||^2 / ||k0||^2`` (a Gaussian prior around the estimate), then step 2.
4. With ``guard``, the no-reference guard returns y when the estimate cannot be trusted
   (:mod:`blurkit.deblur.guard`), with the thresholds calibrated for the kernel space where its estimator records
   them (:mod:`blurkit.deblur.guard_calibration`).
5. With ``fallback="tv_kernel"``, an image the guard rejects for a poor fit or an amplified result (not for "no
   blur": then there is nothing to undo) is deconvolved with its own blind total-variation kernel instead and
   blended with y (:func:`blurkit.deblur.tv_fallback.tv_fallback`); the code k is left as the estimate's, and the
   kernel used is returned beside it.

The trace has the solver's columns; its rows are the rounds (``phase`` ``start``, ``solve``, then ``guard:<reason>``
and, where the fallback ran, ``fallback:<reason>``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from blurkit.deblur.deblur_config import DeblurConfig
from blurkit.deblur.guard import GuardConfig, guard
from blurkit.deblur.guard_calibration import calibrated_guard
from blurkit.deblur.linear_xstep import linear_xstep
from blurkit.deblur.objective import objective
from blurkit.deblur.per_image import log_step
from blurkit.deblur.refiner import Refiner
from blurkit.deblur.tv_fallback import tv_fallback
from blurkit.deblur.xstep_calibration import calibrated_xstep
from blurkit.space.code_estimator import CodeEstimator
from blurkit.space.kernel_space import KernelSpace


def refine_code(model: KernelSpace, y: torch.Tensor, x: torch.Tensor, k: torch.Tensor, k0: torch.Tensor,
                cfg: DeblurConfig) -> torch.Tensor:
    """``cfg.k_refine_steps`` Adam steps on the code with x fixed: Eq. 6's data and ``||k||`` terms plus the anchor.

    Shape:
        y, x ``(1, 3, H, W)``, k, k0 ``(1, kdim, h_k, w_k)`` -> k.
    """
    k = k.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([k], lr=cfg.k_lr, betas=cfg.betas)
    scale = k0.pow(2).mean().clamp_min(1e-12)
    for _ in range(cfg.k_refine_steps):
        opt.zero_grad(set_to_none=True)
        terms = objective(model, y, x, k, cfg)
        loss = terms["data"] + cfg.lam * terms["k_norm"] + cfg.k_anchor * (k - k0).pow(2).mean() / scale
        loss.backward()
        opt.step()
    return k.detach()


def solve_linear_one(model: KernelSpace, estimator: CodeEstimator | None, y: torch.Tensor, cfg: DeblurConfig,
                     index: int, reference: torch.Tensor | None, bar: tqdm | None,
                     callback: Callable[[dict], None] | None, refiner: Refiner | None = None) -> tuple:
    """One image: returns ``(x, k, trace rows, wall seconds, psf)``, psf the fallback's kernel (None where the
    fallback did not deblur).

    Shape:
        y ``(1, 3, H, W)`` in [0, 1] -> x like y, k ``(1, kdim, *model.kernel_size(H, W))``, psf ``(S, S)``.
    """
    t0 = time.perf_counter()
    rows: list[dict] = []

    def log(step: int, x: torch.Tensor, k: torch.Tensor, phase: str) -> None:
        with torch.no_grad():
            terms = objective(model, y, x, k, cfg)
        log_step(rows, index, phase, step, terms, t0, x, k, reference, bar, callback)

    with torch.no_grad():
        k0 = estimator(y) if estimator is not None else model.encode(y, y)
    k, x = k0, y
    xstep = calibrated_xstep(cfg.linear, estimator) if cfg.calibrated_gamma else cfg.linear
    log(0, x, k, "start")
    use_refiner = cfg.refine and refiner is not None
    psf = None
    for step in range(1, cfg.steps + 1):
        if step > 1 and cfg.k_refine_steps:
            k = refine_code(model, y, x, k, k0, cfg)
        x = linear_xstep(model, y, k, config=xstep)
        if use_refiner:
            with torch.no_grad():
                x = refiner(x, y)
        if bar is not None:
            bar.update(1)
        log(step, x, k, "solve+refine" if use_refiner else "solve")
    if cfg.guard:
        guard_cfg = calibrated_guard(estimator) if cfg.calibrated_gamma else GuardConfig()
        x, (decision,) = guard(model, y, x, k, guard_cfg)
        log(cfg.steps, x, k, f"guard:{decision.reason}")
        if not decision.keep and decision.reason != "no blur" and cfg.fallback == "tv_kernel":
            x, psf, reason = tv_fallback(model, y, cfg.fallback_iters)
            log(cfg.steps, x, k, f"fallback:{reason}")
    return x.detach(), k.detach(), rows, time.perf_counter() - t0, psf


__all__ = ["refine_code", "solve_linear_one"]
