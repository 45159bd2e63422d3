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

  These three are the paper's Fig. 6 comparison; the trace has the loss of every step (``log_every=1``).
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
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as Fnn
from tqdm.auto import tqdm

from blurkit import paths
from blurkit.data.images import read_image, write_image
from blurkit.data.kernels import convolve
from blurkit.deblur.deblur_files import output_names
from blurkit.deblur.dip import seeded
from blurkit.deblur.guard import GuardDecision, guard
from blurkit.deblur.per_image import frozen, log_step, solve_each
from blurkit.deblur.psf import save_psf_png
from blurkit.deblur.solver import DeblurResult, code_estimator_for
from blurkit.errors import BlurkitError, ImageSizeError, UnknownNameError
from blurkit.files import atomic_path
from blurkit.generator.checkpoints import load_pretrained
from blurkit.generator.stylegan2 import StyleGAN2Generator, to_unit
from blurkit.progress import progress_bar
from blurkit.provenance import provenance, save_result
from blurkit.space.blocks import as_rgb
from blurkit.space.code_estimator import estimator_path
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import charbonnier

Callback = Callable[[dict], None]
KernelPrior = Literal["encoded", "conv", "bicubic"]
TRACE_COLUMNS = ["image", "kernel_prior", "phase", "step", "loss", "data", "geocross", "k_norm", "k_anchor", "time_s",
                 "psnr"]
MANIFEST_FILE = "stylegan2_checkpoints.json"
LOG_COLUMNS = ["input", "output", "status", "wall_s", "final_loss", "guard"]


