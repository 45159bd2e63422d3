"""Paired differences with a bootstrap interval, and the verdict rules on constructed numbers."""

from __future__ import annotations

import numpy as np
import pytest

from blurkit.experiments.paired import paired_difference, verdict


def _base(n: int = 40, seed: int = 0) -> np.ndarray:
    return 25 + 3 * np.random.default_rng(seed).standard_normal(n)


def test_known_difference_holds() -> None:
    b = _base()
    a = b + 1.0 + 0.3 * np.random.default_rng(1).standard_normal(len(b))
    r = paired_difference(a, b)
    assert r.verdict == "holds" and r.n == 40 and r.ci_low < r.diff_db < r.ci_high
    assert abs(r.diff_db - 1.0) < 0.2 and r.ci_low > 0.7


def test_zero_mean_difference_is_inconclusive() -> None:
    b = _base()
    noise = np.random.default_rng(2).standard_normal(len(b))
    r = paired_difference(b + noise - noise.mean(), b)
    assert r.verdict == "inconclusive" and r.ci_low < 0 < r.ci_high


def test_reversed_difference_fails_and_less_flips_it() -> None:
    b = _base()
    a = b - 0.8 + 0.2 * np.random.default_rng(3).standard_normal(len(b))
    assert paired_difference(a, b).verdict == "fails"
    assert paired_difference(a, b, expected="less").verdict == "holds"


def test_interval_is_deterministic_for_a_seed() -> None:
    b = _base()
    a = b + np.random.default_rng(4).standard_normal(len(b))
    assert paired_difference(a, b, seed=5) == paired_difference(a, b, seed=5)
    assert paired_difference(a, b, seed=5).ci_low != paired_difference(a, b, seed=6).ci_low


def test_constant_difference_and_bad_input() -> None:
    r = paired_difference([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])
    assert (r.diff_db, r.ci_low, r.ci_high, r.verdict) == (1.0, 1.0, 1.0, "holds")
    with pytest.raises(ValueError, match="one length"):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="n >= 2"):
        paired_difference([1.0], [2.0])
    with pytest.raises(ValueError, match="'greater' or 'less'"):
        verdict(0.1, 0.2, "bigger")  # type: ignore[arg-type]
