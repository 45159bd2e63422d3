"""The no-reference guard (kornia-style: smoke, bad input, decisions on constructed cases)."""

from __future__ import annotations

import pytest
import torch
from toymodels import switch_blur_kernel_space

from blurkit.deblur.guard import GuardConfig, guard

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def switch():  # type: ignore[no-untyped-def]
    return switch_blur_kernel_space()


def _sharp(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.avg_pool2d(torch.rand(1, 3, 66, 66, generator=g), 3, 1)  # 64 px, some texture


def test_switch_model_is_what_it_says(switch) -> None:  # type: ignore[no-untyped-def]
    ks, no_blur, box = switch
    x = _sharp()
    with torch.no_grad():
        assert torch.allclose(ks.apply(x, no_blur), x, atol=1e-5)
        assert (ks.apply(x, box) - x).abs().mean() > 0.02


def test_unblurred_input_comes_back_unchanged(switch) -> None:  # type: ignore[no-untyped-def]
    ks, no_blur, _ = switch
    y = _sharp()
    x_hat = (y + 0.05 * torch.randn(y.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    out, (d,) = guard(ks, y, x_hat, no_blur)
    assert d.reason == "no blur" and not d.keep
    assert torch.equal(out, y)


def test_a_true_estimate_is_kept(switch) -> None:  # type: ignore[no-untyped-def]
    ks, _, box = switch
    x = _sharp()
    with torch.no_grad():
        y = ks.apply(x, box)
    out, (d,) = guard(ks, y, x, box)
    assert d.reason == "trusted" and d.keep and d.fit_psnr > 60
    assert torch.equal(out, x)


def test_an_estimate_that_does_not_fit_is_dropped(switch) -> None:  # type: ignore[no-untyped-def]
    ks, _, box = switch
    x = _sharp()
    with torch.no_grad():
        y = ks.apply(x, box)
    wrong = _sharp(seed=5)
    out, (d,) = guard(ks, y, wrong, box)
    assert d.reason == "poor fit" and torch.equal(out, y)


def test_amplified_noise_is_dropped(switch) -> None:  # type: ignore[no-untyped-def]
    ks, _, box = switch
    x = _sharp()
    with torch.no_grad():
        y = ks.apply(x, box)
    out, (d,) = guard(ks, y, x, box, GuardConfig(max_gain=1.0))  # any sharpening counts as amplified here
    assert d.reason == "amplified" and torch.equal(out, y)


def test_batch_decides_per_image(switch) -> None:  # type: ignore[no-untyped-def]
    ks, no_blur, box = switch
    x = torch.cat([_sharp(0), _sharp(1)])
    k = torch.cat([box, no_blur])
    with torch.no_grad():
        y = ks.apply(x, k)
    out, ds = guard(ks, y, x, k)
    assert [d.reason for d in ds] == ["trusted", "no blur"]
    assert torch.equal(out[0], x[0]) and torch.equal(out[1], y[1])


def test_bad_input(switch) -> None:  # type: ignore[no-untyped-def]
    ks, no_blur, _ = switch
    with pytest.raises(ValueError, match="differs from y shape"):
        guard(ks, _sharp(), _sharp()[..., :32], no_blur)