@dataclass(frozen=True)
class GeneratorPriorConfig:
    """How the latents and the kernel are optimised (see the module docstring for the terms).

    Attributes:
        steps: joint Adam steps (latents and kernel both stepped every step).
        latent_lr: Adam learning rate of the sphere latents and noise maps (official config 0.2, PULSE 0.4).
        lr_schedule: ``linear1cycledrop`` (PULSE's) or ``fixed``, for the latents.
        k_lr: Adam learning rate of the kernel code (``encoded``).
        conv_lr: Adam learning rate of the ``conv`` prior's MLP (SelfDeblur's 1e-4).
        k_lr_decay: the kernel's learning rates are multiplied by this every ``steps // 5`` steps.
        betas: Adam betas (PULSE: torch's default 0.9, 0.999).
        data: ``l2`` (mean squared error, the official Sec. 3.3 code) or ``charbonnier`` (Eq. 6's ρ).
        data_weight: weight of the data term (official: 100).
        charbonnier_eps: epsilon of the Charbonnier data term.
        geocross: weight of GEOCROSS (official: 0.1).
        lam: weight of ``||k||`` (:meth:`KernelSpace.code_norm`; official Sec. 3.3 code: 1e-4).
        k_anchor: weight of ``||k - k0||² / ||k0||²`` around the starting code (the fast preset's anchor).
        k_init: ``auto`` (E(y) when the model has an estimator beside it, else G(y, y)), ``estimate`` (E(y), an
            error without one) or ``extract`` (G(y, y)).
        kernel_prior: ``encoded``, ``conv`` or ``bicubic``.
        conv_size: side of the ``conv`` kernel (odd).
        conv_input, conv_hidden: sizes of the ``conv`` prior's MLP (SelfDeblur: 200, 1000).
        bicubic_factor: the ``bicubic`` forward model's down/up-sampling factor.
        noise: optimise noise maps too.
        noise_layers: how many of the coarsest noise maps are trainable with ``noise`` (official config: 5).
        fit_samples: z drawn to estimate the mapping network's statistics (PULSE: 1,000,000).
        fit_seed: seed of those draws (a property of the generator, not of the image).
        seeds: ``offset`` (image i starts from seed + i) or ``same`` (every image from seed).
        keep: ``best`` (the iterate of lowest loss, as PULSE) or ``last``.
        guard: apply the no-reference guard (``encoded`` only).
        log_every: trace period in steps (1: every step, for convergence plots).
    """

    steps: int = 300
    latent_lr: float = 0.2
    lr_schedule: Literal["linear1cycledrop", "fixed"] = "linear1cycledrop"
    k_lr: float = 2e-2
    conv_lr: float = 1e-4
    k_lr_decay: float = 0.7
    betas: tuple[float, float] = (0.9, 0.999)
    data: Literal["l2", "charbonnier"] = "l2"
    data_weight: float = 100.0
    charbonnier_eps: float = 1e-3
    geocross: float = 0.1
    lam: float = 1e-4
    k_anchor: float = 0.0
    k_init: Literal["auto", "estimate", "extract"] = "auto"
    kernel_prior: KernelPrior = "encoded"
    conv_size: int = 15
    conv_input: int = 200
    conv_hidden: int = 1000
    bicubic_factor: int = 4
    noise: bool = False
    noise_layers: int = 5
    fit_samples: int = 10_000
    fit_seed: int = 0
    seeds: Literal["offset", "same"] = "offset"
    keep: Literal["best", "last"] = "best"
    guard: bool = True
    log_every: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(self.betas))
        choices = {"lr_schedule": ("linear1cycledrop", "fixed"), "data": ("l2", "charbonnier"),
                   "k_init": ("auto", "estimate", "extract"), "kernel_prior": ("encoded", "conv", "bicubic"),
                   "seeds": ("offset", "same"), "keep": ("best", "last")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"GeneratorPriorConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name, minimum in (("steps", 1), ("conv_size", 1), ("conv_input", 1), ("conv_hidden", 1),
                              ("bicubic_factor", 2), ("noise_layers", 0), ("fit_samples", 2), ("fit_seed", 0),
                              ("log_every", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"GeneratorPriorConfig.{name} must be an integer >= {minimum}, got {value!r}")
        if self.conv_size % 2 == 0:
            raise ValueError(f"GeneratorPriorConfig.conv_size must be odd, got {self.conv_size}")
        for name in ("latent_lr", "k_lr", "conv_lr", "k_lr_decay", "data_weight", "charbonnier_eps", "geocross",
                     "lam", "k_anchor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"GeneratorPriorConfig.{name} must be a number >= 0, got {value!r}")
        if not isinstance(self.noise, bool) or not isinstance(self.guard, bool):
            raise ValueError("GeneratorPriorConfig.noise and .guard must be booleans")

    def replace(self, **changes: Any) -> GeneratorPriorConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d


GENERATOR_PRIOR_PRESETS: dict[str, GeneratorPriorConfig] = {
    # seconds on a tiny generator: tests and CI
    "smoke": GeneratorPriorConfig(steps=8, fit_samples=256, conv_size=5, conv_input=16, conv_hidden=32),
    # the default, 300 steps: with the 256 px FFHQ-sized generator a step took about 6 s on one busy CPU thread
    # (random weights, the gopro-like kernel space), so about half an hour per image there; meant for a GPU
    "fast": GeneratorPriorConfig(),
    # the official config's 25 rounds of 300 latent steps (joint here: the code moves on each of them), PULSE's
    # 10^6 samples for the mapping statistics and its 5 trainable noise maps
    "paper": GeneratorPriorConfig(steps=7500, fit_samples=1_000_000, noise=True, noise_layers=5),
}


def generator_prior_config(name: str | GeneratorPriorConfig) -> GeneratorPriorConfig:
    """The profile called ``name`` (a :class:`GeneratorPriorConfig` passes through)."""
    if isinstance(name, GeneratorPriorConfig):
        return name
    try:
        return GENERATOR_PRIOR_PRESETS[name]
    except KeyError:
        raise UnknownNameError(f"unknown generator-prior profile '{name}'; choose one of: "
                               f"{', '.join(GENERATOR_PRIOR_PRESETS)}") from None


# ---------------------------------------------------------------------------------------------------- latents


@dataclass(frozen=True)
class GaussianFit:
    """Per-dimension moments of ``lrelu(w, 5)``, w = the mapping network's output, from ``samples`` seeded z.

    Shape: ``mean``, ``std`` ``(style_dim,)``.
    """

    mean: torch.Tensor
    std: torch.Tensor
    samples: int
    seed: int

    def to_wplus(self, v: torch.Tensor) -> torch.Tensor:
        """Sphere latents to W+: ``lrelu(v * std + mean, 0.2)``. Shape: ``(B, n_latent, d)`` -> same."""
        return Fnn.leaky_relu(v * self.std + self.mean, 0.2)


@torch.no_grad()
def gaussian_fit(generator: StyleGAN2Generator, samples: int = 10_000, seed: int = 0,
                 chunk: int = 8192) -> GaussianFit:
    """The mapping network's statistics for PULSE's latent parameterisation (moments accumulated in float64)."""
    if samples < 2:
        raise ValueError(f"gaussian_fit needs at least 2 samples, got {samples}")
    d = generator.style_dim
    rng = torch.Generator().manual_seed(seed)
    s1 = torch.zeros(d, dtype=torch.float64)
    s2 = torch.zeros(d, dtype=torch.float64)
    for start in range(0, samples, chunk):
        z = torch.randn(min(chunk, samples - start), d, generator=rng).to(generator.device)
        u = Fnn.leaky_relu(generator.get_latent(z), 5.0).double().cpu()
        s1 += u.sum(0)
        s2 += u.pow(2).sum(0)
    mean = s1 / samples
    var = ((s2 - samples * mean.pow(2)) / (samples - 1)).clamp_min(0)
    dev = generator.device
    return GaussianFit(mean.float().to(dev), var.sqrt().float().to(dev), samples, seed)


def project_to_sphere_(t: torch.Tensor, dims: Sequence[int]) -> torch.Tensor:
    """Rescale ``t`` in place so that each slice over ``dims`` has norm ``sqrt(number of its elements)``."""
    n = math.prod(t.shape[i] for i in dims)
    with torch.no_grad():
        t.mul_(math.sqrt(n) / torch.linalg.vector_norm(t, dim=tuple(dims), keepdim=True).clamp_min(1e-30))
    return t


def geocross(w_plus: torch.Tensor) -> torch.Tensor:
    """PULSE's GEOCROSS of W+ latents (module docstring): 0 exactly when every layer is the same vector.

    Shape:
        ``(B, n, d)`` -> ``(B,)``.
    """
    b, n, d = w_plus.shape
    if n < 2:
        return w_plus.new_zeros(b)
    diff = (w_plus[:, :, None] - w_plus[:, None]).pow(2).sum(-1)  # (B, n, n): |w_i - w_j|²
    summ = (w_plus[:, :, None] + w_plus[:, None]).pow(2).sum(-1)
    apart = diff > 0  # equal vectors: angle 0, and no sqrt(0) in the graph (its gradient is infinite)
    theta = 2 * torch.atan2(torch.where(apart, diff, 1.0).sqrt(), summ.clamp_min(1e-30).sqrt())
    theta = torch.where(apart, theta, 0.0)
    return theta.pow(2).mean((1, 2)) * d / max((n - 2) / 2, 1.0)


def _one_cycle(step: int, steps: int) -> float:
    """PULSE's ``linear1cycledrop`` multiplier: 0.1 -> 1 -> 0.1 over 90 % of the steps, then down to 0.001."""
    top = 0.9 * steps
    if step < top:
        return 0.1 + 0.9 * (1 - abs(2 * step / top - 1))
    return 0.1 + (step - top) / max(steps - top, 1e-12) * (0.001 - 0.1)


# ---------------------------------------------------------------------------------------------------- kernel priors


class _Encoded:
    """B(x) = F(x, k) with k a code of the kernel space, started at ``k0``."""

    def __init__(self, model: KernelSpace, k0: torch.Tensor) -> None:
        self.model, self.k0 = model, k0.detach()
        self.code = nn.Parameter(k0.detach().clone())
        self.params = [self.code]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.apply(x, self.code)

    def terms(self) -> tuple[torch.Tensor, torch.Tensor]:
        anchor = (self.code - self.k0).pow(2).mean() / self.k0.pow(2).mean().clamp_min(1e-12)
        return self.model.code_norm(self.code), anchor

    def kernel(self) -> torch.Tensor:
        return self.code.detach()


class SoftmaxKernel(nn.Module):
    """SelfDeblur's uniform kernel prior: ``softmax(MLP(z))`` over ``size²`` taps, z fixed noise in [0, 0.1).

    Shape:
        ``() -> (size, size)``, non-negative, summing to 1.
    """

    def __init__(self, size: int, z_dim: int, hidden: int, seed: int) -> None:
        super().__init__()
        self.size = size
        with seeded(seed):
            self.net = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU6(), nn.Linear(hidden, size * size))
        self.register_buffer("z", torch.rand(z_dim, generator=torch.Generator().manual_seed(seed)) * 0.1)

    def forward(self) -> torch.Tensor:
        return self.net(self.z).softmax(-1).view(self.size, self.size)


class _Conv:
    """B(x) = x convolved with one learned softmax kernel."""

    def __init__(self, cfg: GeneratorPriorConfig, seed: int, device: torch.device) -> None:
        self.net = SoftmaxKernel(cfg.conv_size, cfg.conv_input, cfg.conv_hidden, seed).to(device)
        self.params = list(self.net.parameters())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return convolve(x, self.net())

    def terms(self) -> tuple[torch.Tensor, torch.Tensor]:
        zero = self.net.z.new_zeros(())
        return zero, zero

    def kernel(self) -> torch.Tensor:
        with torch.no_grad():
            return self.net()[None]


class _Bicubic:
    """B(x) = bicubic upsampling of the bicubic (antialiased) downsampling of x: nothing to learn."""

    def __init__(self, factor: int) -> None:
        self.factor = factor
        self.params: list[nn.Parameter] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        small = Fnn.interpolate(x, size=(max(1, h // self.factor), max(1, w // self.factor)), mode="bicubic",
                                align_corners=False, antialias=True)
        return Fnn.interpolate(small, size=(h, w), mode="bicubic", align_corners=False)

    def terms(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.zeros(()), torch.zeros(())

    def kernel(self) -> torch.Tensor:
        return torch.zeros(1, 0)


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


def _k_start(model: KernelSpace, y: torch.Tensor, estimator: Callable | None) -> torch.Tensor:
    with torch.no_grad():
        return (estimator(y) if estimator is not None else model.encode(y, y)).detach()


def _resolve_estimator(model: KernelSpace, cfg: GeneratorPriorConfig, estimator: Callable | None) -> tuple:
    """The estimator to start codes from (or None: G(y, y)) and the name of the start."""
    if cfg.kernel_prior != "encoded":
        return None, "none"
    if cfg.k_init == "extract":
        return None, "extract"
    if estimator is None:
        source = getattr(model, "source", None)
        if cfg.k_init == "estimate" or (source is not None and estimator_path(source).is_file()):
            estimator = code_estimator_for(model)  # one line naming the file when there is none
    return estimator, "estimate" if estimator is not None else "extract"


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
        blur: _Encoded | _Conv | _Bicubic = _Encoded(model, _k_start(model, y, estimator))
    elif cfg.kernel_prior == "conv":
        blur = _Conv(cfg, seed, dev)
    else:
        blur = _Bicubic(cfg.bicubic_factor)
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
            log(step, "solve", terms, to_unit(x.detach()))
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
    x_hat = to_unit(x.detach())
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
            ``kernel_prior="encoded"`` uses it (None is accepted for ``conv`` and ``bicubic``).
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


# ---------------------------------------------------------------------------------------------------- checkpoints


def generator_manifest() -> dict[str, dict]:
    """The entries of ``data_manifests/stylegan2_checkpoints.json`` by name."""
    path = Path(paths.MANIFEST_DIR) / MANIFEST_FILE
    try:
        data = json.loads(path.read_text())
        return {e["name"]: e for e in data["checkpoints"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BlurkitError(f"cannot read the generator manifest '{path}': {exc}") from None


def manifest_checkpoint_path(entry: dict) -> Path:
    """Where a manifest entry's file is expected: under ``$BLURKIT_DATA`` (``root: data``) or the package
    (``root: package``)."""
    root = paths.data_root() if entry["root"] == "data" else paths.PACKAGE_DIR
    return root / entry["file"]


def resolve_generator(name_or_path: str | os.PathLike, map_location: str | torch.device = "cpu") -> StyleGAN2Generator:
    """A generator from a checkpoint path (any format :func:`~blurkit.generator.checkpoints.load_pretrained` reads)
    or a manifest entry name (``ffhq-256``, ``text-cpu``); a missing file raises one line naming the entry and the
    path it is expected at."""
    text = os.fspath(name_or_path)
    if (isinstance(name_or_path, os.PathLike) or "/" in text or os.sep in text or text.endswith((".pt", ".pkl"))
            or Path(text).is_file()):
        return load_pretrained(Path(text).expanduser(), map_location)
    entries = generator_manifest()
    if text not in entries:
        raise UnknownNameError(f"unknown generator '{text}': give a checkpoint path or an entry of "
                               f"data_manifests/{MANIFEST_FILE} ({', '.join(entries)})")
    entry = entries[text]
    path = manifest_checkpoint_path(entry)
    if not path.is_file():
        raise BlurkitError(f"generator '{text}' (entry '{text}' of data_manifests/{MANIFEST_FILE}) is not at "
                           f"'{path}': {entry['get']}")
    return load_pretrained(path, map_location, manifest_entry=text)


# ---------------------------------------------------------------------------------------------------- files


def deblur_generator_files(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                           model: str | os.PathLike | KernelSpace, generator: str | os.PathLike | StyleGAN2Generator,
                           config: str | GeneratorPriorConfig = "fast", seed: int = 0, save_kernel: bool = False,
                           skip_existing: bool = False, progress: bool = True,
                           device: str | torch.device | None = None) -> pd.DataFrame:
    """``blurkit deblur --prior generator``: each input deblurred into ``out_dir`` (same name) and written when done.

    Like :func:`blurkit.deblur.deblur_files.deblur_files` (``deblur_log.csv`` with provenance, rewritten after every
    image; ``skip_existing`` to resume; ``save_kernel`` writes ``<name>.kernel.pt`` and, for codes, the PSF drawing),
    with a ``guard`` column. Missing, unreadable or wrongly sized inputs fail before any work starts.
    """
    cfg = generator_prior_config(config)
    paths_in = [Path(p) for p in inputs]
    if not paths_in:
        raise BlurkitError("no input images given")
    missing = [str(p) for p in paths_in if not p.is_file()]
    if missing:
        raise BlurkitError(f"input image(s) not found: {', '.join(missing[:5])}")
    images = [read_image(p, mode="keep") for p in paths_in]
    gen = generator if isinstance(generator, StyleGAN2Generator) else resolve_generator(generator)
    bad = [f"'{p}' ({img.shape[0]}x{img.shape[1]})" for p, img in zip(paths_in, images)
           if img.shape[:2] != (gen.size, gen.size)]
    if bad:
        raise ImageSizeError(f"the generator makes {gen.size}x{gen.size} px images; these inputs differ: "
                             f"{', '.join(bad[:5])}")
    ks = model if isinstance(model, KernelSpace) else KernelSpace.load(model)
    if device is not None:
        ks, gen = ks.to(device), gen.to(device)
    dev = gen.device
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = output_names(paths_in)
    fit = gaussian_fit(gen, cfg.fit_samples, cfg.fit_seed)
    record = {"config": cfg.to_dict(), "seed": seed, "prior": "generator",
              "model": str(model) if not isinstance(model, KernelSpace) else "in-memory",
              "generator": str(generator) if not isinstance(generator, StyleGAN2Generator) else "in-memory",
              "model_provenance": ks.provenance, "generator_provenance": gen.provenance}
    rows: list[dict] = []
    start = time.perf_counter()

    def write_log() -> pd.DataFrame:
        table = pd.DataFrame(rows, columns=LOG_COLUMNS)
        rec = provenance(config=record["config"], seed=seed, wall_time_s=time.perf_counter() - start,
                         **{k: v for k, v in record.items() if k not in ("config", "seed")})
        save_result(table, "deblur_log", out, rec)
        return table

    for i, (path, img, name) in enumerate(progress_bar(list(zip(paths_in, images, names)), desc="deblur", unit="img",
                                                       disable=not progress)):
        target = out / name
        if skip_existing and target.exists():
            rows.append({"input": str(path), "output": str(target), "status": "skipped (exists)", "wall_s": 0.0,
                         "final_loss": float("nan"), "guard": ""})
            continue
        y = torch.from_numpy(img).permute(2, 0, 1)[None].float().to(dev)
        res = deblur_generator(ks, gen, y, cfg, seed=seed + i, progress=progress, fit=fit)
        write_image(target, res.x[0].permute(1, 2, 0).cpu().numpy())
        if save_kernel:
            with atomic_path(out / f"{name}.kernel.pt") as tmp:
                torch.save(res.k.cpu().clone(), tmp)
            if cfg.kernel_prior == "encoded":
                save_psf_png(str(out / f"{Path(name).stem}.psf.png"), ks, res.k, tuple(y.shape[-2:]))
        decision = res.guard[0]
        final = res.trace[res.trace.phase == "final"]
        rows.append({"input": str(path), "output": str(target), "status": "done", "wall_s": res.wall_s[0],
                     "final_loss": float(final["loss"].iloc[-1]),
                     "guard": "" if decision is None else decision.reason})
        write_log()
    return write_log()


__all__ = ["GENERATOR_PRIOR_PRESETS", "TRACE_COLUMNS", "GaussianFit", "GeneratorDeblurResult", "GeneratorPriorConfig",
           "SoftmaxKernel", "deblur_generator", "deblur_generator_files", "gaussian_fit", "generator_manifest",
           "generator_prior_config", "geocross", "manifest_checkpoint_path", "project_to_sphere_",
           "resolve_generator"]
