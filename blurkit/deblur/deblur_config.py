"""Settings of blind deblurring (paper Sec. 3.2, Eq. 6; supplement Sec. 2.4, 3): a frozen dataclass and presets.

Presets (``blurkit deblur --profile``):

* ``paper``: Algorithm 1 as written: DIPs for x and k from noise, alternating (inner k steps, then an x step),
  5000 outer steps and 300 warm-up steps as in the official code, λ = 6e-4, γ = 2e-2, α = 0.66, Adam (0.9, 0.99).
* ``fast``: the default for users: k from the blind code estimator E(y) (:mod:`blurkit.space.code_estimator`),
  x by the linearised deconvolution (:mod:`blurkit.deblur.linear_xstep`), then the no-reference guard
  (:mod:`blurkit.deblur.guard`); where the guard rejects the result, y deconvolved with its own blind TV kernel and
  blended with y (:mod:`blurkit.deblur.tv_fallback`); seconds per image
  (:mod:`blurkit.deblur.blind_linear`).
* ``fast-adam``: the earlier fast path: x starts from y as pixels, k from G(y, y) as a code, 300 joint Adam steps
  (it stays at the blurry input; kept for the record and as kernel retrieval's default).
* ``official``: the variant the official code runs (its ``JointDeblur``): the same DIPs, stepped jointly; x warmed
  up towards y and k towards a real blur code (here the code G extracts from a training pair,
  :mod:`blurkit.deblur.warm_code`; the official code loads one from ``kernel.pth``); the loss switches half way from
  ``0.6 ρ + (1 - SSIM) + λ‖k‖`` to ``ρ + 5e-2 · hyper-Laplacian + λ‖k‖`` (``loss="official"``). Its ρ is a VGG
  perceptual loss; no VGG weights can be had here, so ρ is Eq. 6's Charbonnier. As published, its loop never calls
  the optimisers' ``step()``, so x and k would stay at their warm-ups; this variant steps them.
* ``smoke``: tiny, for tests and CI (seconds).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from blurkit.deblur.dip import DIPConfig
from blurkit.deblur.linear_xstep import PRESET_XSTEP, LinearXStep
from blurkit.errors import UnknownNameError

Schedule = Literal["alternating", "joint"]
XParam = Literal["dip", "pixels"]
KParam = Literal["dip", "code"]
KInit = Literal["noise", "extract", "estimate", "given"]
Loss = Literal["eq6", "official"]
XStep = Literal["adam", "linear"]
Fallback = Literal["none", "tv_kernel"]


@dataclass(frozen=True)
class DeblurConfig:
    """How x and k are optimised.

    Attributes:
        schedule: ``alternating`` (Algorithm 1: ``inner_k_steps`` k updates with x fixed, then one x update) or
            ``joint`` (one loss, both updated every step).
        x_param: ``dip`` (x = G_x(z_x), Eq. 7) or ``pixels`` (x itself, starting from y).
        k_param: ``dip`` (k = G_k(z_k)) or ``code`` (k itself).
        k_init: ``noise`` (a randomly initialised prior), ``extract`` (start from G(x0, y), x0 the warm-up x),
            ``estimate`` (start from the blind code estimator E(y); ``x_step="linear"`` only) or ``given`` (the
            ``k_start`` code passed to :func:`blurkit.deblur.solver.deblur`, by default
            :func:`blurkit.deblur.warm_code.training_code`).
        x_step: ``adam`` (gradient steps through F) or ``linear`` (the linearised deconvolution of
            :mod:`blurkit.deblur.linear_xstep`, with ``linear``'s settings; :mod:`blurkit.deblur.blind_linear`).
        steps: outer steps (x updates; with ``x_step="linear"``, rounds of k refinement and x-step).
        inner_k_steps: k updates per outer step (``alternating`` only).
        reinit_k: re-initialise the kernel prior at each outer step (Algorithm 1, lines 4-5, read literally).
        warmup_steps: steps fitting the image prior to y (MSE) before deblurring (``x_param="dip"``), and the
            kernel prior to its initial code (``k_init="extract"``).
        x_lr, k_lr: Adam learning rates; both decay by ``lr_decay`` every ``steps // 5`` steps.
        betas: Adam betas (supplement: 0.9, 0.99).
        lam: weight of ``||k||_2`` (supplement: 6e-4).
        gamma: weight of the hyper-Laplacian prior (supplement: 2e-2).
        alpha: exponent of the hyper-Laplacian prior (official code: 0.66).
        charbonnier_eps: epsilon of the data term.
        reg_noise_std: std of the noise added to the priors' inputs at each step (official code: 1e-3).
        log_every: trace period in steps.
        dip: sizes of the priors.
        linear: the linear x-step's settings (``x_step="linear"``).
        k_refine_steps: Adam steps on the code with x fixed before every round but the first (``linear`` only).
        k_anchor: weight of ``||k - k0||^2 / ||k0||^2`` in the code refinement, k0 the starting code: a Gaussian
            prior around the estimate that keeps k on the learned manifold, off the no-blur code.
        guard: apply the no-reference guard (:mod:`blurkit.deblur.guard`) to the result (``linear`` only).
        calibrated_gamma: use the ``gamma`` calibrated for the kernel space on held-out training photos and stored
            in its code estimator's record (:mod:`blurkit.deblur.xstep_calibration`) in place of ``linear.gamma``,
            and the guard's thresholds calibrated there (:mod:`blurkit.deblur.guard_calibration`) in place of the
            defaults, where it has them (``linear`` only).
        loss: ``eq6`` (Eq. 6 throughout) or ``official`` (the official code's joint loss with its switch at
            ``steps // 2``: :func:`blurkit.deblur.objective.official_objective`).
        refine: after every linear x-step, apply the x-step refiner shipped beside the kernel space
            (:mod:`blurkit.deblur.refiner`, ``<model>.refiner.pt``) where there is one (``linear`` only).
        fallback: what an image the guard rejects for a poor fit or an amplified result gets: ``none`` (y) or
            ``tv_kernel`` (y deconvolved with its own blind total-variation kernel, blended with y:
            :func:`blurkit.deblur.tv_fallback.tv_fallback`; without ``guard`` nothing is rejected, so it never runs).
        fallback_iters: the TV estimate's steps per scale for ``fallback="tv_kernel"``.
    """

    schedule: Schedule = "joint"
    x_param: XParam = "dip"
    k_param: KParam = "dip"
    k_init: KInit = "noise"
    steps: int = 5000
    inner_k_steps: int = 1
    reinit_k: bool = False
    warmup_steps: int = 300
    x_lr: float = 5e-4
    k_lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.99)
    lam: float = 6e-4
    gamma: float = 2e-2
    alpha: float = 0.66
    charbonnier_eps: float = 1e-3
    reg_noise_std: float = 1e-3
    lr_decay: float = 0.7
    log_every: int = 50
    dip: DIPConfig = field(default_factory=DIPConfig)
    x_step: XStep = "adam"
    linear: LinearXStep = PRESET_XSTEP
    k_refine_steps: int = 0
    k_anchor: float = 0.0
    guard: bool = False
    calibrated_gamma: bool = True
    refine: bool = False
    loss: Loss = "eq6"
    fallback: Fallback = "none"
    fallback_iters: int = 1000

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(self.betas))
        if isinstance(self.dip, dict):
            object.__setattr__(self, "dip", DIPConfig(**self.dip))
        if isinstance(self.linear, dict):
            object.__setattr__(self, "linear", LinearXStep(**self.linear))
        choices = {"schedule": ("alternating", "joint"), "x_param": ("dip", "pixels"), "k_param": ("dip", "code"),
                   "k_init": ("noise", "extract", "estimate", "given"), "x_step": ("adam", "linear"),
                   "loss": ("eq6", "official"), "fallback": ("none", "tv_kernel")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"DeblurConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name, minimum in (("steps", 1), ("inner_k_steps", 1), ("warmup_steps", 0), ("log_every", 1),
                              ("k_refine_steps", 0), ("fallback_iters", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"DeblurConfig.{name} must be an integer >= {minimum}, got {value!r}")
        for name in ("x_lr", "k_lr", "lam", "gamma", "alpha", "charbonnier_eps", "reg_noise_std", "lr_decay",
                     "k_anchor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"DeblurConfig.{name} must be a number >= 0, got {value!r}")
        if (self.k_init == "estimate") != (self.x_step == "linear"):
            raise ValueError("DeblurConfig: k_init='estimate' goes with x_step='linear' (and only with it)")
        if self.k_param == "code" and self.k_init == "noise":
            raise ValueError("DeblurConfig: k_param='code' needs k_init='extract' or 'given' (a code has no prior to "
                             "start from)")
        if self.loss == "official" and self.x_step == "linear":
            raise ValueError("DeblurConfig: loss='official' is a loss for gradient steps (x_step='adam')")

    def replace(self, **changes: Any) -> "DeblurConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (tuples become lists)."""
        d = dataclasses.asdict(self)
        if not self.refine:  # added later: written only when on, so that earlier records' keys stay valid
            del d["refine"]
        if self.loss == "eq6":  # likewise
            del d["loss"]
        if self.fallback == "none":  # likewise; its steps matter only with a fallback
            del d["fallback"], d["fallback_iters"]
        d["betas"] = list(self.betas)
        d["dip"]["widths"] = list(self.dip.widths)
        return d


DEBLUR_PRESETS: dict[str, DeblurConfig] = {
    "paper": DeblurConfig(schedule="alternating", x_param="dip", k_param="dip", k_init="noise", steps=5000,
                          inner_k_steps=2, warmup_steps=300, log_every=50),
    "fast": DeblurConfig(schedule="joint", x_param="pixels", k_param="code", k_init="estimate", x_step="linear",
                         steps=1, warmup_steps=0, k_lr=1e-2, log_every=1, guard=True, fallback="tv_kernel"),
    "fast-adam": DeblurConfig(schedule="joint", x_param="pixels", k_param="code", k_init="extract", steps=300,
                         warmup_steps=0, x_lr=2e-3, k_lr=2e-2, log_every=10),
    "official": DeblurConfig(schedule="joint", x_param="dip", k_param="dip", k_init="given", steps=5000,
                             warmup_steps=300, log_every=50, loss="official"),
    "smoke": DeblurConfig(schedule="joint", x_param="dip", k_param="dip", k_init="noise", steps=12,
                          warmup_steps=4, x_lr=1e-2, k_lr=1e-2, log_every=4,
                          dip=DIPConfig(z_channels=4, widths=(8, 8, 8), skip=2, kz_channels=4, k_width=8)),
}


def deblur_config(name: str | DeblurConfig) -> DeblurConfig:
    """The preset called ``name`` (a :class:`DeblurConfig` passes through)."""
    if isinstance(name, DeblurConfig):
        return name
    try:
        return DEBLUR_PRESETS[name]
    except KeyError:
        raise UnknownNameError(f"unknown deblur profile '{name}'; choose one of: {', '.join(DEBLUR_PRESETS)}") from None
