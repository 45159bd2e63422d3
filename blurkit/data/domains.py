"""Named blur domains: the statistics of the camera, its motion and the scene motion.

Three dynamic-scene domains stand in for the real datasets of the cross-domain experiments:

* ``reds-like``: REDS (Nah et al. 2019): a measured, S-shaped CRF (here ``filmic``), many sub-frames (120 fps
  video upsampled), smooth mostly-translational camera paths, moderate exposure, little object motion, low noise.
* ``gopro-like``: GOPRO (Nah et al. 2017): gamma 2.2 CRF, hand-held GoPro shake (jittery, more rotation),
  longer exposure (7-13 frames at 240 fps averaged), some object motion, more noise.
* ``hide-like``: HIDE (Shen et al. 2019): sRGB CRF, mostly static camera with long exposure, and several large
  independently moving foreground regions (people).

``uniform-8`` is the Table 1 setting: uniform convolution with one of the eight fixed kernels (no CRF).
Motion lengths are fractions of the photos' reference side (384 px, :data:`blurkit.data.synthesis.REFERENCE_SIDE`),
so blur has the same length in pixels at every crop size; object sizes are fractions of the crop side.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from blurkit.errors import UnknownNameError


@dataclass(frozen=True)
class Domain:
    """Statistics of one blur domain (motion lengths as fractions of the reference side, angles in degrees).

    Attributes:
        name: domain name.
        kind: ``dynamic`` (rendered along a trajectory) or ``uniform`` (convolution with a fixed kernel).
        crf: camera response function name (:mod:`blurkit.data.crf`).
        n_subframes: sub-frames averaged per blurry image (odd: the middle one is the sharp image).
        exposure: (min, max) of the exposure multiplier applied to all motion.
        speed: std of the camera's translational speed (reference-side fractions per unit exposure).
        accel: std of its acceleration.
        shake: amplitude of hand-shake jitter, ``shake_freq`` its (min, max) frequency in cycles per exposure.
        rotation: std of in-plane rotation over one unit exposure (degrees).
        zoom: std of relative zoom change over one unit exposure.
        perspective: std of the perspective terms of the homography.
        objects: (min, max) number of independently moving foreground regions.
        object_size: (min, max) radius of a region (crop-side fraction).
        object_speed: std of a region's own speed (reference-side fractions per unit exposure).
        shot_noise, read_noise: Poisson-Gaussian noise in the linear domain (variance ``a*x + b^2``).
    """

    name: str
    kind: str = "dynamic"
    crf: str = "gamma2.2"
    n_subframes: int = 15
    exposure: tuple[float, float] = (0.5, 1.0)
    speed: float = 0.03
    accel: float = 0.02
    shake: float = 0.004
    shake_freq: tuple[float, float] = (1.0, 3.0)
    rotation: float = 1.0
    zoom: float = 0.01
    perspective: float = 0.01
    objects: tuple[int, int] = (0, 1)
    object_size: tuple[float, float] = (0.1, 0.25)
    object_speed: float = 0.04
    shot_noise: float = 1e-4
    read_noise: float = 1e-3

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


DOMAINS: dict[str, Domain] = {
    "reds-like": Domain(
        name="reds-like", crf="filmic", n_subframes=21, exposure=(0.5, 1.0), speed=0.035, accel=0.015,
        shake=0.002, shake_freq=(0.5, 1.5), rotation=0.6, zoom=0.008, perspective=0.004,
        objects=(0, 1), object_size=(0.12, 0.25), object_speed=0.03, shot_noise=5e-5, read_noise=5e-4,
    ),
    "gopro-like": Domain(
        name="gopro-like", crf="gamma2.2", n_subframes=13, exposure=(0.6, 1.3), speed=0.03, accel=0.035,
        shake=0.008, shake_freq=(1.5, 4.0), rotation=1.8, zoom=0.015, perspective=0.012,
        objects=(0, 2), object_size=(0.1, 0.22), object_speed=0.045, shot_noise=3e-4, read_noise=2e-3,
    ),
    "hide-like": Domain(
        name="hide-like", crf="srgb", n_subframes=15, exposure=(0.8, 1.6), speed=0.012, accel=0.01,
        shake=0.003, shake_freq=(1.0, 2.5), rotation=0.4, zoom=0.02, perspective=0.004,
        objects=(2, 4), object_size=(0.15, 0.3), object_speed=0.06, shot_noise=2e-4, read_noise=1.5e-3,
    ),
    "uniform-8": Domain(name="uniform-8", kind="uniform", crf="linear", n_subframes=1, exposure=(1.0, 1.0),
                        shot_noise=0.0, read_noise=0.0, objects=(0, 0)),
}

DYNAMIC_DOMAINS: tuple[str, ...] = ("reds-like", "gopro-like", "hide-like")


def get_domain(name: str | Domain) -> Domain:
    """Look a domain up by name (a :class:`Domain` passes through)."""
    if isinstance(name, Domain):
        return name
    try:
        return DOMAINS[name]
    except KeyError:
        raise UnknownNameError(f"unknown domain '{name}'; choose one of: {', '.join(DOMAINS)}") from None
