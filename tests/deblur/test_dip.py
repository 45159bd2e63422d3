"""Deep Image Priors: shapes, bad input, determinism, gradients."""

import pytest
import torch

from blurkit.deblur.dip import DIPConfig, ImageDIP, KernelDIP, image_noise, kernel_noise, seeded
from blurkit.space.blocks import kernel_size_for
from blurkit.space.netconfig import net_preset
from tests.gradients import dead_parameters

SMALL = DIPConfig(z_channels=4, widths=(8, 8, 8), skip=2, kz_channels=4, k_width=8)


@pytest.mark.parametrize("h, w", [(1, 1), (13, 37), (64, 64)])
def test_image_dip_shapes(h, w):
    z = image_noise(SMALL, 2, h, w, torch.Generator().manual_seed(0))
    assert z.shape[-2] % SMALL.multiple == 0 and z.shape[-2] >= h and z.shape[-1] >= w
    out = ImageDIP(SMALL, out_channels=3)(z).detach()  # a range check, no gradient needed
    assert out.shape == (2, 3, *z.shape[-2:])
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


@pytest.mark.parametrize("preset", ["smoke", "cpu-fine-lsq"])  # cpu-fine-lsq: a kernel head, kdim 961 > G's widths
@pytest.mark.parametrize("h, w", [(20, 24), (130, 300)])
def test_kernel_dip_matches_kernel_space_shape(h, w, preset):
    space = net_preset(preset)
    z = kernel_noise(SMALL, 1, h, w, torch.Generator().manual_seed(0), space.code_stride)
    k = KernelDIP(SMALL, space)(z)
    assert k.shape == (1, space.kdim, *kernel_size_for(h, w, space.code_stride))


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
    """Every weight gets a finite gradient that is not zero everywhere (a detached or dead path gives exact zeros)."""
    g = torch.Generator().manual_seed(0)
    net = ImageDIP(SMALL)
    target = torch.rand(1, 3, 16, 16, generator=g)
    (net(image_noise(SMALL, 1, 16, 16, g)) - target).pow(2).mean().backward()
    assert dead_parameters(net.named_parameters()) == []
    knet = KernelDIP(SMALL, net_preset("smoke"))
    k = knet(kernel_noise(SMALL, 1, 20, 24, g))
    (k - torch.randn(k.shape, generator=g)).pow(2).mean().backward()
    assert dead_parameters(knet.named_parameters()) == []
