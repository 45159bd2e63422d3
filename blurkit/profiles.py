"""Named run profiles: frozen dataclasses, one per scale.

``smoke`` runs in CI in minutes, ``cpu`` on a 2-core laptop in hours, ``paper`` follows the paper's settings on a
GPU. Every artefact records the profile it was made with (see :mod:`blurkit.provenance`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from blurkit.errors import UnknownNameError


@dataclass(frozen=True)
class DataConfig:
    """How the embedded default data is built.

    Attributes:
        crop: side of the square sharp/blurry pairs synthesised from the photos (px).
        train_pairs_per_photo: pairs cut from each training photo, per domain.
        test_pairs_per_photo: pairs cut from each test photo, per domain.
        seed: seed of the synthesis (a pair's randomness depends only on (seed, split, index)).
    """

    crop: int = 64
    train_pairs_per_photo: int = 1
    test_pairs_per_photo: int = 1
    seed: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """How F and G are trained (paper Eq. 4; supplement Sec. 3).

    Attributes:
        net: network preset of :data:`blurkit.space.netconfig.NET_PRESETS`.
        crop: side of the random training crops (px); a multiple of 128 wastes no padding.
        batch_size: crops per step (the global batch; split across DDP ranks).
        steps: optimisation steps.
        lr, betas: Adam settings (paper: 1e-4, (0.9, 0.99)).
        restart_period: steps per cosine-annealing cycle (warm restarts after each), ``eta_min`` its floor.
        charbonnier_eps: epsilon of the Charbonnier loss.
        val_every, val_pairs: validation PSNR on this many held-out pairs every N steps.
        ckpt_every: checkpoint period in steps (a checkpoint is also written at the end and on interrupt).
        bf16: bf16 autocast (on CUDA; measured slower on CPUs without bf16 units, see ``blurkit bench train``).
        channels_last: channels-last memory format (measured faster on CPU).
        seed: seed of the initial weights and of every batch (batch ``s`` depends only on (seed, s, rank)).
        kernel_weight: weight of a second loss term, the relative squared error of the kernel F reads off every
            code cell of ``G(x, y)`` against the pair's true kernel (blurkit's option, not the paper's: it needs
            synthetic pairs whose blur the manifest records, :mod:`blurkit.data.true_kernels`, and F with the
            kernel head). 0: the paper's loss alone.
    """

    net: str = "smoke"
    crop: int = 64
    batch_size: int = 2
    steps: int = 40
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    restart_period: int = 40
    eta_min: float = 1e-6
    charbonnier_eps: float = 1e-3
    val_every: int = 20
    val_pairs: int = 4
    ckpt_every: int = 20
    bf16: bool = False
    channels_last: bool = True
    seed: int = 0
    kernel_weight: float = 0.0


@dataclass(frozen=True)
class Profile:
    """A named bundle of settings. Later stages add their own sections."""

    name: str
    description: str
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        """Plain JSON data (tuples become lists), as stored in provenance records."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="CI: tiny crops, one pair per photo, minutes on 2 CPU cores",
        data=DataConfig(crop=64, train_pairs_per_photo=1, test_pairs_per_photo=1),
        train=TrainConfig(net="smoke", crop=64, batch_size=2, steps=40, lr=5e-4, restart_period=40, val_every=20,
                          val_pairs=4, ckpt_every=20),
    ),
    "cpu": Profile(
        name="cpu",
        description="a laptop: 128 px crops, hours on 2 CPU cores",
        data=DataConfig(crop=128, train_pairs_per_photo=24, test_pairs_per_photo=4),
        train=TrainConfig(net="cpu", crop=128, batch_size=4, steps=3000, lr=2e-4, restart_period=3000,
                          val_every=250, val_pairs=24, ckpt_every=250),
    ),
    "paper": Profile(
        name="paper",
        description="the paper's settings (256 px crops); needs a GPU",
        data=DataConfig(crop=256, train_pairs_per_photo=64, test_pairs_per_photo=8),
        train=TrainConfig(net="paper", crop=256, batch_size=16, steps=600_000, lr=1e-4, restart_period=150_000,
                          eta_min=1e-7, val_every=5000, val_pairs=100, ckpt_every=5000, bf16=True,
                          channels_last=True),
    ),
}


def get_profile(name: str | Profile) -> Profile:
    """Look a profile up by name (a :class:`Profile` passes through)."""
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownNameError(f"unknown profile '{name}'; choose one of: {', '.join(PROFILES)}") from None
