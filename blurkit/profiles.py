"""Named run profiles: frozen dataclasses, one per scale.

``smoke`` runs in CI in minutes, ``cpu`` on a 2-core laptop in hours, ``paper`` follows the paper's settings on a
GPU. Every artefact records the profile it was made with (see :mod:`blurkit.provenance`).
"""

from __future__ import annotations

import dataclasses
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
class Profile:
    """A named bundle of settings. Later stages add their own sections."""

    name: str
    description: str
    data: DataConfig = field(default_factory=DataConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        description="CI: tiny crops, one pair per photo, minutes on 2 CPU cores",
        data=DataConfig(crop=64, train_pairs_per_photo=1, test_pairs_per_photo=1),
    ),
    "cpu": Profile(
        name="cpu",
        description="a laptop: 128 px crops, hours on 2 CPU cores",
        data=DataConfig(crop=128, train_pairs_per_photo=24, test_pairs_per_photo=4),
    ),
    "paper": Profile(
        name="paper",
        description="the paper's settings (256 px crops); needs a GPU",
        data=DataConfig(crop=256, train_pairs_per_photo=64, test_pairs_per_photo=8),
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
