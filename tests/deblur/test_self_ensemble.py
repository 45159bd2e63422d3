"""The geometric self-ensemble (kornia's template: smoke, bad input, shapes, gradients)."""

from __future__ import annotations

import pytest
import torch

from blurkit.deblur.self_ensemble import MAX_VIEWS, self_ensemble, unview, view


def _image(h: int = 5, w: int = 7) -> torch.Tensor:
    return torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(0))


def test_every_view_is_undone_and_the_eight_are_distinct() -> None:
    t = _image()
    seen = []
    for i in range(MAX_VIEWS):
        v = view(t, i)
        assert v.shape == ((2, 3, 7, 5) if i & 4 else (2, 3, 5, 7))
        assert torch.equal(unview(v, i), t)
        seen.append(view(_image(6, 6), i))
    assert all(not torch.equal(a, b) for j, a in enumerate(seen) for b in seen[j + 1:])  # the dihedral group's 8


def test_one_view_is_the_function_itself() -> None:
    t, s = _image(), _image()

    def fn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a * torch.arange(a.shape[-1], dtype=a.dtype) + b  # depends on orientation

    assert torch.equal(self_ensemble(fn, t, s, views=1), fn(t, s))


def test_the_ensemble_is_the_mean_of_the_views_turned_back() -> None:
    t = _image(6, 6)
    ramp = torch.arange(6, dtype=t.dtype)

    def fn(a: torch.Tensor) -> torch.Tensor:
        return a + ramp  # not equivariant: adds a ramp along the width of whatever it is given

    out = self_ensemble(fn, t)
    expected = torch.stack([unview(fn(view(t, i)), i) for i in range(MAX_VIEWS)]).mean(0)
    torch.testing.assert_close(out, expected)
    # the ramp, averaged over the flips and turns, becomes its mean along both axes
    # values reach 1 + 5; each of the 8 sums and the mean round by at most eps of that
    torch.testing.assert_close(out, t + ramp.mean(), rtol=0, atol=(MAX_VIEWS + 1) * 6 * torch.finfo(t.dtype).eps)


def test_an_equivariant_function_is_unchanged() -> None:
    t = _image(9, 9)

    def blur(a: torch.Tensor) -> torch.Tensor:  # a symmetric box blur commutes with every flip and turn
        return torch.nn.functional.avg_pool2d(torch.nn.functional.pad(a, (1, 1, 1, 1), mode="reflect"), 3, 1)

    torch.testing.assert_close(self_ensemble(blur, t), blur(t))


def test_bad_views_and_indices_are_refused() -> None:
    t = _image()
    for views in (0, MAX_VIEWS + 1):
        with pytest.raises(ValueError, match="views must be in 1..8"):
            self_ensemble(lambda a: a, t, views=views)
    with pytest.raises(ValueError, match="view index"):
        view(t, 8)
    with pytest.raises(ValueError, match="view index"):
        unview(t, -1)


def test_gradients_flow_to_every_input() -> None:
    t = _image().requires_grad_(True)
    s = _image().requires_grad_(True)
    self_ensemble(lambda a, b: a * b, t, s).sum().backward()
    assert t.grad is not None and s.grad is not None
    torch.testing.assert_close(t.grad, s.detach())  # d(mean of 8 equal products)/dt = s
