"""Float tolerances derived from the dtype and the scale of the values compared, with the derivation beside each.

A comparison of two float results that took different paths (another batch size, another algorithm, another
thread count) differs by rounding. The helpers here bound that rounding from first principles, so a test neither
fails on another x86 CPU nor hides a real error behind a tolerance loosened until it passed. Where a deep network
sits between the inputs and the compared values, compare in float64 (see :func:`float64_copy`): its rounding then
stays ~1e-12 of the output scale, and one float32 ulp of that scale (:func:`ulp_tol`) is a tolerance far above the
rounding and far below any real difference (a batch leak, a missing term) the test is there to catch.
"""

from __future__ import annotations

import copy
from typing import TypeVar

import numpy as np
import torch

M = TypeVar("M", bound=torch.nn.Module)


def eps(dtype: torch.dtype | np.dtype | type = torch.float32) -> float:
    """Machine epsilon of a torch or NumPy float dtype (the gap between 1 and the next float)."""
    if isinstance(dtype, torch.dtype):
        return float(torch.finfo(dtype).eps)
    return float(np.finfo(dtype).eps)


def scale_of(values: torch.Tensor | np.ndarray | float) -> float:
    """The largest magnitude among ``values`` (1 for an all-zero input, so a tolerance never collapses to 0)."""
    m = float(values.detach().abs().max()) if isinstance(values, torch.Tensor) else float(np.max(np.abs(values)))
    return m if m > 0 else 1.0


def ulp_tol(reference: torch.Tensor | np.ndarray | float, dtype: torch.dtype | np.dtype | type = torch.float32,
            ulps: float = 1.0) -> float:
    """``ulps`` units in the last place of ``dtype`` at the scale of ``reference``: ``ulps * eps * max|reference|``."""
    return ulps * eps(dtype) * scale_of(reference)


def sum_tol(n_terms: int, scale: float = 1.0, dtype: torch.dtype | np.dtype | type = torch.float32) -> float:
    """Worst-case rounding of a sum of ``n_terms`` products whose absolute values add up to at most ``scale``.

    Recursive summation in any order errs by at most ``(n - 1) u`` times the sum of the magnitudes (Higham,
    *Accuracy and Stability of Numerical Algorithms*, Sec. 4.2, ``u = eps / 2``); each product adds ``u`` and the
    result's own rounding one more ``u``. ``(n + 1) * eps * scale`` covers all of it, whatever order a convolution
    library or a thread count picks. A convolution with a normalised non-negative kernel of ``n`` taps on images in
    [0, 1] has ``scale = 1``.
    """
    return (n_terms + 1) * eps(dtype) * scale


def float64_copy(module: M) -> M:
    """A float64 copy of a module (the original is left as it is)."""
    return copy.deepcopy(module).double()
