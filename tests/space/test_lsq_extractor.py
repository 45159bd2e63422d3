"""G that reads the least-squares kernel (``g_lsq``): smoke, bad input, shapes, gradients, its cache, its training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as Fnn
from skimage import data
from tolerances import eps, sum_tol

from blurkit.space import lsq_cache
from blurkit.space.dynamic_kernel import DynamicKernel
from blurkit.space.kernel_lsq import lsq_kernel
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import kernel_error
from blurkit.space.lsq_extractor import EPS, tile_lsq_kernels
from blurkit.space.netconfig import KernelSpaceConfig, net_preset
from blurkit.space.train import train
from imagegen import synthetic_pairs

pytestmark = pytest.mark.usefixtures("one_thread")
S = net_preset("smoke-lsq").basis_size  # 15


def _box() -> torch.Tensor:
    k = torch.zeros(S, S)
    k[S // 2, S // 2 - 4:S // 2 + 5] = 1 / 9  # a 9 px horizontal box
    return k


def _pair(side: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """An astronaut crop and its blur by :func:`_box` (valid-region exact; the border reflects)."""
    x = torch.from_numpy(data.astronaut()[60:60 + side, 150:150 + side].astype("float32") / 255).permute(2, 0, 1)[None]
    xp = Fnn.pad(x, (S // 2,) * 4, mode="reflect")
    y = Fnn.conv2d(xp.reshape(3, 1, *xp.shape[-2:]), _box().flip(0, 1)[None, None]).reshape(1, 3, side, side)
    return x, y


def _fresh() -> KernelSpace:
    torch.manual_seed(0)
    return KernelSpace("smoke-lsq").eval()


def test_a_fresh_g_hands_f_the_least_squares_kernel_of_each_tile() -> None:
    x, y = _pair()
    model = _fresh()
    with torch.no_grad():
        k = model.encode(x, y)
        cells = model.cell_kernels(k)
        fit = model.apply(x, k)
    assert k.shape == (1, S * S, 4, 4) and cells.shape == (1, 4, 4, S, S)
    lsq = lsq_kernel(x, y, S, to_linear=model.F.tone, robust=4)[0]
    # softmax(log(K + EPS)) = (K + EPS) / (1 + S^2 EPS): within (1 + S^2) EPS of K per tap, plus float32 rounding of
    # the log and the softmax's sum over S^2 taps
    tol = (1 + S * S) * EPS + sum_tol(S * S)
    torch.testing.assert_close(cells[0], lsq.expand(4, 4, S, S), atol=tol, rtol=0)
    # and that is the box: a clean pair's estimate is exact up to its ridge (measured: kernel error 2e-7, largest
    # interior residual of F's fit 1.6e-4 on [0, 1] images); a wrong direction or width would be O(1) off
    assert float(kernel_error(cells[0, :1, :1], _box()[None, None])) < 1e-3
    assert float((fit - y)[..., S:-S, S:-S].abs().max()) < 1e-3


def test_a_given_estimate_is_read_as_it_is() -> None:
    x, y = _pair(64)
    model = _fresh()
    delta = torch.zeros(1, 1, 1, S, S)
    delta[..., S // 2, S // 2] = 1.0
    with torch.no_grad():
        cells = model.cell_kernels(model.G(x, y, lsq=delta))
    assert cells.shape == (1, 4, 4, S, S)  # 64 px is padded to one 128 px tile of 32 px cells
    assert float(cells[..., S // 2, S // 2].min()) > 1 - (1 + S * S) * EPS - sum_tol(S * S)


def test_bad_input_is_refused_in_one_line() -> None:
    x, y = _pair(64)
    model = _fresh()
    with pytest.raises(ValueError, match="does not fit"):
        model.G(x, y, lsq=torch.ones(1, 2, 2, S, S) / S**2)
    with pytest.raises(ValueError, match="same shape"):
        model.G(x, y[..., :32])
    with pytest.raises(ValueError, match="g_lsq needs head='kernel'"):
        KernelSpaceConfig(nf=8, kdim=225, basis_size=15, head="basis", code_stride=32, g_lsq=True,
                          g_widths=(8, 8, 8, 8, 8), f_widths=(8, 8, 16, 16, 16))
    with pytest.raises(ValueError, match="multiples of 128"):
        tile_lsq_kernels(x, y, S, None)
    with pytest.raises(ValueError, match="kdim 225"):
        DynamicKernel(16, 15, 32, logit_code=True)


def test_gradients_reach_the_correction() -> None:
    x, y = _pair(64)
    model = _fresh().train()
    lsq = torch.full((1, 1, 1, S, S), 1 / S**2)
    model.G(x, y, lsq=lsq).square().mean().backward()
    grad = model.G.head[-1].weight.grad
    assert grad is not None and float(grad.abs().max()) > 0


def test_init_copies_the_tone_curve_alone() -> None:
    torch.manual_seed(1)
    other = KernelSpace("smoke-kernel")
    with torch.no_grad():
        other.F.tone.logits.normal_()
    model = _fresh()
    fresh = model.init_from(other)
    assert torch.equal(model.F.tone.logits, other.F.tone.logits)
    assert any(name.startswith("G.") for name in fresh) and not any(name.startswith("F.tone") for name in fresh)


def test_the_cache_is_computed_once_per_tone_curve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = synthetic_pairs(tmp_path, "gopro-like", 2, 64)
    from blurkit.data.pairs import pair_folder

    pairs = pair_folder(folder)
    calls = []
    real = lsq_cache.tile_lsq_kernels
    monkeypatch.setattr(lsq_cache, "tile_lsq_kernels", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    tone = _fresh().F.tone
    first = lsq_cache.pair_lsq_kernels(pairs, S, tone, progress=False)
    again = lsq_cache.pair_lsq_kernels(pairs, S, tone, progress=False)
    assert len(calls) == 1 and all(torch.equal(a, b) for a, b in zip(first, again))
    assert first[0].shape == (1, 1, S, S)
    with torch.no_grad():
        tone.logits.add_(0.1)
    assert lsq_cache.cache_file(pairs, S, tone) != lsq_cache.cache_file(pairs, S, _fresh().F.tone)


def test_training_keeps_f_and_trains_the_correction(tmp_path: Path) -> None:
    folder = synthetic_pairs(tmp_path, "gopro-like", 3, 64)
    result = train("smoke", folder, tmp_path / "run", steps=4, net="smoke-lsq", kernel_weight=1.0, progress=False)
    model = KernelSpace.load(result.run_dir / "model.pt")
    assert model.config.g_lsq and "kernel_error" in result.history.columns
    start = _fresh()
    assert torch.equal(model.F.tone.logits, start.F.tone.logits)  # F stays (the estimates are in its domain)
    assert float(model.G.head[-1].weight.detach().abs().max()) > eps()  # the zero-started correction learned


def test_blind_deblurring_says_why_there_is_no_estimator(tmp_path: Path) -> None:
    from blurkit.deblur.solver import code_estimator_for
    from blurkit.errors import BlurkitError

    _fresh().save(tmp_path / "m.pt")
    with pytest.raises(BlurkitError, match="no code estimator: its G reads the least-squares kernel"):
        code_estimator_for(KernelSpace.load(tmp_path / "m.pt"))
