"""How a StyleGAN2 generator is trained (:mod:`blurkit.generator.gan_train`): :class:`GanTrainConfig` and its profiles.

The loss and regularisers are StyleGAN2's (Karras et al. 2020, Sec. 2-3 and App. B; rosinality's ``train.py``):
non-saturating logistic loss, lazy R1 on reals every ``r1_every`` steps, optional lazy path-length regularisation
every ``path_every`` steps, style mixing, an EMA copy ``g_ema`` and Adam with betas (0, 0.99) whose learning rate
and betas are corrected for the lazy regularisation (``lr * c``, ``beta ** c`` with ``c = k / (k + 1)``).

Profiles: ``smoke`` (seconds, tests), ``cpu`` (64 px text crops on 2 CPU cores, about 1-1.5 h) and ``paper``
(rosinality's 256 px defaults, for a GPU).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from blurkit.errors import UnknownNameError
from blurkit.generator.stylegan2 import StyleGAN2Config, generator_preset


@dataclass(frozen=True)
class GanTrainConfig:
    """Settings of one GAN training run.

    Attributes:
        name: the profile name.
        generator: preset of :data:`blurkit.generator.stylegan2.GENERATOR_PRESETS` (the discriminator has the same
            widths); its ``size`` is the image side the data must have.
        batch_size: real (and fake) images per step.
        steps: optimisation steps (one discriminator and one generator update each).
        lr, betas: Adam settings before the lazy-regularisation correction.
        r1_gamma, r1_every: weight gamma of R1 = gamma / 2 * E|grad D(x)|^2 on reals, applied every ``r1_every``
            steps with the loss multiplied by ``r1_every`` (lazy regularisation); gamma 0 turns it off.
        path_weight, path_every, path_batch_shrink, path_decay: path-length regularisation (0 weight: off),
            applied every ``path_every`` steps on ``batch_size // path_batch_shrink`` samples, its target the
            running mean of the path length with decay ``path_decay``.
        mixing: probability that a batch is generated from two latents (style mixing).
        ema_half_life: half-life of the g_ema average, in images (StyleGAN2: 10k); ``ema_rampup``, when set, caps it
            at ``ema_rampup`` times the images seen so far (StyleGAN2-ADA), so a short run's g_ema is not the init.
        flip: random horizontal flips of the reals (off for text, which a mirror makes unreadable).
        ckpt_every: steps between writes of ``last.pt`` (also written at the end and on Ctrl-C).
        sample_every, n_samples: a grid of ``n_samples`` g_ema images from fixed latents every N steps and at the end.
        seed: seed of the initial weights and of every draw (step ``s`` depends only on (seed, s)).
    """

    name: str = "smoke"
    generator: str = "smoke"
    batch_size: int = 4
    steps: int = 4
    lr: float = 0.002
    betas: tuple[float, float] = (0.0, 0.99)
    r1_gamma: float = 10.0
    r1_every: int = 2
    path_weight: float = 0.0
    path_every: int = 4
    path_batch_shrink: int = 2
    path_decay: float = 0.01
    mixing: float = 0.9
    ema_half_life: float = 10_000.0
    ema_rampup: float | None = 0.05
    flip: bool = False
    ckpt_every: int = 2
    sample_every: int = 2
    n_samples: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(self.betas))
        for name in ("batch_size", "steps", "r1_every", "path_every", "path_batch_shrink", "ckpt_every",
                     "sample_every", "n_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GanTrainConfig.{name} must be a positive integer, got {value!r}")
        if not self.lr > 0 or not self.ema_half_life > 0:
            raise ValueError(f"GanTrainConfig.lr and ema_half_life must be > 0, got {self.lr}, {self.ema_half_life}")
        if self.ema_rampup is not None and not self.ema_rampup > 0:
            raise ValueError(f"GanTrainConfig.ema_rampup must be > 0 or None, got {self.ema_rampup}")
        if not (self.r1_gamma >= 0 and self.path_weight >= 0 and 0 <= self.mixing <= 1 and 0 < self.path_decay <= 1):
            raise ValueError("GanTrainConfig: r1_gamma and path_weight must be >= 0, mixing in [0, 1], path_decay in "
                             f"(0, 1]; got {self.r1_gamma}, {self.path_weight}, {self.mixing}, {self.path_decay}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"GanTrainConfig.betas must be two numbers in [0, 1), got {self.betas}")
        generator_preset(self.generator)  # an unknown preset raises UnknownNameError naming the choices

    @property
    def generator_config(self) -> StyleGAN2Config:
        return generator_preset(self.generator)

    @property
    def size(self) -> int:
        """Side (px) of the images the generator makes and the data must have."""
        return self.generator_config.size

    def ema_decay(self, step: int) -> float:
        """The g_ema decay after step ``step`` (0-based): ``0.5 ** (batch / half_life)``, the half-life ramped up."""
        half_life = self.ema_half_life
        if self.ema_rampup is not None:
            half_life = min(half_life, (step + 1) * self.batch_size * self.ema_rampup)
        return 0.5 ** (self.batch_size / max(half_life, 1e-8))

    def adam(self, every: int, on: bool) -> tuple[float, tuple[float, float]]:
        """(lr, betas) of an optimiser whose lazy regulariser runs every ``every`` steps (``on``), StyleGAN2's
        correction ``c = every / (every + 1)`` applied; without a regulariser, the plain settings."""
        c = every / (every + 1) if on else 1.0
        return self.lr * c, (self.betas[0] ** c, self.betas[1] ** c)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d


GAN_PROFILES: dict[str, GanTrainConfig] = {
    # tests and CI: 32 px, a few steps, every code path (R1, samples, checkpoints) within 4 steps
    "smoke": GanTrainConfig(),
    # 64 px text crops on 2 CPU cores. Settings of StyleGAN2-ADA's `auto` config for 64 px and batch 8: lr 0.0025,
    # gamma = 0.0002 * 64**2 / 8 = 0.1, g_ema half-life = 10k * 8 / 32 = 2.5k images with a 0.05 ramp-up; R1 every
    # 16 steps; no path-length regularisation (off to save time). Measured with OMP_NUM_THREADS=1 (torch 2.13,
    # 1.1 M + 1.2 M parameters) while two other training jobs shared the 2 cores: 0.68 s per plain step, 1.05 s
    # with R1, 0.70 s on average; 6000 steps (48k images, 12 epochs of the 4000 cpu text crops) take about 70 min.
    "cpu": GanTrainConfig(name="cpu", generator="cpu", batch_size=8, steps=6000, lr=0.0025, r1_gamma=0.1,
                          r1_every=16, path_weight=0.0, mixing=0.9, ema_half_life=2500.0, ema_rampup=0.05,
                          ckpt_every=250, sample_every=250, n_samples=16),
    # rosinality's train.py defaults at 256 px (config-f widths): batch 16, lr 0.002, R1 gamma 10 every 16 steps,
    # path length weight 2 every 4 steps on half the batch, mixing 0.9, 800k steps, g_ema 0.5 ** (32 / 10k).
    "paper": GanTrainConfig(name="paper", generator="ffhq-256", batch_size=16, steps=800_000, lr=0.002,
                            r1_gamma=10.0, r1_every=16, path_weight=2.0, path_every=4, path_batch_shrink=2,
                            mixing=0.9, ema_half_life=5000.0, ema_rampup=None, ckpt_every=10_000,
                            sample_every=1000, n_samples=16),
}


def gan_train_config(profile: str | GanTrainConfig) -> GanTrainConfig:
    """The config of a named profile (a config passes through); an unknown name raises UnknownNameError."""
    if isinstance(profile, GanTrainConfig):
        return profile
    try:
        return GAN_PROFILES[profile]
    except KeyError:
        raise UnknownNameError(f"unknown GAN profile '{profile}'; choose one of: {', '.join(GAN_PROFILES)}") \
            from None
