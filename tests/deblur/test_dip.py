"""Deep Image Priors: shapes, bad input, determinism, gradients."""

import pytest
import torch

from blurkit.deblur.dip import DIPConfig, ImageDIP, KernelDIP, image_noise, kernel_noise, seeded
from blurkit.space.blocks import kernel_size_for
from blurkit.space.netconfig import net_preset

SMALL = DIPConfig(z_channels=4, widths=(8, 8, 8), skip=2, kz_channels=4, k_width=8)


@pytest.mark.parametrize("h, w", [(1, 1), (13, 37), (64, 64)])
def test_image_dip_shapes(h, w):
    z = image_noise(SMALL, 2, h, w, torch.Generator().manual_seed(0))
    assert z.shape[-2] % SMALL.multiple == 0 and z.shape[-2] >= h and z.shape[-1] >= w
    out = ImageDIP(SMALL, out_channels=3)(z)
    assert out.shape == (2, 3, *z.shape[-2:])
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


@pytest.mark.parametrize("h, w", [(20, 24), (130, 300)])
def test_kernel_dip_matches_kernel_space_shape(h, w):
    space = net_preset("smoke")
    z = kernel_noise(SMALL, 1, h, w, torch.Generator().manual_seed(0))
    k = KernelDIP(SMALL, space)(z)
    assert k.shape == (1, space.kdim, *kernel_size_for(h, w))


def test_image_dip_rejects_bad_noise():
    with pytest.raises(ValueError, match="multiples of 8"):
        ImageDIP(SMALL)(torch.rand(1, 4, 12, 16))


def test_config_validation():
    with pytest.raises(ValueError, match="widths"):
        DIPConfig(widths=())
    with pytest.raises(ValueError, match="skip"):
        DIPConfig(skip=0)


def test_seeded_construction_is_deterministic_and_keeps_global_rng():
    state = torch.random.get_rng_state()
    with seeded(3):
        a = ImageDIP(SMALL)
    with seeded(3):
        b = ImageDIP(SMALL)
    assert torch.equal(torch.random.get_rng_state(), state)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_gradients_reach_every_parameter():
    net = ImageDIP(SMALL)
    net(image_noise(SMALL, 1, 16, 16, torch.Generator().manual_seed(0))).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
