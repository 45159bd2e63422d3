"""Camera response functions (CRFs): linear sensor signal <-> image intensity.

Blur is averaged in the sensor's linear domain (Sec. 2.3): ``I = g(mean_t S(t))``. GOPRO used a gamma curve
``g(x) = x^(1/2.2)``; REDS a more elaborate measured curve. Each CRF here is monotone on [0, 1] and inverted
through a dense lookup table.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
import torch

from blurkit.errors import UnknownNameError

_LUT_SIZE = 4097


def _gamma(g: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: np.power(x, 1.0 / g)


def _srgb(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(np.maximum(x, 0.0031308), 1 / 2.4) - 0.055)


def _filmic(x: np.ndarray) -> np.ndarray:
    """A camera-like S-curve: gamma 2.4 followed by a mild logistic contrast boost (normalised to [0, 1])."""
    u = np.power(x, 1 / 2.4)
    s = 1.0 / (1.0 + np.exp(-5.0 * (u - 0.5)))
    lo, hi = 1.0 / (1.0 + np.exp(2.5)), 1.0 / (1.0 + np.exp(-2.5))
    return (s - lo) / (hi - lo)


_CURVES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "gamma2.2": _gamma(2.2),
    "srgb": _srgb,
    "filmic": _filmic,
}


@dataclass(frozen=True)
class CRF:
    """A named camera response function with a tabulated inverse."""

    name: str

    def forward(self, linear: torch.Tensor) -> torch.Tensor:
        """Linear signal in [0, 1] -> image intensity in [0, 1] (any shape)."""
        lin, out = _tables(self.name)
        return interp_monotone(linear.clamp(0, 1), lin, out)

    def inverse(self, image: torch.Tensor) -> torch.Tensor:
        """Image intensity in [0, 1] -> linear signal in [0, 1] (any shape)."""
        lin, out = _tables(self.name)
        return interp_monotone(image.clamp(0, 1), out, lin)


@lru_cache(maxsize=None)
def _tables(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The (linear, image) lookup table of a CRF, built once per name."""
    try:
        curve = _CURVES[name]
    except KeyError:
        raise UnknownNameError(f"unknown CRF '{name}'; choose one of: {', '.join(_CURVES)}") from None
    lin = np.linspace(0.0, 1.0, _LUT_SIZE) ** 2.4  # nodes dense near black, where CRFs are steep
    out = np.clip(curve(lin), 0.0, 1.0)
    out = np.maximum.accumulate(out)  # strictly usable as a monotone table
    return torch.from_numpy(lin).float(), torch.from_numpy(out).float()


def interp_monotone(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation of ``fp(xp)`` at ``x`` (``xp`` non-decreasing); differentiable in x, xp, fp."""
    xp = xp.to(x.dtype)
    fp = fp.to(x.dtype)
    idx = torch.searchsorted(xp.detach(), x.contiguous(), right=True).clamp(1, len(xp) - 1)
    x0, x1 = xp[idx - 1], xp[idx]
    f0, f1 = fp[idx - 1], fp[idx]
    w = torch.where(x1 > x0, (x - x0) / (x1 - x0).clamp_min(1e-12), torch.zeros_like(x))
    return f0 + w * (f1 - f0)


def crf_names() -> list[str]:
    return list(_CURVES)
