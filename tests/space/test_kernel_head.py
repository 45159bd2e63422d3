"""F with the kernel head (``head="kernel"``): every code cell's own kernel, nothing else (kornia-style: smoke, bad
input, shapes, gradients, plus linearity in x, the linearisation being F itself, and G-only initialisation)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from tolerances import ulp_tol

from blurkit.errors import BlurkitError
from blurkit.space.basis_blur import basis_convolve
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.netconfig import NET_PRESETS, KernelSpaceConfig

pytestmark = pytest.mark.usefixtures("one_thread")

SMOKE_KERNEL = dataclasses.replace(NET_PRESETS["smoke"], head="kernel", code_stride=32)


def _model(tone: int = 0, seed: int = 0, stride: int = 32) -> KernelSpace:
    torch.manual_seed(seed)
    ks = KernelSpace(dataclasses.replace(SMOKE_KERNEL, tone_knots=tone, code_stride=stride)).eval()
    with torch.no_grad():  # a code-dependent kernel, far from the delta it starts as
        ks.F.dyn.to_kernel.weight.normal_(0, 0.5)
    return ks


def test_config_rules() -> None:
    with pytest.raises(ValueError, match="dynamic_kernel needs head='basis'"):
        dataclasses.replace(SMOKE_KERNEL, dynamic_kernel=True)
    with pytest.raises(ValueError, match="tone_knots needs head='basis' or 'kernel'"):
        KernelSpaceConfig(tone_knots=4)
    assert NET_PRESETS["cpu-kernel"].head == "kernel" and NET_PRESETS["cpu-fine-kernel"].code_stride == 32


def test_only_the_kernel_and_tone_are_learned_in_f() -> None:
    names = {n.split(".")[0] for n, _ in _model(tone=8).F.named_parameters()}
    assert names == {"dyn", "tone"}


@pytest.mark.parametrize("size", [(32, 32), (40, 70), (1, 5)])
def test_shapes_and_per_cell_kernels(size: tuple[int, int]) -> None:
    ks = _model()
    x = torch.rand(2, 3, *size)
    k = torch.randn(2, ks.config.kdim, *ks.kernel_size(*size))
    out = ks.F(x, k)
    assert out.shape == x.shape
    # in every code cell, the image blurred by that cell's kernel
    kern = ks.F.dyn.kernels(k)
    for b in range(2):
        for i in range(kern.shape[1]):
            for j in range(kern.shape[2]):
                want = basis_convolve(x[b:b + 1], kern[b, i, j][None])[:, :, 0]
                cell = (..., slice(32 * i, 32 * i + 32), slice(32 * j, 32 * j + 32))
                torch.testing.assert_close(out[b:b + 1][cell], want[cell], atol=ulp_tol(want, ulps=64), rtol=0)


def test_linear_in_x_without_a_tone_curve() -> None:
    ks = _model()
    x1, x2 = torch.rand(1, 3, 40, 40), torch.rand(1, 3, 40, 40)
    k = torch.randn(1, ks.config.kdim, *ks.kernel_size(40, 40))
    with torch.no_grad():
        lhs = ks.F(0.3 * x1 + 0.7 * x2, k)
        rhs = 0.3 * ks.F(x1, k) + 0.7 * ks.F(x2, k)
    # the blur is an FFT convolution in float32: each transform rounds to about eps * log2(N) of the scale (N <= 2^8
    # per side here), forward and inverse, for three blurs: 2 * 8 * 3 = 48 ulps, so 64 bounds it
    torch.testing.assert_close(lhs, rhs, atol=ulp_tol(rhs, ulps=64), rtol=0)
    assert float((ks.F(x1, k) - x1).detach().abs().max()) > 0.05  # and it does blur


@pytest.mark.parametrize("tone", [0, 8])
def test_linearisation_is_f_itself(tone: int) -> None:
    ks = _model(tone=tone)
    x, other = torch.rand(1, 3, 48, 40), torch.rand(1, 3, 48, 40)
    k = torch.randn(1, ks.config.kdim, *ks.kernel_size(48, 40))
    with torch.no_grad():
        lin = ks.F.linearise(other, k)  # any point: the weights do not depend on x
        want = ks.F(x, k)
        got = lin(x)
    hk, wk = ks.kernel_size(48, 40)
    assert float(lin.residual.abs().max()) == 0.0 and lin.weights.shape[1] == hk * wk  # one member per code cell
    # two FFT convolutions of different padded sizes (F's and the linearisation's), through the tone curve and back
    torch.testing.assert_close(got, want, atol=ulp_tol(want, ulps=256), rtol=0)


def test_gradients_reach_f_and_g() -> None:
    from tests.gradients import dead_parameters

    ks = _model(tone=8, stride=128).train()  # (a 32 px grid's extra G layers start at zero, as in test_networks)
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    (ks(x, y) - y).abs().mean().backward()
    # the dynamic kernel's mixture logit has no mixture to weigh in this head (kept so that the module is the
    # one the basis head uses)
    assert dead_parameters(ks.named_parameters()) == ["F.dyn.to_logit.weight: no gradient",
                                                      "F.dyn.to_logit.bias: no gradient"]


def test_bad_code_is_one_error() -> None:
    ks = _model()
    with pytest.raises(ValueError, match="does not fit x"):
        ks.F(torch.rand(1, 3, 32, 32), torch.randn(1, ks.config.kdim, 3, 3))


def test_init_from_copies_g_alone() -> None:
    torch.manual_seed(1)
    basis = KernelSpace(dataclasses.replace(NET_PRESETS["smoke"], code_stride=32)).eval()
    ks = KernelSpace(SMOKE_KERNEL).eval()
    fresh = ks.init_from(basis)
    assert sorted(fresh) == ["F.dyn.to_kernel.bias", "F.dyn.to_kernel.weight", "F.dyn.to_logit.bias",
                             "F.dyn.to_logit.weight"]
    x, y = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(ks.encode(x, y), basis.encode(x, y))
    wider = KernelSpace(dataclasses.replace(SMOKE_KERNEL, kdim=8, g_widths=(8, 16, 16, 16, 8)))
    with pytest.raises(BlurkitError, match="cannot initialise this G"):
        wider.init_from(basis)
