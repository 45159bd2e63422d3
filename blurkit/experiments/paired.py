"""Claims tested on paired results: the mean difference of two methods on the same images, its 95 % bootstrap
interval, and a verdict.

A claim says method A beats method B (``expected="greater"``) or loses to it (``"less"``). With ``d_i = a_i - b_i``
on the same n images, the interval is ``scipy.stats.bootstrap`` of the mean of d (BCa, seeded): the verdict is
``holds`` when the whole interval lies on the claimed side of zero, ``fails`` when it lies on the other side, and
``inconclusive`` when it contains zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal, Mapping, Sequence

import numpy as np
from scipy import stats

Verdict = Literal["holds", "fails", "inconclusive"]
VERDICT_COLUMNS = ["verdict", "diff_db", "ci_low", "ci_high", "n"]


@dataclass(frozen=True)
class PairedDifference:
    """Mean of ``a - b`` over paired images, its interval, n and the verdict for the claimed direction."""

    diff_db: float
    ci_low: float
    ci_high: float
    n: int
    verdict: Verdict

    def to_dict(self) -> dict:
        return asdict(self)


def verdict(ci_low: float, ci_high: float, expected: Literal["greater", "less"] = "greater") -> Verdict:
    """``holds`` / ``fails`` / ``inconclusive`` for an interval of ``a - b`` and the claimed sign."""
    if expected not in ("greater", "less"):
        raise ValueError(f"expected must be 'greater' or 'less', got {expected!r}")
    lo, hi = (ci_low, ci_high) if expected == "greater" else (-ci_high, -ci_low)
    if lo > 0:
        return "holds"
    if hi < 0:
        return "fails"
    return "inconclusive"


def paired_difference(a: Sequence[float], b: Sequence[float], expected: Literal["greater", "less"] = "greater",
                      confidence: float = 0.95, n_resamples: int = 9999, seed: int = 0) -> PairedDifference:
    """Test "a is ``expected`` than b" on paired values (same images, same order).

    Shape:
        a, b ``(n,)`` with n >= 2.
    """
    a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a_arr.shape != b_arr.shape or a_arr.ndim != 1:
        raise ValueError(f"paired values need two 1-D arrays of one length, got {a_arr.shape} and {b_arr.shape}")
    if len(a_arr) < 2 or not (np.isfinite(a_arr).all() and np.isfinite(b_arr).all()):
        raise ValueError(f"paired values need n >= 2 finite pairs, got n = {len(a_arr)}")
    d = a_arr - b_arr
    if np.ptp(d) == 0:  # every image differs by the same amount: the interval is that point
        lo = hi = float(d[0])
    else:
        res = stats.bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                              method="BCa", random_state=np.random.default_rng(seed))
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return PairedDifference(float(d.mean()), lo, hi, len(d), verdict(lo, hi, expected))


def paired_by_image(a: Mapping[str, float], b: Mapping[str, float], expected: Literal["greater", "less"] = "greater",
                    seed: int = 0) -> PairedDifference:
    """:func:`paired_difference` on the images both ``a`` and ``b`` have (image name -> value, e.g. a pandas Series
    indexed by image), taken in sorted name order so the interval does not depend on the order of the rows."""
    a, b = dict(a), dict(b)
    shared = sorted(set(a) & set(b))
    if len(shared) < 2:
        raise ValueError(f"paired values need n >= 2 images that both sides have, got {len(shared)}")
    return paired_difference([a[k] for k in shared], [b[k] for k in shared], expected, seed=seed)


def verdict_columns(d: PairedDifference | None, digits: int = 3) -> dict:
    """The :data:`VERDICT_COLUMNS` of one claim, rounded to ``digits``; all None where no claim is tested."""
    if d is None:
        return dict.fromkeys(VERDICT_COLUMNS)
    return {"verdict": d.verdict, "diff_db": round(d.diff_db, digits), "ci_low": round(d.ci_low, digits),
            "ci_high": round(d.ci_high, digits), "n": d.n}


__all__ = ["PairedDifference", "VERDICT_COLUMNS", "Verdict", "paired_by_image", "paired_difference", "verdict",
           "verdict_columns"]
