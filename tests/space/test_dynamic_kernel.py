"""The kernel read off every code (``dynamic_kernel``): delta at start, per-cell kernels, shapes, gradients, bad
input, and a near-exact start from a model without it."""

from __future__ import annotations

import pytest
import torch

from blurkit.space.basis_blur import basis_convolve
from blurkit.space.dynamic_kernel import DynamicKernel
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.netconfig import KernelSpaceConfig

pytestmark = pytest.mark.usefixtures("one_thread")


def test_starts_as_a_delta_with_a_small_weight() -> None:
    dyn = DynamicKernel(kdim=4, size=5, stride=32)
    x, k = torch.rand(2, 3, 40, 70), torch.randn(2, 4, 2, 3)
    with torch.no_grad():
        kern = dyn.kernels(k)
    assert kern.shape == (2, 2, 3, 5, 5) and torch.allclose(kern.sum(dim=(-2, -1)), torch.ones(2, 2, 3))
    assert float(kern[..., 2, 2].min()) > 0.99
    out, logit = dyn(x, k)
    assert out.shape == x.shape and logit.shape == (2, 1, 40, 70)
    torch.testing.assert_close(out, x, atol=0.01, rtol=0)
    assert torch.all(logit == -6.0)


def test_each_cell_gets_its_own_kernel() -> None:
    dyn = DynamicKernel(kdim=2, size=5, stride=32)
    with torch.no_grad():  # code channel 0 shifts right by 2 px, channel 1 keeps the delta
        dyn.to_kernel.weight.zero_()
        dyn.to_kernel.weight[2 * 5 + 0, 0] = 30.0  # tap (2, 0): output pixel takes its value from 2 px to the right
    k = torch.zeros(1, 2, 1, 2)
    k[0, 0, 0, 0] = 1.0  # left cell: the shift; right cell: no blur
    x = torch.rand(1, 1, 32, 64)
    out, _ = dyn(x, k)
    shifted = basis_convolve(x, dyn.kernels(k)[0, 0, 0][None])[:, :, 0]
    torch.testing.assert_close(out[..., :32], shifted[..., :32])
    torch.testing.assert_close(out[..., 40:], x[..., 40:], atol=5e-3, rtol=0)  # the delta keeps 1e-4 per tap


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="dynamic_kernel needs head='basis'"):
        KernelSpaceConfig(dynamic_kernel=True)
    with pytest.raises(ValueError, match="dynamic_kernel must be a bool"):
        KernelSpaceConfig(head="basis", dynamic_kernel=1)


def _started_from(base: str, net: str) -> tuple[KernelSpace, KernelSpace, list[str]]:
    """(a perturbed ``base`` model, a ``net`` model initialised from it, the weights that were not copied)."""
    torch.manual_seed(0)
    before = KernelSpace(base).eval()
    for p in before.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    after = KernelSpace(net).eval()
    return before, after, after.init_from(before)


def test_starts_near_the_plain_model_and_learns() -> None:
    plain, dyn, fresh = _started_from("smoke", "smoke-dynamic")
    assert set(fresh) == {"F.tone.logits", "F.dyn.to_kernel.weight", "F.dyn.to_kernel.bias",
                          "F.dyn.to_logit.weight", "F.dyn.to_logit.bias"}
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(2, 3, 40, 56, generator=g), torch.rand(2, 3, 40, 56, generator=g)
    torch.testing.assert_close(dyn(x, y), plain(x, y), atol=2e-3, rtol=0)
    assert dyn.apply(x[:, :1], dyn.encode(x, y)[:1]).shape == (2, 1, 40, 56)  # grey image, shared kernel
    dyn.train()
    dyn(x, y).sub(y).pow(2).mean().backward()
    for name, p in dyn.named_parameters():
        if name.startswith("F.dyn."):
            assert p.grad is not None and float(p.grad.abs().sum()) > 0, name
    fast = {id(p) for p in dyn.parameter_groups(1e-4)[1]["params"]}
    assert id(dyn.F.dyn.to_logit.bias) in fast and id(dyn.F.dyn.to_kernel.weight) not in fast


def test_fine_grid_starts_from_the_coarse_dynamic_model() -> None:
    coarse, fine, fresh = _started_from("smoke-dynamic", "smoke-fine-dynamic")
    assert all(not n.startswith("F.dyn.") and not n.startswith("F.tone.") for n in fresh)  # both carried over
    g = torch.Generator().manual_seed(2)
    x, y = torch.rand(1, 3, 70, 90, generator=g), torch.rand(1, 3, 70, 90, generator=g)
    k = fine.encode(x, y)
    assert k.shape[-2:] == (4, 4)  # padded to 128 x 128, one code per 32 px cell
    assert fine.F.dyn.kernels(k).shape == (1, 4, 4, 15, 15)
    torch.testing.assert_close(fine(x, y), coarse(x, y), atol=1e-4, rtol=0)


def test_open_init_gives_the_dynamic_member_a_real_share() -> None:
    from blurkit.space.kernel_space import KernelSpace
    from blurkit.space.netconfig import KernelSpaceConfig, net_preset

    base = net_preset("smoke-dynamic")
    torch.manual_seed(0)
    shut = KernelSpace(base).eval()
    torch.manual_seed(0)
    opened = KernelSpace(KernelSpaceConfig(**{**base.to_dict(), "dynamic_init_logit": 0.0})).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        share = [float(m.F.linearise(x, m.encode(x, x)).weights[:, base.n_basis:].sum(1).mean())
                 for m in (shut, opened)]
    assert share[0] < 1e-3 and share[1] > 1e-2  # measured 3.5e-5 and 1.4e-2 (random basis logits share the rest)
    assert KernelSpaceConfig.from_dict({k: v for k, v in base.to_dict().items()
                                        if k != "dynamic_init_logit"}).dynamic_init_logit == -6.0
