"""The learned tone curve around F's basis blur: identity at start, monotone, exact inverse, gradients, bad input,
and an exact start from a model without it."""

from __future__ import annotations

import pytest
import torch

from blurkit.errors import BlurkitError
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.netconfig import KernelSpaceConfig
from blurkit.space.tone_curve import ToneCurve
from tests.tolerances import float64_copy, ulp_tol

pytestmark = pytest.mark.usefixtures("one_thread")


def test_starts_as_the_identity_and_inverts_exactly() -> None:
    curve = ToneCurve(8)
    x = torch.rand(2, 3, 5, 7)
    torch.testing.assert_close(curve(x), x, atol=1e-6, rtol=0)
    with torch.no_grad():
        curve.logits.copy_(torch.linspace(-3, 3, 8))  # a strongly bent curve
    y = curve(x)
    assert y.shape == x.shape and not torch.allclose(y, x, atol=1e-2)
    torch.testing.assert_close(curve.inverse(y), x, atol=1e-5, rtol=0)
    grid = torch.linspace(0, 1, 101)
    assert (curve(grid).diff() > 0).all() and curve(torch.tensor([0.0, 1.0])).tolist() == pytest.approx([0, 1])
    assert curve(torch.tensor([-0.5, 1.5])).tolist() == pytest.approx([0, 1])  # clamped to [0, 1]


def test_learns_a_camera_curve() -> None:
    curve = ToneCurve(16)
    x = torch.linspace(0, 1, 200)
    target = x ** 2.2  # display -> linear for a gamma-2.2 camera
    opt = torch.optim.Adam(curve.parameters(), lr=0.05)
    first = None
    for _ in range(200):
        loss = (curve(x) - target).pow(2).mean()
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < first / 50


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one segment"):
        ToneCurve(0)
    with pytest.raises(ValueError, match="tone_knots needs head='basis'"):
        KernelSpaceConfig(tone_knots=8)
    with pytest.raises(ValueError, match="tone_knots"):
        KernelSpaceConfig(head="basis", tone_knots=-1)


def test_f_with_the_curve_starts_exactly_at_the_plain_model_and_trains_it() -> None:
    torch.manual_seed(0)
    plain = KernelSpace("smoke").eval()
    for p in plain.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    toned = KernelSpace("smoke-tone").eval()
    assert toned.init_from(plain) == ["F.tone.logits"]
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(2, 3, 40, 56, generator=g), torch.rand(2, 3, 40, 56, generator=g)
    with torch.no_grad():  # exact up to rounding: compared in float64, to a float32 ulp (tests/tolerances.py)
        want = float64_copy(plain)(x.double(), y.double())
        torch.testing.assert_close(float64_copy(toned)(x.double(), y.double()), want, atol=ulp_tol(want), rtol=0)
    toned(x, y).sub(y).pow(2).mean().backward()
    assert float(toned.F.tone.logits.grad.abs().sum()) > 0
    fast = toned.parameter_groups(1e-4)[1]["params"]
    assert any(p is toned.F.tone.logits for p in fast)  # the curve learns at the basis kernels' fast rate
    with pytest.raises(BlurkitError, match="may differ"):
        KernelSpace("smoke-tone").init_from(KernelSpace("smoke-residual"))
    with pytest.raises(BlurkitError, match="weights this one lacks"):
        plain.init_from(toned)  # the curve would be dropped silently


def test_tone_curve_figure_draws_learned_and_camera_curves() -> None:
    from blurkit.experiments.transfer_report import tone_curve_figure

    plain, toned = KernelSpace("smoke"), KernelSpace("smoke-tone")
    assert tone_curve_figure({"reds-like": plain}) is None
    fig = tone_curve_figure({"reds-like": toned, "gopro-like": plain, "mine": KernelSpace("smoke-tone")})
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["identity (no curve)", "learned: reds-like", "learned: mine",
                      "true inverse CRF: reds-like (filmic)"]
