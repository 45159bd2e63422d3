"""Blind deblurring on a StyleGAN2 image manifold (paper Sec. 3.3): x = G_style(w), searched PULSE-style.

Minimise, over the per-layer latents and the kernel,

    data_weight * ρ(y, B(x)) + geocross * GEOCROSS(W+) + lam * ||k|| + k_anchor * ||k - k0||² / ||k0||²,
    x = (G_style(W+) + 1) / 2,

with the generator frozen, as the official code of the paper does for faces (its ``domain_specific_deblur.py``, built
on PULSE, Menon et al. 2020). Choices, each a field of :class:`GeneratorPriorConfig`:

* **Latents** (PULSE's parameterisation): one Gaussian vector ``v_l`` per W+ layer (``n_latent`` of them, each of
  ``style_dim`` numbers), kept on the sphere ``sqrt(d) S^(d-1)`` by spherical projected gradient: an Adam step on all
  of them, then each ``v_l`` rescaled back to norm ``sqrt(d)``. They are mapped to W+ through the mapping network's
  statistics: ``w_l = lrelu(v_l * std + mean, 0.2)``, where ``mean`` and ``std`` are the per-dimension moments of
  ``lrelu(get_latent(z), 5)`` over ``fit_samples`` seeded z (:func:`gaussian_fit`). ``lrelu(., 5)`` undoes the mapping
  network's last leaky ReLU (slope 0.2; rosinality's extra sqrt(2) gain does not matter, a leaky ReLU is positively
  homogeneous), where w is close to Gaussian; ``lrelu(., 0.2)`` is its exact inverse. This is the later PULSE variant
  that the official code uses (the first PULSE release fitted ``mapping(z)`` itself).
* **GEOCROSS** on W+ as PULSE and the official code apply it: for every pair of layers the angle
  ``θ_ij = 2 atan2(|w_i - w_j|, |w_i + w_j|)`` (the angle between the two when their norms are equal), and
  ``d * mean_ij θ_ij² / ((n - 2) / 2)`` over all ``n x n`` ordered pairs, n = ``n_latent`` (the divisor is PULSE's 8
  for StyleGAN's 18 layers and the official code's 6 for StyleGAN2-256's 14), so that the official weights carry over
  unchanged: ``100 * L2 + 0.1 * GEOCROSS + 1e-4 * ||k||``. It is 0 exactly when all layers are equal.
* **Noise maps** (``noise``, off by default; on in ``paper`` as in the official config): the coarsest ``noise_layers``
  of the generator's stored maps become trainable and are kept on their sphere ``sqrt(r * r) S`` the same way; off,
  the generator's stored maps are used (deterministic).
* **The kernel** (``kernel_prior``):

  - ``encoded`` (default): k is a code of the kernel space and B(x) = F(x, k). It starts like the generic solver
    (:mod:`blurkit.deblur.solver`): from the blind code estimator E(y)
    (:func:`~blurkit.deblur.solver.code_estimator_for`) or from G(y, y) (``k_init``; ``auto`` takes E(y) when one is
    shipped beside the model and G(y, y) otherwise, and the result records which), and is regularised by Eq. 6's
    ``lam * ||k||`` (:meth:`KernelSpace.code_norm`) and the fast preset's Gaussian anchor
    ``k_anchor * ||k - k0||² / ||k0||²`` around its start. It is stepped jointly with the latents (one loss, both
    stepped every step).
  - ``conv``: SelfDeblur's kernel prior: one uniform ``conv_size`` px kernel, the softmax of a small MLP
    (``conv_input -> conv_hidden (ReLU6) -> conv_size²``) on fixed noise, applied as a convolution with reflect padding
    (:func:`blurkit.data.kernels.convolve`).
  - ``bicubic``: PULSE's fixed forward model, no kernel to learn: bicubic (antialiased) downsampling by
    ``bicubic_factor``, then bicubic upsampling back to y's size.

  - ``none``: B(x) = x, nothing to learn. The search then projects y itself onto the manifold: given a sharp image,
    its result is the closest image the generator makes (a ceiling on what any kernel prior can reach).

  The first three are the paper's Fig. 6 comparison; the trace has the loss of every step (``log_every=1``).
* **Data term**: ``l2`` (default, the mean squared error, as the official Sec. 3.3 code) or ``charbonnier``
  (Eq. 6's ρ, as the generic solver), times ``data_weight``.
* **Schedule**: PULSE's ``linear1cycledrop`` for the latents (the learning rate rises from 0.1x to 1x at 45 % of the
  steps, falls back to 0.1x at 90 %, then to 0.001x), the generic solver's step decay for the kernel
  (``k_lr_decay`` every ``steps // 5`` steps). ``keep="best"`` returns the iterate of lowest loss, as PULSE and the
  official code do.
* **The guard**: with ``encoded``, the generic solver's no-reference guard (:mod:`blurkit.deblur.guard`) returns y when
  the estimate cannot be trusted; its decision is in the result and in the trace (``phase`` ``guard:<reason>``). It
  reads the blur through F, so it is not applied with ``conv`` or ``bicubic`` (decision None).
* **Size**: the generator makes ``size x size`` images (a power of two) and y must be exactly that size; anything
  else raises one :class:`~blurkit.errors.ImageSizeError` line. blurkit does not resize y for the caller: resizing a
  blurry image rescales its blur too, which the caller should decide (crop or resize first).

Each image of a batch is solved on its own with seed ``seed + i`` (``seeds="offset"``) or ``seed`` (``"same"``);
the seed draws the starting latents and the ``conv`` prior's weights and input. Grayscale images are solved as RGB
and averaged back.


Checkpoints by name (:func:`resolve_generator`) are described in ``data_manifests/stylegan2_checkpoints.json``.

The parts live in their own modules, all re-exported here: the config and profiles in
:mod:`~blurkit.deblur.generator_config`, the latents in :mod:`~blurkit.deblur.generator_latents`, the kernel priors
in :mod:`~blurkit.deblur.generator_kernels`, checkpoints and the files driver in :mod:`~blurkit.deblur.generator_files`.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Callable

import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as Fnn
from tqdm.auto import tqdm

from blurkit.deblur.generator_config import (
    GENERATOR_PRIOR_PRESETS,
    GeneratorPriorConfig,
    KernelPrior,
    generator_prior_config,
)
from blurkit.deblur.generator_files import (
    LOG_COLUMNS,
    MANIFEST_FILE,
    deblur_generator_files,
    generator_manifest,
    manifest_checkpoint_path,
    resolve_generator,
)
from blurkit.deblur.generator_kernels import (
    SoftmaxKernel,
    _Bicubic,
    _Conv,
    _Encoded,
    _Identity,
    _k_start,
    _resolve_estimator,
)
from blurkit.deblur.generator_latents import GaussianFit, _one_cycle, gaussian_fit, geocross, project_to_sphere_
from blurkit.deblur.guard import GuardDecision, guard
from blurkit.deblur.per_image import frozen, log_step, solve_each
from blurkit.deblur.solver import DeblurResult
from blurkit.errors import ImageSizeError
from blurkit.generator.stylegan2 import StyleGAN2Generator, to_unit
from blurkit.space.blocks import as_rgb
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import charbonnier

Callback = Callable[[dict], None]
TRACE_COLUMNS = ["image", "kernel_prior", "phase", "step", "loss", "data", "geocross", "k_norm", "k_anchor", "time_s",
                 "psnr"]


# ---------------------------------------------------------------------------------------------------- the solver


@dataclass
class GeneratorDeblurResult(DeblurResult):
    """What :func:`deblur_generator` returns: :class:`~blurkit.deblur.solver.DeblurResult` and the latents.

    Attributes:
        x: the sharp estimates ``(B, C, H, W)`` in [0, 1] (y itself where the guard returned it).
        k: ``encoded``: the codes ``(B, kdim, h_k, w_k)``; ``conv``: the kernels ``(B, conv_size, conv_size)``;
            ``bicubic``: ``(B, 0)``.
        trace: one row per logged step and image, columns :data:`TRACE_COLUMNS` (``phase`` ``solve`` for the steps,
            ``final`` for the returned iterate, ``guard:<reason>`` for the guard's decision; ``psnr`` against the
            reference when one is given, else NaN).
        wall_s: seconds per image.
        w_plus: the W+ latents of the returned iterates ``(B, n_latent, style_dim)``.
        latents: their sphere latents, same shape.
        guard: the guard's decision per image (None where it was not applied).
        k_init: where the code started: ``estimate``, ``extract`` or ``none`` (``conv``, ``bicubic``).
    """

    w_plus: torch.Tensor
    latents: torch.Tensor
    guard: list[GuardDecision | None]
    k_init: str


def _solve_one(model: KernelSpace | None, generator: StyleGAN2Generator, fit: GaussianFit, y: torch.Tensor,
               cfg: GeneratorPriorConfig, seed: int, index: int, reference: torch.Tensor | None,
               estimator: Callable | None, bar: tqdm | None, callback: Callback | None) -> tuple:
    t0 = time.perf_counter()
    dev = generator.device
    rng = torch.Generator().manual_seed(seed)
    v = project_to_sphere_(torch.randn(1, generator.n_latent, generator.style_dim, generator=rng), [2]).to(dev)
    v.requires_grad_(True)
    noise: list[torch.Tensor] | None = None
    trainable = [v]
    if cfg.noise:
        noise = [getattr(generator.noises, f"noise_{j}").detach().clone() for j in range(generator.num_layers)]
        for j in range(min(cfg.noise_layers, len(noise))):
            noise[j] = project_to_sphere_(noise[j], [2, 3]).requires_grad_(True)
            trainable.append(noise[j])
    if cfg.kernel_prior == "encoded":
        blur: _Encoded | _Conv | _Bicubic | _Identity = _Encoded(model, _k_start(model, y, estimator))
    elif cfg.kernel_prior == "conv":
        blur = _Conv(cfg, seed, dev)
    elif cfg.kernel_prior == "bicubic":
        blur = _Bicubic(cfg.bicubic_factor)
    else:
        blur = _Identity()
    x_opt = torch.optim.Adam(trainable, lr=cfg.latent_lr, betas=cfg.betas)
    rule = (lambda s: _one_cycle(s, cfg.steps)) if cfg.lr_schedule == "linear1cycledrop" else (lambda s: 1.0)
    x_sched = torch.optim.lr_scheduler.LambdaLR(x_opt, rule)
    k_opt = k_sched = None
    if blur.params:
        k_opt = torch.optim.Adam(blur.params, lr=cfg.k_lr if cfg.kernel_prior == "encoded" else cfg.conv_lr,
                                 betas=cfg.betas)
        k_sched = torch.optim.lr_scheduler.StepLR(k_opt, step_size=max(1, cfg.steps // 5), gamma=cfg.k_lr_decay)
    rows: list[dict] = []
    state = trainable + blur.params  # everything the search changes (for the best iterate)

    def evaluate() -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        w = fit.to_wplus(v)
        x = (generator.synthesis_from_wplus(w, noise=noise) + 1) / 2  # unclamped: the gradient reaches every pixel
        pred = blur(x)
        data = Fnn.mse_loss(pred, y) if cfg.data == "l2" else charbonnier(pred, y, cfg.charbonnier_eps)
        gc = geocross(w).sum()
        k_norm, anchor = blur.terms()
        k_norm, anchor = k_norm.to(data.device), anchor.to(data.device)
        loss = cfg.data_weight * data + cfg.geocross * gc + cfg.lam * k_norm + cfg.k_anchor * anchor
        return {"loss": loss, "data": data, "geocross": gc, "k_norm": k_norm, "k_anchor": anchor}, x

    def log(step: int, phase: str, terms: dict[str, torch.Tensor], x_unit: torch.Tensor) -> None:
        """One trace row; the callback also gets the sphere latents, W+ and the noise maps."""
        def with_latents(payload: dict) -> None:
            callback({**payload, "latents": v.detach().clone(), "w_plus": fit.to_wplus(v).detach(),  # type: ignore
                      "noise": None if noise is None else [n.detach().clone() for n in noise]})

        log_step(rows, index, phase, step, {k: t.detach() for k, t in terms.items()}, t0, x_unit, blur.kernel(),
                 reference, bar, None if callback is None else with_latents)

    best_loss, best_state = math.inf, None
    for step in range(cfg.steps):
        x_opt.zero_grad(set_to_none=True)
        if k_opt is not None:
            k_opt.zero_grad(set_to_none=True)
        terms, x = evaluate()
        terms["loss"].backward()
        if step % cfg.log_every == 0:
            log(step, "solve", terms, x.detach().clamp(0, 1))
        loss_now = terms["loss"].item()
        if cfg.keep == "best" and loss_now < best_loss:
            best_loss, best_state = loss_now, [p.detach().clone() for p in state]
        x_opt.step()
        project_to_sphere_(v, [2])
        for n in trainable[1:]:
            project_to_sphere_(n, [2, 3])
        x_sched.step()
        if k_opt is not None:
            k_opt.step()
            k_sched.step()  # type: ignore[union-attr]
        if bar is not None:
            bar.update(1)
    with torch.no_grad():
        terms, x = evaluate()
        if cfg.keep == "best" and best_state is not None and best_loss < float(terms["loss"]):
            for p, saved in zip(state, best_state):
                p.copy_(saved)
            terms, x = evaluate()
    x_hat = x.detach().clamp(0, 1)  # x is already (G + 1) / 2
    log(cfg.steps, "final", terms, x_hat)
    decision = None
    if cfg.guard and cfg.kernel_prior == "encoded":  # the row repeats the final terms; its psnr is the output's
        x_hat, (decision,) = guard(model, y, x_hat, blur.kernel())  # type: ignore[arg-type]
        log(cfg.steps, f"guard:{decision.reason}", terms, x_hat)
    w = fit.to_wplus(v).detach()
    return x_hat, blur.kernel(), rows, time.perf_counter() - t0, w, v.detach().clone(), decision


def deblur_generator(model: KernelSpace | None, generator: StyleGAN2Generator, y: torch.Tensor,
                     config: str | GeneratorPriorConfig = "fast", seed: int = 0, progress: bool = True,
                     callback: Callback | None = None, *, reference: torch.Tensor | None = None,
                     estimator: Callable[[torch.Tensor], torch.Tensor] | None = None,
                     fit: GaussianFit | None = None) -> GeneratorDeblurResult:
    """Blind deblurring with x = G_style(w) on the generator's manifold (paper Sec. 3.3; module docstring).

    Args:
        model: the kernel space (F, and G or its estimator for the starting code); not changed. Only
            ``kernel_prior="encoded"`` uses it (None is accepted for ``conv``, ``bicubic`` and ``none``).
        generator: the StyleGAN2 generator (frozen during the search; not changed).
        y: blurry images in [0, 1], exactly the generator's size.
        config: a profile name (``smoke``, ``fast``, ``paper``) or a :class:`GeneratorPriorConfig`.
        seed: image i starts from seed ``seed + i`` (``seeds="offset"``) or ``seed``.
        progress: show a tqdm bar (:func:`blurkit.progress.progress_bar`).
        callback: called at each logged step with ``{"row", "x", "k", "latents", "w_plus", "noise"}``.
        reference: sharp images for the trace's PSNR column (never used by the search).
        estimator: the blind code estimator (default: the one beside the model's file, per ``k_init``).
        fit: the mapping statistics (default: :func:`gaussian_fit` with the config's ``fit_samples``, ``fit_seed``);
            pass one to reuse it over calls.

    Shape:
        y ``(B, C, S, S)`` with C in {1, 3} and S = ``generator.size`` -> x like y; k as
        :class:`GeneratorDeblurResult` says.
    """
    cfg = generator_prior_config(config)
    y3, grey = as_rgb(y, "y")
    s = generator.size
    if tuple(y3.shape[-2:]) != (s, s):
        raise ImageSizeError(f"y is {y3.shape[-2]}x{y3.shape[-1]} px but the generator makes {s}x{s} px images; "
                             f"crop or resize y to {s}x{s} first (the generator prior does not resize: that would "
                             f"rescale the blur too)")
    ref = None
    if reference is not None:
        ref, _ = as_rgb(reference, "reference")
        if ref.shape != y3.shape:
            raise ValueError(f"reference shape {tuple(reference.shape)} differs from y shape {tuple(y.shape)}")
    if cfg.kernel_prior == "encoded" and model is None:
        raise ValueError("kernel_prior='encoded' needs a kernel space (model)")
    est, k_init = _resolve_estimator(model, cfg, estimator)  # type: ignore[arg-type]
    with contextlib.ExitStack() as stack:
        for module in (model, generator, est):
            if isinstance(module, nn.Module):
                stack.enter_context(frozen(module))
        fit = fit if fit is not None else gaussian_fit(generator, cfg.fit_samples, cfg.fit_seed)
        seeds = [seed + i if cfg.seeds == "offset" else seed for i in range(y3.shape[0])]
        outs = solve_each(y3.shape[0], lambda i, bar: _solve_one(
            model, generator, fit, y3[i:i + 1].float(), cfg, seeds[i], i, None if ref is None else ref[i:i + 1],
            est, bar, callback), cfg.steps, f"deblur (generator, {cfg.kernel_prior})", progress)
    xs, ks, rows, walls, ws, vs, decisions = (list(t) for t in zip(*outs))
    trace = pd.DataFrame([r for per_image in rows for r in per_image])
    trace.insert(1, "kernel_prior", cfg.kernel_prior)
    x = torch.cat(xs)
    return GeneratorDeblurResult(x=x.mean(dim=1, keepdim=True) if grey else x, k=torch.cat(ks),
                                 trace=trace[TRACE_COLUMNS], wall_s=walls, w_plus=torch.cat(ws),
                                 latents=torch.cat(vs), guard=decisions, k_init=k_init)


__all__ = ["GENERATOR_PRIOR_PRESETS", "LOG_COLUMNS", "MANIFEST_FILE", "TRACE_COLUMNS", "GaussianFit",
           "GeneratorDeblurResult", "GeneratorPriorConfig", "KernelPrior", "SoftmaxKernel", "deblur_generator",
           "deblur_generator_files", "gaussian_fit", "generator_manifest", "generator_prior_config", "geocross",
           "manifest_checkpoint_path", "project_to_sphere_", "resolve_generator"]
