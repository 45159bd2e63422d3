"""The plug-and-play prior: the denoiser (smoke, bad input, shapes, gradients, seeded batches, save/load, training)
and the half-quadratic splitting around it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from gradients import dead_parameters
from skimage import data

from blurkit.data.kernels import convolve
from blurkit.deblur.denoiser import DENOISER_PRESETS, Denoiser, DenoiserConfig, load_denoiser, noisy_batch
from blurkit.deblur.pnp import PnPXStep, pnp_deconvolve
from blurkit.errors import BlurkitError

pytestmark = pytest.mark.usefixtures("one_thread")


def _crop(side: int = 48) -> torch.Tensor:
    img = data.astronaut()[100:100 + side, 180:180 + side].astype("float32") / 255
    return torch.from_numpy(img).permute(2, 0, 1)[None]


@pytest.mark.parametrize("shape", [(1, 3, 32, 32), (2, 3, 33, 47), (1, 3, 1, 1)])
def test_shapes_and_a_fresh_network_is_the_identity(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    z = torch.rand(shape)
    out = Denoiser(DENOISER_PRESETS["smoke"])(z, 0.1)
    assert out.shape == z.shape
    assert torch.equal(out, z)  # the last layer starts at zero: no noise predicted, exactly


def test_bad_input() -> None:
    net = Denoiser(DENOISER_PRESETS["smoke"])
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        net(torch.rand(1, 1, 8, 8), 0.1)
    with pytest.raises(BlurkitError, match="train-denoiser"):
        load_denoiser("no-such-denoiser")


def test_every_parameter_gets_a_gradient() -> None:
    torch.manual_seed(0)
    net = Denoiser(DENOISER_PRESETS["smoke"])
    with torch.no_grad():
        net.dec[-1].weight.normal_(0, 0.1)  # away from the zero start, so the gradient reaches every layer
    net(torch.rand(2, 3, 16, 16), torch.tensor([0.05, 0.1])).square().mean().backward()
    assert dead_parameters(net.named_parameters()) == []


def test_batches_are_seeded_by_step_and_noise_is_in_range() -> None:
    images = torch.rand(5, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    cfg = DenoiserConfig(crop=16, batch_size=6, sigma_max=0.1)
    a, b = noisy_batch(images, cfg, 3), noisy_batch(images, cfg, 3)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[0], noisy_batch(images, cfg, 4)[0])
    x, noisy, sigma = a
    assert x.shape == noisy.shape == (6, 3, 16, 16) and ((0 <= sigma) & (sigma <= 0.1)).all()


def test_training_on_the_smoke_data_saves_and_loads(pip_photo_manifest: Path, tmp_path: Path) -> None:
    from blurkit.data.default_data import build_default
    from blurkit.deblur.denoiser import train_denoiser

    build_default("smoke", domains=("reds-like", "gopro-like"), progress=False)
    cfg = DenoiserConfig(width=8, crop=32, batch_size=8, steps=200, lr=3e-3)
    path = train_denoiser(cfg, "smoke", tmp_path / "d.pt", progress=False)
    net = load_denoiser(path)
    assert net.config == cfg and net.provenance["config"]["steps"] == 200 and "git_commit" in net.provenance
    x = _crop()
    noisy = x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        err_before, err_after = float((noisy - x).square().mean()), float((net(noisy, 0.1) - x).square().mean())
    assert err_after < 0.6 * err_before  # measured: 0.28 after 200 steps (9 s)


def test_pnp_inverts_a_known_blur() -> None:
    """With the identity standing in for the denoiser, the splitting is a proximal deconvolution of a 5x5 box blur."""
    class Identity(torch.nn.Module):
        def forward(self, z: torch.Tensor, sigma: float) -> torch.Tensor:
            return z

    x, k = _crop(), torch.full((5, 5), 1 / 25)
    y = convolve(x, k)
    blur = lambda v: convolve(v, k)  # noqa: E731
    out = pnp_deconvolve(blur, y, y, Identity(), PnPXStep(iters=6, noise=0.01))  # type: ignore[arg-type]
    err_blurry, err = float((y - x).square().mean()), float((out - x).square().mean())
    assert out.shape == x.shape and err < err_blurry / 4
    with pytest.raises(ValueError, match="sigma_start >= noise"):
        pnp_deconvolve(blur, y, y, Identity(), PnPXStep(noise=0.5, sigma_start=0.2))  # type: ignore[arg-type]


def test_the_shipped_denoiser_denoises_a_test_photo() -> None:
    from blurkit.deblur.denoiser import denoiser_path
    from blurkit.files import sha256_file

    net = load_denoiser("cpu")
    assert net.config == DENOISER_PRESETS["cpu"] and net.provenance["config"] == DENOISER_PRESETS["cpu"].to_dict()
    assert len(sha256_file(denoiser_path("cpu"))) == 64
    img = data.chelsea()[100:196, 180:276].astype("float32") / 255  # a test-split photo: never trained on
    x = torch.from_numpy(img).permute(2, 0, 1)[None]
    noisy = x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ratio = float((net(noisy, 0.05) - x).square().mean()) / float((noisy - x).square().mean())
    assert ratio < 0.5  # measured 0.24 (+6.2 dB)


def test_linear_xstep_takes_the_plug_and_play_solve() -> None:
    """Through F pinned to one box kernel, the linearised x-step with the splitting solve inverts the blur."""
    from toymodels import box_blur_kernel_space

    from blurkit.deblur.linear_xstep import LinearXStep, linear_xstep

    sigmas: list[float] = []

    class Identity(torch.nn.Module):
        def forward(self, z: torch.Tensor, sigma: float) -> torch.Tensor:
            sigmas.append(sigma)
            return z

    ks = box_blur_kernel_space(5, logit=30.0)
    x, k = _crop(64), torch.zeros(1, ks.config.kdim, 1, 1)
    with torch.no_grad():
        y = ks.apply(x, k)
    est = linear_xstep(ks, y, k, config=LinearXStep(outer=1), pnp=(PnPXStep(iters=6, noise=0.01), Identity()))
    assert est.shape == x.shape and float(((est - x) ** 2).mean()) < float(((y - x) ** 2).mean()) / 4
    assert sigmas == pytest.approx([0.2 * 0.05 ** (i / 5) for i in range(6)])  # the splitting ran: 0.2 down to 0.01
