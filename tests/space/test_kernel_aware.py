"""blurkit's kernel-aware additions to F and G: the basis head and the least-squares kernel estimate."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from blurkit.data.kernels import convolve, eight_kernels
from blurkit.space.basis_blur import BASIS_LR_SCALE, BasisBlur, basis_convolve
from blurkit.space.kernel_estimate import tile_kernel_estimate
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.netconfig import NET_PRESETS, KernelSpaceConfig
from tests.gradients import dead_parameters
from tests.imagegen import rand_rgb

pytestmark = pytest.mark.usefixtures("one_thread")


def _image(seed: int, size: int = 128) -> torch.Tensor:
    """A textured test image (smoothed noise), ``(1, 3, size, size)``."""
    img = torch.from_numpy(rand_rgb(size, size, seed=seed).copy()).permute(2, 0, 1)[None].float() / 255.0
    return torch.nn.functional.avg_pool2d(img, 3, 1, 1)


def _centred(k: np.ndarray, size: int) -> torch.Tensor:
    out = torch.zeros(size, size)
    o = (size - k.shape[0]) // 2
    out[o:o + k.shape[0], o:o + k.shape[1]] = torch.from_numpy(k)
    return out


def test_basis_convolve_matches_spatial_convolution() -> None:
    x = _image(0, 64)
    k = eight_kernels()[4]  # 13 px
    want = convolve(x, k)
    got = basis_convolve(x, _centred(k, 15)[None])[:, :, 0]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_basis_convolve_bad_kernels() -> None:
    with pytest.raises(ValueError, match="odd side"):
        basis_convolve(_image(0, 16), torch.ones(2, 4, 4))


def test_basis_blur_kernels_are_normalised_and_start_on_delta() -> None:
    blur = BasisBlur(5, 15)
    k = blur.kernels()
    assert k.shape == (5, 15, 15) and bool((k >= 0).all())
    torch.testing.assert_close(k.sum(dim=(1, 2)), torch.ones(5))
    assert float(k[0, 7, 7].detach()) > 0.9  # kernel 0 is (nearly) a delta
    x = _image(1, 32)
    logits = torch.full((1, 5, 32, 32), -30.0)
    logits[:, 0] = 30.0  # all weight on the delta
    torch.testing.assert_close(blur(x, logits), basis_convolve(x, k[:1])[:, :, 0])
    with pytest.raises(ValueError):
        BasisBlur(3, 4)


def test_kernel_estimate_names_the_kernel() -> None:
    kernels = eight_kernels()
    templates = torch.stack([_centred(k, 31).flatten() for k in kernels])
    hits = 0
    for seed in range(2):
        x = _image(seed + 10)
        for i, k in enumerate(kernels):
            est = tile_kernel_estimate(x, convolve(x, k), 31)
            assert est.shape == (1, 31 * 31, 1, 1)
            sims = torch.nn.functional.cosine_similarity(est.flatten()[None], templates, dim=1)
            hits += int(sims.argmax()) == i
    assert hits >= 14, f"the estimate named {hits}/16 kernels (chance: 2; measured 15)"


def test_kernel_estimate_grid_and_bad_size() -> None:
    x = _image(3, 256)
    assert tile_kernel_estimate(x, x, 15).shape == (1, 225, 2, 2)
    with pytest.raises(ValueError, match="multiples"):
        tile_kernel_estimate(_image(3, 100), _image(3, 100), 15)


@pytest.mark.parametrize("preset", ["smoke", "smoke-residual"])
def test_both_heads_any_size_and_gradients(preset: str) -> None:
    torch.manual_seed(0)
    ks = KernelSpace(preset)
    x, y = _image(4, 37)[..., :29], _image(5, 37)[..., :29]
    out = ks(x, y)
    assert out.shape == x.shape
    (out - y).pow(2).mean().backward()
    assert dead_parameters(ks.named_parameters()) == []  # finite, and not zero everywhere


def test_basis_head_depends_on_k() -> None:
    torch.manual_seed(0)
    ks = KernelSpace("smoke")
    x, y = _image(6, 64), _image(7, 64)
    with torch.no_grad():
        k = ks.encode(x, y)
        assert (ks.apply(x, k + 3.0) - ks.apply(x, k)).abs().max() > 5e-3  # measured 0.024


def test_parameter_groups_speed_up_the_basis_only() -> None:
    ks = KernelSpace("smoke")
    groups = ks.parameter_groups(1e-4)
    assert [g["lr"] for g in groups] == [1e-4, 1e-4 * BASIS_LR_SCALE]
    assert groups[1]["params"] == [ks.F.basis.logits]
    assert sum(len(g["params"]) for g in groups) == len(list(ks.parameters()))
    assert len(KernelSpace("smoke-residual").parameter_groups(1e-4)) == 1


def test_config_checks_and_old_checkpoints() -> None:
    old = NET_PRESETS["cpu-residual"].to_dict()
    for key in ("head", "n_basis", "basis_size", "g_estimate"):
        old.pop(key)
    assert KernelSpaceConfig.from_dict(old) == NET_PRESETS["cpu-residual"]  # written before the fields existed
    with pytest.raises(ValueError, match="head"):
        dataclasses.replace(NET_PRESETS["smoke"], head="film")
    with pytest.raises(ValueError, match="odd"):
        dataclasses.replace(NET_PRESETS["smoke"], basis_size=16)
