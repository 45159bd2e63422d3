"""Training settings of the learned baselines (SRN-Deblur, DeblurGAN-v2): a frozen dataclass and named profiles.

``smoke`` finishes in seconds on one CPU core (CI); ``cpu`` is the best recipe measured on this project's 2-core
CPU machines within about 10 minutes of ONE core (:data:`CPU_SECONDS_PER_STEP`; the probes are in
``docs/baselines.md``); ``paper`` follows the papers:

* SRN-Deblur: 256 px crops, batch 16, Adam (0.9, 0.999), lr 1e-4 decayed polynomially (power 0.3) to 1e-6 over
  2000 epochs of the 2103 GOPRO training pairs (2000 * 2103 / 16 ~ 263k steps);
* DeblurGAN-v2: 256 px crops, batch 1, Adam lr 1e-4 for generator and discriminator, 200 epochs of 1000 batches
  (official config.yaml), constant for the first 50 epochs then linearly decayed to 1e-7.

Where ``cpu`` differs from the papers, and why (each measured on reds-like's 44 test pairs, ``docs/baselines.md``):

* SRN-Deblur (recipe N over 3000 steps): the ``cpu-carry`` network (each finer scale adds its residual to the
  coarser scale's upsampled estimate), Charbonnier loss plus a Fourier-domain L1 term (weight 0.1) instead of MSE,
  lr 1e-3 instead of 1e-4, 128 px crops, batch 4: +0.57 dB over blurry, against +0.27 dB for the 1000-step MSE
  recipe this profile had before.
* DeblurGAN-v2 (recipe E over 6000 steps): the ``cpu-l1`` generator loss, L1 content and adversarial weight 0 (at
  the paper's 0.001 the adversarial term pulled a short-trained generator away from the target, probe A; at 0 the
  discriminator is skipped), lr 1e-3 constant for half the steps then linear to 1e-5, 128 px crops, batch 4:
  +0.39 dB, against -0.16 dB before.

Both are still short of the targets of issue 17 (+1.5 and +1.0 dB). ``paper`` turns bf16 autocast on (blurkit's
choice for speed on GPUs; the papers trained in fp32).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from blurkit.errors import UnknownNameError

MODELS = ("srn", "deblurganv2")
SCHEDULES = ("poly", "linear")


@dataclass(frozen=True)
class BaselineTrainConfig:
    """How one baseline is trained.

    Attributes:
        model: ``srn`` or ``deblurganv2``.
        net: preset of the network sizes (:data:`blurkit.baselines.srn.SRN_PRESETS`,
            :data:`blurkit.baselines.deblurganv2.GAN_PRESETS`).
        crop: side of the random training crops (px).
        batch_size: crops per step.
        steps: optimisation steps.
        lr: initial learning rate of the network (and of the discriminator, for DeblurGAN-v2).
        lr_end: final learning rate.
        schedule: ``poly`` (``(lr - lr_end) * (1 - t/T)**power + lr_end``, SRN) or ``linear`` (constant until
            ``decay_start * steps``, then linear down to ``lr_end``; DeblurGAN-v2).
        power: exponent of the ``poly`` schedule.
        decay_start: fraction of the steps after which the ``linear`` schedule starts decaying.
        betas: Adam betas.
        val_every, val_pairs: validation PSNR on this many held-out pairs every N steps.
        ckpt_every: checkpoint period in steps (also at the end and on Ctrl-C).
        bf16: bf16 autocast, with the networks in channels-last layout: for GPUs, and for CPUs with AMX or AVX-512
            BF16 (oneDNN), where it makes SRN-Deblur steps 2.4x (`cpu`) and 4.5x (`paper`) faster, DeblurGAN-v2 steps
            1.2-1.7x (`blurkit bench baseline-train`, `results/bench/baseline_train.csv`). On CPUs without native
            bf16 (AVX2 only) it is emulated and 11-14x slower (`results/bench/avx2/`); training warns
            (:func:`blurkit.precision.warn_if_slow_bf16`).
        seed: seed of the initial weights, of every batch and of the discriminator's crops.
        loss: SRN-Deblur's per-scale loss: ``mse`` (the paper), ``l1`` or ``charbonnier``.
        fft_weight: weight of an added frequency-domain L1 term (:func:`blurkit.space.losses.frequency_l1`, after
            MIMO-UNet), per scale for SRN-Deblur and on the generator's output for DeblurGAN-v2; 0 (the papers):
            none.
        crop_select: each training crop is the most blurred of this many random candidates (the largest mean
            squared blurry-sharp difference, :meth:`blurkit.space.train.PairBank.batch`); 1 (the papers): uniform.
    """

    model: str = "srn"
    net: str = "smoke"
    crop: int = 48
    batch_size: int = 2
    steps: int = 40
    lr: float = 1e-4
    lr_end: float = 1e-6
    schedule: str = "poly"
    power: float = 0.3
    decay_start: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    val_every: int = 20
    val_pairs: int = 4
    ckpt_every: int = 20
    bf16: bool = False
    seed: int = 0
    loss: str = "mse"
    fft_weight: float = 0.0
    crop_select: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(self.betas))
        if self.model not in MODELS:
            raise UnknownNameError(f"unknown baseline '{self.model}'; choose one of: {', '.join(MODELS)}")
        if self.loss not in ("mse", "l1", "charbonnier"):
            raise ValueError(f"BaselineTrainConfig.loss must be mse, l1 or charbonnier, got {self.loss!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"BaselineTrainConfig.schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.fft_weight < 0:
            raise ValueError(f"BaselineTrainConfig.fft_weight must be >= 0, got {self.fft_weight}")
        for name in ("crop", "batch_size", "steps", "val_every", "val_pairs", "ckpt_every", "crop_select"):
            if getattr(self, name) < 1:
                raise ValueError(f"BaselineTrainConfig.{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def lr_factor(self, step: int) -> float:
        """Multiplier of ``lr`` after ``step`` optimisation steps (for ``LambdaLR``)."""
        t = min(max(step / self.steps, 0.0), 1.0)
        end = self.lr_end / self.lr
        if self.schedule == "poly":
            return (1 - end) * (1 - t) ** self.power + end
        if t <= self.decay_start:
            return 1.0
        return 1 - (1 - end) * (t - self.decay_start) / max(1e-12, 1 - self.decay_start)


# Seconds per step of the ``cpu`` profile on one core of this project's AMD EPYC machines (OMP_NUM_THREADS=1,
# validation included), reds-like: SRN-Deblur 3000 steps in 586 s, DeblurGAN-v2 6000 steps in 432 s.
CPU_SECONDS_PER_STEP = {"srn": 0.20, "deblurganv2": 0.072}

_SRN = BaselineTrainConfig(model="srn", schedule="poly", power=0.3, lr_end=1e-6)
_GAN = BaselineTrainConfig(model="deblurganv2", schedule="linear", decay_start=0.25, lr_end=1e-7)

BASELINE_PROFILES: dict[str, dict[str, BaselineTrainConfig]] = {
    "srn": {
        "smoke": dataclasses.replace(_SRN, net="smoke", crop=48, batch_size=2, steps=30, lr=2e-3, lr_end=2e-5,
                                     val_every=15, val_pairs=2, ckpt_every=15),
        "cpu": dataclasses.replace(_SRN, net="cpu-carry", crop=128, batch_size=4, steps=3000, lr=1e-3, lr_end=1e-6,
                                   loss="charbonnier", fft_weight=0.1, val_every=500, val_pairs=16, ckpt_every=500),
        "paper": dataclasses.replace(_SRN, net="paper", crop=256, batch_size=16, steps=263_000, lr=1e-4,
                                     lr_end=1e-6, val_every=5000, val_pairs=100, ckpt_every=5000, bf16=True),
    },
    "deblurganv2": {
        "smoke": dataclasses.replace(_GAN, net="smoke", crop=64, batch_size=2, steps=30, lr=1e-3, lr_end=1e-5,
                                     val_every=15, val_pairs=2, ckpt_every=15),
        "cpu": dataclasses.replace(_GAN, net="cpu-l1", crop=128, batch_size=4, steps=6000, lr=1e-3, lr_end=1e-5,
                                   decay_start=0.5, val_every=1000, val_pairs=16, ckpt_every=500),
        "paper": dataclasses.replace(_GAN, net="paper", crop=256, batch_size=1, steps=200_000, lr=1e-4,
                                     lr_end=1e-7, val_every=5000, val_pairs=100, ckpt_every=5000, bf16=True),
    },
}


def get_baseline_config(model: str, profile: str | BaselineTrainConfig) -> BaselineTrainConfig:
    """The training config of ``model`` under a named profile (a config passes through, checked against model)."""
    if model not in BASELINE_PROFILES:
        raise UnknownNameError(f"unknown baseline '{model}'; choose one of: {', '.join(MODELS)}")
    if isinstance(profile, BaselineTrainConfig):
        if profile.model != model:
            raise UnknownNameError(f"the given config trains '{profile.model}', not '{model}'")
        return profile
    try:
        return BASELINE_PROFILES[model][profile]
    except KeyError:
        raise UnknownNameError(f"unknown baseline profile '{profile}'; choose one of: "
                               f"{', '.join(BASELINE_PROFILES[model])}") from None
