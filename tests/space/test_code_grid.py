"""The finer kernel-code grid (``KernelSpaceConfig.code_stride``): shapes, bad input, exact init from a 128 px
model, gradients into the new layers, and every consumer of k (transfer, DIP prior, solver, retrieval, training)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as Fnn

from blurkit.data.default_data import folder_sources, synth_folder
from blurkit.deblur.dip import KernelDIP, kernel_noise
from blurkit.deblur.retrieval import retrieve_kernel
from blurkit.deblur.solver import deblur
from blurkit.errors import BlurkitError
from blurkit.space.blocks import kernel_size_for
from blurkit.space.kernel_estimate import window_kernel_estimate
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.netconfig import NET_PRESETS, KernelSpaceConfig
from blurkit.space.train import train
from imagegen import rand_rgb, save_png
from tests.tolerances import float64_copy, ulp_tol

pytestmark = pytest.mark.usefixtures("one_thread")
FINE = NET_PRESETS["smoke-fine"]


def _pair(b: int, h: int, w: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g), torch.rand(b, 3, h, w, generator=g)


def _coarse_and_fine(seed: int = 0) -> tuple[KernelSpace, KernelSpace]:
    torch.manual_seed(seed)
    coarse = KernelSpace("smoke").eval()
    for p in coarse.parameters():  # a "trained" coarse model: perturb every weight so no layer is at its init
        p.data.add_(0.05 * torch.randn_like(p))
    fine = KernelSpace("smoke-fine").eval()
    fresh = fine.init_from(coarse)
    assert fresh and all(n.startswith(("G.refine.", "G.estimate_fine.", "F.k_inject.")) for n in fresh)
    return coarse, fine


@pytest.mark.parametrize("h, w, stride, want", [(128, 128, 32, (4, 4)), (130, 300, 32, (8, 12)), (1, 1, 16, (8, 8)),
                                                (200, 64, 64, (4, 2)), (200, 64, 128, (2, 1))])
def test_kernel_size_for_strides(h: int, w: int, stride: int, want: tuple[int, int]) -> None:
    assert kernel_size_for(h, w, stride) == want


def test_bad_strides_are_refused() -> None:
    with pytest.raises(ValueError, match="divide 128"):
        kernel_size_for(64, 64, 48)
    for bad in (48, 256, True, 0):
        with pytest.raises(ValueError, match="code_stride"):
            KernelSpaceConfig(code_stride=bad)


def test_old_checkpoints_read_as_stride_128() -> None:
    d = NET_PRESETS["cpu"].to_dict()
    d.pop("code_stride")
    assert KernelSpaceConfig.from_dict(d).code_stride == 128
    assert KernelSpaceConfig.from_dict(NET_PRESETS["cpu-fine"].to_dict()).code_stride == 32


@pytest.mark.parametrize("h, w", [(13, 37), (64, 64), (130, 200)])
def test_shapes_any_size(h: int, w: int) -> None:
    model = KernelSpace("smoke-fine").eval()
    x, y = _pair(2, h, w)
    with torch.no_grad():
        k = model.encode(x, y)
        assert k.shape == (2, FINE.kdim, *model.kernel_size(h, w)) == (2, FINE.kdim, *kernel_size_for(h, w, 32))
        assert model.apply(x, k).shape == x.shape
        assert model.apply(x[:, :1], k[:1]).shape == (2, 1, h, w)  # grey image, a shared kernel


def test_a_coarse_kernel_is_refused_with_both_shapes() -> None:
    model = KernelSpace("smoke-fine").eval()
    x = torch.rand(1, 3, 64, 64)
    with pytest.raises(ValueError, match=r"\(1, 16, 1, 1\).*H/32"):
        model.apply(x, torch.zeros(1, FINE.kdim, 1, 1))


def test_init_from_a_coarse_model_is_exact() -> None:
    # Exact up to rounding, so compared in float64 (tests/tolerances.py): the two networks take different paths
    # (5e-7 apart in float32 on this CPU, 9e-16 in float64), and one float32 ulp of the scale is far above the
    # float64 rounding and far below any real difference between the models.
    coarse, fine = (float64_copy(m) for m in _coarse_and_fine())
    x, y = (t.double() for t in _pair(2, 100, 150))
    with torch.no_grad():
        kc, kf = coarse.encode(x, y), fine.encode(x, y)
        assert kf.shape[-2:] == (4 * kc.shape[-2], 4 * kc.shape[-1])
        torch.testing.assert_close(Fnn.avg_pool2d(kf, 4), kc, atol=ulp_tol(kc), rtol=0)
        want = coarse(x, y)
        torch.testing.assert_close(fine(x, y), want, atol=ulp_tol(want), rtol=0)


def test_init_from_refuses_other_networks() -> None:
    fine = KernelSpace("smoke-fine")
    with pytest.raises(BlurkitError, match="may differ"):
        fine.init_from(KernelSpace("smoke-residual"))
    with pytest.raises(BlurkitError, match="may differ"):
        fine.init_from(KernelSpace("cpu"))


def test_gradients_reach_the_new_layers_and_use_the_grid() -> None:
    _, fine = _coarse_and_fine()
    fine.train()
    x, y = _pair(1, 64, 64)
    fine(x, y).sub(y).pow(2).mean().backward()
    for name in ("G.refine.2.weight", "F.k_inject.weight"):
        grad = dict(fine.named_parameters())[name].grad
        assert grad is not None and float(grad.abs().sum()) > 0, name
    # with the zero layers trained away from zero, one cell of k changes F's output mostly inside that cell
    with torch.no_grad():
        fine.F.k_inject.weight.normal_(0, 0.5)
        fine.eval()
        k = fine.encode(x, y)
        k2 = k.clone()
        k2[..., 0, 0] += 1.0
        diff = (fine.apply(x, k2) - fine.apply(x, k)).abs().mean(dim=(0, 1))
    inside, outside = float(diff[:32, :32].mean()), float(diff[32:, 32:].mean())
    assert inside > 3 * outside


def test_window_estimate_finds_a_local_shift() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 128, 128, generator=g)
    y = x.clone()
    y[..., :, :64] = torch.roll(x, (2, 3), (2, 3))[..., :, :64]  # left half shifted by (2, 3), right half still
    est = window_kernel_estimate(x, y, 15, 32)
    assert est.shape == (1, 225, 4, 4)
    peaks = est[0].argmax(dim=0)  # (4, 4) flat index of each cell's peak in the 15 x 15 kernel
    assert (peaks[:, 0] == 9 * 15 + 10).all() and (peaks[:, 3] == 7 * 15 + 7).all()
    with pytest.raises(ValueError, match="multiples of 32"):
        window_kernel_estimate(x[..., :100], y[..., :100], 15, 32)


def test_transfer_resizes_a_fine_kernel() -> None:
    model = KernelSpace("smoke-fine").eval()
    xs, ys = _pair(1, 64, 64)
    with torch.no_grad():
        out = model.transfer(xs, ys, torch.rand(2, 3, 130, 200))
    assert out.shape == (2, 3, 130, 200)


@pytest.mark.parametrize("h, w", [(20, 24), (130, 300)])
def test_kernel_dip_follows_the_code_stride(h: int, w: int) -> None:
    from blurkit.deblur.dip import DIPConfig

    cfg = DIPConfig(widths=(8, 8), kz_channels=4, k_width=8)
    z = kernel_noise(cfg, 1, h, w, torch.Generator().manual_seed(0), code_stride=32)
    assert KernelDIP(cfg, FINE)(z).shape == (1, FINE.kdim, *kernel_size_for(h, w, 32))


def test_solver_and_retrieval_run_on_a_fine_model() -> None:
    model = KernelSpace("smoke-fine").eval()
    x, y = _pair(1, 40, 70)
    res = deblur(model, y, "smoke", progress=False)
    assert res.x.shape == y.shape and res.k.shape == (1, FINE.kdim, *model.kernel_size(40, 70))
    ret = retrieve_kernel(model, x, y, "smoke", progress=False)
    assert ret.k.shape == (1, FINE.kdim, *model.kernel_size(40, 70))


@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fine-data")
    for i in range(2):
        save_png(root / "photos" / f"p{i}.png", rand_rgb(80, 80, seed=i))
    return synth_folder("reds-like", 6, 64, 0, root / "pairs", sources=folder_sources(root / "photos"),
                        progress=False)


def test_training_a_fine_net_from_a_coarse_run(pair_dir: Path, tmp_path: Path) -> None:
    train("smoke", pair_dir, tmp_path / "coarse", steps=4, progress=False)
    base = tmp_path / "coarse" / "model.pt"
    res = train("smoke", pair_dir, tmp_path / "fine", steps=4, stop_after=2, net="smoke-fine", init=base,
                progress=False)
    assert res.step == 2
    res = train("smoke", pair_dir, tmp_path / "fine", steps=4, resume=True, net="smoke-fine", init=base,
                progress=False)
    model = KernelSpace.load(tmp_path / "fine" / "model.pt")
    assert model.config.code_stride == 32 and res.step == 4
    init = model.provenance["config"]["init"]
    assert init["path"] == str(base) and len(init["sha256"]) == 64 and init["steps"] == 4
    assert "F.k_inject.weight" in init["fresh_weights"]
    with pytest.raises(BlurkitError, match="may differ"):
        train("smoke", pair_dir, tmp_path / "bad", steps=2, net="smoke-residual", init=base, progress=False)


def test_code_norm_is_in_units_of_the_128_px_grid() -> None:
    """λ‖k‖₂ must not grow with the grid: a fine code repeating a coarse one has the coarse code's norm."""
    coarse, fine = KernelSpace("smoke"), KernelSpace("smoke-fine")
    k = torch.randn(1, coarse.config.kdim, 2, 3)
    assert float(coarse.code_norm(k)) == pytest.approx(float(torch.linalg.vector_norm(k)))
    k_fine = k.repeat_interleave(4, dim=-2).repeat_interleave(4, dim=-1)  # each 128 px cell as 4 x 4 cells of 32
    assert float(fine.code_norm(k_fine)) == pytest.approx(float(coarse.code_norm(k)), rel=1e-5)
    assert float(fine.code_norm(k_fine)) < float(torch.linalg.vector_norm(k_fine)) / 3
