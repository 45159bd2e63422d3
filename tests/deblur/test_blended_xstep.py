"""The blended x-step (kornia-style: smoke, bad input, shapes, exactness of its two ends and its mean)."""

from __future__ import annotations

import pytest
import torch
from skimage import data
from tolerances import scale_of
from toymodels import box_blur_kernel_space

from blurkit.deblur.blended_xstep import LADDER_BLEND, XStepBlend, blended_xstep
from blurkit.deblur.linear_xstep import LinearXStep, linear_xstep
from blurkit.deblur.pnp import PnPXStep

pytestmark = pytest.mark.usefixtures("one_thread")
F32 = torch.finfo(torch.float32).eps
XSTEP = LinearXStep(outer=1, cg_iters=20, gamma=0.01)


class Shrink(torch.nn.Module):
    """A stand-in denoiser that pulls every pixel towards the image mean by ``sigma``: not the identity, so the
    plug-and-play solve differs from the hyper-Laplacian one."""

    def forward(self, z: torch.Tensor, sigma: float) -> torch.Tensor:
        return z + sigma * (z.mean(dim=(-2, -1), keepdim=True) - z)


def _blurred(side: int = 48) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    img = data.astronaut()[100:100 + side, 180:180 + side].astype("float32") / 255
    x = torch.from_numpy(img).permute(2, 0, 1)[None]
    ks = box_blur_kernel_space(5, logit=30.0)
    k = torch.zeros(1, ks.config.kdim, 1, 1)
    with torch.no_grad():
        y = ks.apply(x, k)
    return ks, x, y, k


def test_its_ends_are_the_two_solves_and_its_middle_their_mean() -> None:
    ks, x, y, k = _blurred()
    den = Shrink()
    with torch.no_grad():
        hl = linear_xstep(ks, y, k, config=XSTEP)
        pnp = linear_xstep(ks, y, k, config=XSTEP, pnp=(PnPXStep(noise=0.01), den))
        ends = [blended_xstep(ks, y, k, XSTEP, XStepBlend(weight=w), denoiser=den) for w in (0.0, 1.0, 0.25)]
    assert float((hl - pnp).abs().max()) > 1e-3  # the two solves differ, so the checks below can fail
    tol = 8 * F32 * max(scale_of(hl), scale_of(pnp))
    torch.testing.assert_close(ends[0], hl, atol=tol, rtol=0)
    torch.testing.assert_close(ends[1], pnp, atol=tol, rtol=0)
    torch.testing.assert_close(ends[2], (0.75 * hl + 0.25 * pnp).clamp(0, 1), atol=tol, rtol=0)


def test_the_blend_deblurs_a_known_blur_and_keeps_the_shape() -> None:
    ks, x, y, k = _blurred()
    with torch.no_grad():
        out = blended_xstep(ks, y, k, XSTEP, LADDER_BLEND)  # the shipped denoiser
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert float(((out - x) ** 2).mean()) < float(((y - x) ** 2).mean()) / 2


@pytest.mark.parametrize("weight", [-0.1, 1.5, float("nan")])
def test_a_weight_outside_zero_one_is_refused(weight: float) -> None:
    ks, _, y, k = _blurred(16)
    with pytest.raises(ValueError, match="weight must lie in"):
        blended_xstep(ks, y, k, XSTEP, XStepBlend(weight=weight), denoiser=Shrink())
