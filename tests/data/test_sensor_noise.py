"""A domain's sensor noise on a finished image: its model, determinism, a noiseless domain, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from blurkit.data.crf import CRF
from blurkit.data.domains import get_domain
from blurkit.data.sensor_noise import add_sensor_noise
from blurkit.errors import UnknownNameError


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("domain", ["reds-like", "gopro-like", "hide-like"])
def test_linear_domain_noise_has_the_domain_variance(domain: str) -> None:
    dom = get_domain(domain)
    crf = CRF(dom.crf)
    lin = torch.full((1, 3, 96, 96), 0.4)  # mid-range: clipping at 0 or 1 is > 20 standard deviations away
    img = crf.forward(lin)
    diff = crf.inverse(add_sensor_noise(img, domain, gen())) - crf.inverse(img)
    want = math.sqrt(dom.shot_noise * 0.4 + dom.read_noise**2)
    n = diff.numel()
    # a sample standard deviation of n normal draws is off by a relative 1/sqrt(2(n-1)) (one sigma); allow 5 sigma
    assert float(diff.std()) == pytest.approx(want, rel=5 / math.sqrt(2 * (n - 1)))
    assert abs(float(diff.mean())) < 5 * want / math.sqrt(n)


def test_seeded_and_a_noiseless_domain_is_unchanged() -> None:
    img = torch.rand(2, 3, 16, 20, generator=gen(3))
    a, b = add_sensor_noise(img, "gopro-like", gen(1)), add_sensor_noise(img, "gopro-like", gen(1))
    assert torch.equal(a, b) and not torch.equal(a, add_sensor_noise(img, "gopro-like", gen(2)))
    assert a.shape == img.shape and float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(add_sensor_noise(img, "uniform-8", gen(1)), img)  # uniform-8 has no noise


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        add_sensor_noise(torch.rand(3, 8, 8), "gopro-like", gen())
    with pytest.raises(UnknownNameError, match="unknown domain 'nonesuch'"):
        add_sensor_noise(torch.rand(1, 3, 8, 8), "nonesuch", gen())
