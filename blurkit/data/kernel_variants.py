"""Controlled mistakes in a camera path: what a blur kernel estimate may get wrong, and what each mistake costs.

A blind estimator never sees the true kernel; it sees y. Some things about the kernel it cannot know at all (which
sub-frame was the sharp one, so where the kernel's origin lies), some it can only guess (the sign of the path's
bend, which flips the kernel), and some it estimates with an error (direction, length). Each variant below makes
one such mistake on a true camera path, so that a non-blind deconvolution with the variant's kernel measures the
mistake's cost (``blurkit bench ceiling --operator psf_mirror`` and the others, docs/deblurring.md).

A path is the camera's sub-frame displacements at one point (:func:`blurkit.data.true_kernels.camera_paths`): the
blurry pixel is the mean of ``x(p + d_t)``, the kernel the splat of ``-d_t``, with ``d = 0`` at the middle
sub-frame. The variants, by name:

* ``psf``: the path itself;
* ``psf_centred``: shifted so that the kernel's mass sits at its centre (what an estimate that cannot know the
  sharp sub-frame gives);
* ``psf_mirror``: turned by 180 degrees about the middle sub-frame (the kernel point-reflected);
* ``psf_quadratic``: the least-squares fit ``b s + c s^2`` over ``s`` evenly spaced in [-1, 1] (4 numbers: the
  camera's speed and acceleration, no shake);
* ``psf_line``: the straight part ``b s`` of that fit (2 numbers: direction and length);
* ``psf_rot<A>``: turned by ``A`` degrees about the middle sub-frame (``psf_rot10``, ``psf_rot-20``);
* ``psf_scale<F>``: every displacement times ``F`` (``psf_scale0.8``; ``psf_scale0`` is no blur at all).
"""

from __future__ import annotations

import math
import re

import numpy as np

from blurkit.data.kernels import rasterize
from blurkit.errors import UnknownNameError

FIXED_VARIANTS = ("psf", "psf_centred", "psf_mirror", "psf_quadratic", "psf_line")
_NUMBER = r"(-?\d+(?:\.\d+)?)"
_PATTERN = re.compile(rf"psf(?:_(centred|mirror|quadratic|line)|_rot{_NUMBER}|_scale{_NUMBER})?")


def is_variant(name: str) -> bool:
    """Whether ``name`` names a kernel variant (see the module docstring)."""
    return _PATTERN.fullmatch(name) is not None


def quadratic_fit(path: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The least-squares ``(b, c)`` of ``path ~ b s + c s^2`` with ``s`` evenly spaced in [-1, 1] (one per
    sub-frame; a single sub-frame gives zeros).

    Shape:
        path ``(T, 2)`` -> ``b``, ``c`` each ``(2,)``.
    """
    path = _check_path(path)
    if len(path) < 2:
        return np.zeros(2), np.zeros(2)
    s = np.linspace(-1.0, 1.0, len(path))
    coef = np.linalg.lstsq(np.stack([s, s ** 2], axis=1), path, rcond=None)[0]
    return coef[0], coef[1]


def path_variant(path: np.ndarray, name: str) -> np.ndarray:
    """The path with the mistake ``name`` made (see the module docstring).

    Shape:
        path ``(T, 2)`` displacements (x, y) in px -> ``(T, 2)``.
    """
    path = _check_path(path)
    match = _PATTERN.fullmatch(name)
    if match is None:
        raise UnknownNameError(f"unknown kernel variant '{name}'; choose from {', '.join(FIXED_VARIANTS)}, "
                               "psf_rot<degrees> or psf_scale<factor>")
    kind, angle, factor = match.groups()
    if angle is not None:
        a = math.radians(float(angle))
        turn = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        return path @ turn.T
    if factor is not None:
        return path * float(factor)
    if kind == "centred":
        return path - path.mean(axis=0)
    if kind == "mirror":
        return -path
    if kind in ("quadratic", "line"):
        b, c = quadratic_fit(path)
        s = np.linspace(-1.0, 1.0, len(path))[:, None]
        return b * s + (c * s ** 2 if kind == "quadratic" else 0.0)
    return path.copy()


def variant_kernel(path: np.ndarray, name: str, size: int) -> np.ndarray:
    """The ``size`` px convolution kernel of the path with the mistake ``name`` made.

    Shape:
        path ``(T, 2)`` -> ``(size, size)`` float32, non-negative, summing to 1.
    """
    return rasterize(-path_variant(path, name), size)


def _check_path(path: np.ndarray) -> np.ndarray:
    path = np.asarray(path, dtype=np.float64)
    if path.ndim != 2 or path.shape[1] != 2 or len(path) == 0 or not np.isfinite(path).all():
        raise ValueError(f"a camera path is a finite (T, 2) array of displacements, got shape {path.shape}")
    return path


__all__ = ["FIXED_VARIANTS", "is_variant", "path_variant", "quadratic_fit", "variant_kernel"]
