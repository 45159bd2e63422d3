"""Blind deblurring in the encoded kernel space (paper Sec. 3.2, Algorithm 1, Eq. 6).

Minimise ``ρ(y, F(x, k)) + λ‖k‖₂ + γ·mean((g_u² + g_v²)^(α/2))`` over x and k with F frozen, x and k given by
Deep Image Priors (or, for the fast path, by pixels and a code started from G's estimate). See
:mod:`blurkit.deblur.deblur_config` for the schedules and presets.

Each image of a batch is solved on its own (own priors, own seed ``seed + index``), so results do not depend on
what else is in the batch. Grayscale images are solved as RGB and averaged back.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable

import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as Fnn
from tqdm.auto import tqdm

from blurkit.deblur.blind_linear import solve_linear_one
from blurkit.deblur.deblur_config import DeblurConfig, deblur_config
from blurkit.deblur.dip import ImageDIP, KernelDIP, image_noise, kernel_noise, seeded
from blurkit.deblur.objective import objective, official_objective
from blurkit.deblur.per_image import frozen, log_step, solve_each
from blurkit.deblur.refiner import Refiner, load_refiner, refiner_path
from blurkit.deblur.warm_code import training_code
from blurkit.errors import BlurkitError
from blurkit.space.blocks import as_rgb
from blurkit.space.code_estimator import CodeEstimator, estimator_path
from blurkit.space.kernel_space import KernelSpace

Callback = Callable[[dict], None]
MIN_SIDE = 32  # px: smaller images are solved edge-padded to this side (the DIPs normalise over pixels)
TRACE_COLUMNS = ["image", "phase", "step", "loss", "data", "k_norm", "prior", "time_s", "psnr"]


@dataclass
class DeblurResult:
    """What :func:`deblur` returns.

    Attributes:
        x: the sharp estimates ``(B, C, H, W)`` in [0, 1].
        k: the kernel codes ``(B, kdim, *model.kernel_size(H, W))``.
        trace: one row per logged step and image: ``image, phase, step, loss, data, k_norm, prior, time_s, psnr``
            (``psnr`` against the reference when one is given, else NaN).
        wall_s: seconds per image.
        psf: per image, the one kernel ``(S, S)`` that the ``fast`` preset's fallback deconvolved it with
            (:mod:`blurkit.deblur.tv_fallback`), or None where the result is not the fallback's.
    """

    x: torch.Tensor
    k: torch.Tensor
    trace: pd.DataFrame
    wall_s: list[float]
    psf: list[torch.Tensor | None] | None = dataclasses.field(default=None, kw_only=True)

    @property
    def first_psf(self) -> torch.Tensor | None:
        """The first image's fallback kernel ``(S, S)``, or None where its result is not the fallback's."""
        return self.psf[0] if self.psf else None


class _Parts(nn.Module):
    """The optimised objects of one image: x (prior or pixels) and k (prior or code)."""

    def __init__(self, model: KernelSpace, y: torch.Tensor, cfg: DeblurConfig, seed: int,
                 k_start: torch.Tensor | None = None) -> None:
        super().__init__()
        self.cfg, self.size = cfg, tuple(y.shape[-2:])
        gen = torch.Generator().manual_seed(seed)
        h, w = self.size
        if cfg.x_param == "dip":
            with seeded(seed):
                self.x_net = ImageDIP(cfg.dip, out_channels=3)
            self.register_buffer("zx", image_noise(cfg.dip, 1, h, w, gen))
        else:
            self.x_pix = nn.Parameter(y.detach().clone())
        k0 = model.encode(y, y).detach() if cfg.k_init == "extract" else None
        if cfg.k_init == "given":
            if k_start is None:
                raise BlurkitError("k_init='given' needs a k_start code")
            k0 = k_start.detach().to(y.device)
        if cfg.k_param == "dip":
            self.k_seed = seed + 7919
            self.k_net = self._new_k_net(model)
            self.register_buffer("zk", kernel_noise(cfg.dip, 1, h, w, gen, model.config.code_stride))
        else:
            self.k_code = nn.Parameter(k0)
        self.k0 = k0
        self.gen = gen
        self.model = model

    def _new_k_net(self, model: KernelSpace) -> KernelDIP:
        with seeded(self.k_seed):
            return KernelDIP(self.cfg.dip, model.config).to(next(model.parameters()).device)

    def reinit_k(self) -> None:
        self.k_seed += 1
        self.k_net = self._new_k_net(self.model)

    def _jitter(self, z: torch.Tensor) -> torch.Tensor:
        if self.cfg.reg_noise_std == 0:
            return z
        return z + self.cfg.reg_noise_std * torch.randn(z.shape, generator=self.gen).to(z.device)

    def x(self, jitter: bool = True) -> torch.Tensor:
        if self.cfg.x_param == "dip":
            h, w = self.size
            return self.x_net(self._jitter(self.zx) if jitter else self.zx)[..., :h, :w]
        return self.x_pix.clamp(0, 1)

    def k(self, jitter: bool = True) -> torch.Tensor:
        if self.cfg.k_param == "dip":
            return self.k_net(self._jitter(self.zk) if jitter else self.zk)
        return self.k_code

    def x_params(self) -> list[nn.Parameter]:
        return list(self.x_net.parameters()) if self.cfg.x_param == "dip" else [self.x_pix]

    def k_params(self) -> list[nn.Parameter]:
        return list(self.k_net.parameters()) if self.cfg.k_param == "dip" else [self.k_code]


def _adam(params: list[nn.Parameter], lr: float, cfg: DeblurConfig) -> tuple[torch.optim.Optimizer, object]:
    opt = torch.optim.Adam(params, lr=lr, betas=cfg.betas)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, cfg.steps // 5), gamma=cfg.lr_decay)
    return opt, sched


def _warmup(parts: _Parts, y: torch.Tensor, cfg: DeblurConfig, bar: tqdm | None) -> None:
    """Fit the image prior to y and the kernel prior to its initial code (MSE), as the official code does."""
    if cfg.warmup_steps == 0:
        return
    if cfg.x_param == "dip":
        opt, _ = _adam(parts.x_params(), cfg.x_lr, cfg)
        for i in range(cfg.warmup_steps):
            if bar is not None and i % 10 == 0:
                bar.set_postfix_str(f"warm-up of x {i}/{cfg.warmup_steps}")
            opt.zero_grad(set_to_none=True)
            Fnn.mse_loss(parts.x(), y).backward()
            opt.step()
    if cfg.k_param == "dip" and parts.k0 is not None:
        opt, _ = _adam(parts.k_params(), cfg.k_lr, cfg)
        for _ in range(cfg.warmup_steps):
            opt.zero_grad(set_to_none=True)
            Fnn.mse_loss(parts.k(), parts.k0).backward()
            opt.step()


def _loss_terms(model: KernelSpace, y: torch.Tensor, x: torch.Tensor, k: torch.Tensor, cfg: DeblurConfig,
                step: int) -> dict[str, torch.Tensor]:
    """Eq. 6, or the official code's loss at outer step ``step`` (its switch after half the steps)."""
    if cfg.loss == "official":
        return official_objective(model, y, x, k, cfg, second_half=step > cfg.steps // 2)
    return objective(model, y, x, k, cfg)


def _solve_one(model: KernelSpace, y: torch.Tensor, cfg: DeblurConfig, seed: int, index: int,
               reference: torch.Tensor | None, bar: tqdm | None, callback: Callback | None,
               k_start: torch.Tensor | None = None) -> tuple:
    t0 = time.perf_counter()
    parts = _Parts(model, y, cfg, seed, k_start).to(y.device)
    _warmup(parts, y, cfg, bar)
    x_opt, x_sched = _adam(parts.x_params(), cfg.x_lr, cfg)
    k_opt, k_sched = _adam(parts.k_params(), cfg.k_lr, cfg)
    rows: list[dict] = []

    def log(step: int, terms: dict[str, torch.Tensor], phase: str) -> None:
        with torch.no_grad():
            x_now, k_now = parts.x(jitter=False), parts.k(jitter=False)
        log_step(rows, index, phase, step, terms, t0, x_now, k_now, reference, bar, callback)

    with torch.no_grad():
        log(0, _loss_terms(model, y, parts.x(jitter=False), parts.k(jitter=False), cfg, 1), "start")
    for step in range(1, cfg.steps + 1):
        if cfg.schedule == "alternating":
            if cfg.reinit_k and cfg.k_param == "dip":
                parts.reinit_k()
                k_opt, k_sched = _adam(parts.k_params(), cfg.k_lr, cfg)
            with torch.no_grad():
                x_fixed = parts.x()
            for _ in range(cfg.inner_k_steps):  # (B): fix x, optimise k
                k_opt.zero_grad(set_to_none=True)
                _loss_terms(model, y, x_fixed, parts.k(), cfg, step)["loss"].backward()
                k_opt.step()
            x_opt.zero_grad(set_to_none=True)  # (A): fix k, one step on x
            terms = _loss_terms(model, y, parts.x(), parts.k().detach(), cfg, step)
            terms["loss"].backward()
            x_opt.step()
        else:
            x_opt.zero_grad(set_to_none=True)
            k_opt.zero_grad(set_to_none=True)
            terms = _loss_terms(model, y, parts.x(), parts.k(), cfg, step)
            terms["loss"].backward()
            x_opt.step()
            k_opt.step()
        x_sched.step()
        k_sched.step()
        if bar is not None:
            bar.update(1)
        if step % cfg.log_every == 0 or step == cfg.steps:
            log(step, {k: v.detach() for k, v in terms.items()}, "solve")
    with torch.no_grad():
        x, k = parts.x(jitter=False), parts.k(jitter=False)
    return x.detach(), k.detach(), rows, time.perf_counter() - t0, None


def code_estimator_for(model: KernelSpace) -> CodeEstimator:
    """The blind code estimator shipped beside a loaded kernel space (``<checkpoint stem>.estimator.pt``)."""
    source = getattr(model, "source", None)
    if source is None:
        raise BlurkitError("this kernel space was not loaded from a file, so it has no code estimator beside it; "
                           "pass estimator= (blurkit.space.code_estimator.train_estimator) or choose another preset")
    path = estimator_path(source)
    if model.config.g_lsq and not path.is_file():
        raise BlurkitError(f"'{source}' has no code estimator: its G reads the least-squares kernel of a sharp/blurry "
                           "pair (KernelSpaceConfig.g_lsq); train one with `blurkit train-estimator --model "
                           f"{source} --data DATA --kernel-weight 1` or choose another kernel space")
    return CodeEstimator.load(path).to(next(model.parameters()).device)


def refiner_for(model: KernelSpace) -> Refiner | None:
    """The x-step refiner shipped beside a loaded kernel space (``<checkpoint stem>.refiner.pt``), or None where
    there is none (or the model was not loaded from a file)."""
    source = getattr(model, "source", None)
    if source is None or not refiner_path(source).is_file():
        return None
    return load_refiner(refiner_path(source)).to(next(model.parameters()).device)


def deblur(model: KernelSpace, y: torch.Tensor, config: str | DeblurConfig = "fast", seed: int = 0,
           reference: torch.Tensor | None = None, progress: bool = True,
           callback: Callback | None = None, estimator: CodeEstimator | None = None,
           refiner: Refiner | None = None, k_start: torch.Tensor | None = None) -> DeblurResult:
    """Blind deblurring of a batch of blurry images with a frozen kernel space.

    Args:
        model: the kernel space (F is used, and G when ``k_init="extract"``); it is not changed.
        y: blurry images in [0, 1].
        config: a preset name (``smoke``, ``fast``, ``paper``) or a :class:`DeblurConfig`.
        seed: image ``i`` is solved with seed ``seed + i`` (priors' weights and noise).
        reference: sharp images for the PSNR column of the trace (never used by the solver itself).
        progress: show a tqdm bar with the loss and PSNR.
        callback: called at each logged step with ``{"row", "x", "k"}`` (e.g. to plot live).
        estimator: the blind code estimator for ``k_init="estimate"`` (default: the one beside the model's file).
        refiner: the x-step refiner for ``refine`` (default: the one beside the model's file, where there is one).
        k_start: the code the kernel prior warms up towards for ``k_init="given"``, one for the batch (default:
            :func:`blurkit.deblur.warm_code.training_code`, G's code of a training pair of the model's domain).

    Shape:
        y ``(B, C, H, W)`` with C in {1, 3}, reference like y, k_start ``(1, kdim, *model.kernel_size(H, W))`` -> x like
        y, k ``(B, kdim, *model.kernel_size(H, W))``.
        Images with a side under :data:`MIN_SIDE` px (down to 1 x 1) are solved edge-padded to that side and cropped
        back; their k is the padded image's.
    """
    cfg = deblur_config(config)
    y3, grey = as_rgb(y, "y")
    if reference is not None:
        ref3, _ = as_rgb(reference, "reference")
        if ref3.shape != y3.shape:
            raise ValueError(f"reference shape {tuple(reference.shape)} differs from y shape {tuple(y.shape)}")
    ref = ref3 if reference is not None else None
    h, w = y3.shape[-2:]
    if min(h, w) < MIN_SIDE:  # the priors' normalisation layers need a few pixels: solve on an edge-padded copy
        pad = (0, max(0, MIN_SIDE - w), 0, max(0, MIN_SIDE - h))
        cropped = None if callback is None else (lambda s: callback({**s, "x": s["x"][..., :h, :w]}))  # caller's size
        res = deblur(model, Fnn.pad(y3, pad, mode="replicate"), cfg, seed,
                     None if ref is None else Fnn.pad(ref, pad, mode="replicate"), progress, cropped, estimator,
                     refiner, k_start)
        x = res.x[..., :h, :w]
        return dataclasses.replace(res, x=x.mean(dim=1, keepdim=True) if grey else x)
    if cfg.k_init == "estimate" and estimator is None:
        estimator = code_estimator_for(model)
    if cfg.k_init == "given" and k_start is None:
        k_start = training_code(model, h, w)
    if cfg.x_step == "linear" and cfg.refine and refiner is None:
        refiner = refiner_for(model)
    with frozen(model):
        if cfg.x_step == "linear":
            outs = solve_each(y3.shape[0], lambda i, bar: solve_linear_one(
                model, estimator, y3[i:i + 1].float(), cfg, i, None if ref is None else ref[i:i + 1], bar,
                callback, refiner), cfg.steps, "deblur (linear)", progress)
        else:
            outs = solve_each(y3.shape[0], lambda i, bar: _solve_one(
                model, y3[i:i + 1].float(), cfg, seed + i, i, None if ref is None else ref[i:i + 1], bar,
                callback, k_start), cfg.steps, f"deblur ({cfg.schedule})", progress)
    xs, ks, rows, walls, psfs = (list(v) for v in zip(*outs))
    rows = [row for per_image in rows for row in per_image]
    x = torch.cat(xs)
    if grey:
        x = x.mean(dim=1, keepdim=True)
    return DeblurResult(x=x, k=torch.cat(ks), trace=pd.DataFrame(rows, columns=TRACE_COLUMNS), wall_s=walls,
                        psf=psfs)
