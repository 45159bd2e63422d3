"""The settings of the generator-prior solver (:mod:`blurkit.deblur.generator_prior`): the config and its profiles.

:class:`GeneratorPriorConfig` holds every choice of the search (latents, kernel prior, data term, schedule, guard);
:data:`GENERATOR_PRIOR_PRESETS` names the ``smoke``, ``fast`` and ``paper`` profiles.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from blurkit.errors import UnknownNameError

KernelPrior = Literal["encoded", "conv", "bicubic", "none"]


@dataclass(frozen=True)
class GeneratorPriorConfig:
    """How the latents and the kernel are optimised (see :mod:`blurkit.deblur.generator_prior` for the terms).

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
        kernel_prior: ``encoded``, ``conv``, ``bicubic`` or ``none`` (B(x) = x: the projection of y onto the
            manifold, a diagnostic of how close the generator gets to an image).
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
                   "k_init": ("auto", "estimate", "extract"), "kernel_prior": ("encoded", "conv", "bicubic", "none"),
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


__all__ = ["GENERATOR_PRIOR_PRESETS", "GeneratorPriorConfig", "KernelPrior", "generator_prior_config"]
