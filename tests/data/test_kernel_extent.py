"""The blur extent of a domain's training kernels (blurkit.data.kernel_extent)."""

from __future__ import annotations

import numpy as np
import pytest

from blurkit.data.kernel_extent import domain_extent, mass_extent
from blurkit.data.kernels import eight_kernels
from blurkit.data.true_kernels import padded_kernel
from blurkit.errors import BlurkitError


def test_mass_extent_of_known_kernels() -> None:
    delta = np.zeros((31, 31))
    delta[15, 15] = 1.0
    box = np.zeros((31, 31))
    box[13:18, 13:18] = 1.0  # a centred 5 px box
    line = np.zeros((31, 31))
    line[15, 15:25] = 1.0  # 10 taps right of the centre: the square must reach column 24
    assert mass_extent(delta) == 1
    assert mass_extent(box) == 5 and mass_extent(box, 0.3) == 3  # the 3 px square holds 9 / 25 of it
    assert mass_extent(line) == 19 and mass_extent(line, 0.5) == 9


@pytest.mark.parametrize("kernel, match", [(np.ones((4, 4)), "odd square"), (-np.ones((5, 5)), "non-negative"),
                                           (np.zeros((5, 5)), "positive sum")])
def test_mass_extent_bad_input(kernel: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mass_extent(kernel)


def test_domain_extent_of_the_eight_kernels() -> None:
    sides = [mass_extent(padded_kernel(k, 31)) for k in eight_kernels()]
    assert domain_extent("uniform-8", quantile=1.0) == max(sides) + 1 - max(sides) % 2
    assert domain_extent("uniform-8", quantile=0.0) == min(sides) + 1 - min(sides) % 2


def test_domain_extent_of_a_blur_generator() -> None:
    """Seeded: the same side for a seed; odd; larger for a higher quantile or a domain with stronger motion."""
    assert domain_extent("reds-like", seed=3, n=8) == domain_extent("reds-like", seed=3, n=8)
    sides = [domain_extent("reds-like", quantile=q, n=8) for q in (0.1, 0.5, 0.9)]
    assert sides == sorted(sides) and all(s % 2 == 1 and 1 <= s <= 31 for s in sides) and sides[0] < sides[-1]
    assert domain_extent("gopro-like", n=8) > domain_extent("hide-like", n=8)


def test_domain_extent_of_an_unknown_domain() -> None:
    with pytest.raises(BlurkitError, match="no-such-domain"):
        domain_extent("no-such-domain")
