"""The blind code estimator E(y) (kornia-style: smoke, bad input, shapes, training lowers the code error)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from imagegen import rand_rgb, save_png, synthetic_pairs

from blurkit.data.images import read_image
from blurkit.data.kernels import convolve
from blurkit.errors import BlurkitError
from blurkit.space.code_estimator import (CodeEstimator, EstimatorConfig, code_error, estimator_path, mean_code_error,
                                         split_by_photo, train_estimator)
from blurkit.space.kernel_space import MODELS_DIR, KernelSpace

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model() -> KernelSpace:
    torch.manual_seed(0)
    return KernelSpace("smoke").eval()


def _pairs(folder: Path, n: int = 6, size: int = 40) -> list[tuple[Path, Path]]:
    box = torch.zeros(7, 7)
    box[3, :] = 1 / 7
    out = []
    for i in range(n):
        x = rand_rgb(size, size, seed=i)
        xt = torch.from_numpy(x.copy()).permute(2, 0, 1)[None].float()
        y = convolve(xt, box)[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
        out.append((save_png(folder / "sharp" / f"{i}.png", x), save_png(folder / "blur" / f"{i}.png", y)))
    return out


def test_starts_at_the_no_blur_code_and_shapes(model: KernelSpace) -> None:
    est = CodeEstimator.from_kernel_space(model).eval()
    for h, w in ((32, 32), (40, 130), (1, 5)):
        y = torch.rand(2, 3, h, w)
        with torch.no_grad():
            got, want = est(y), model.encode(y, y)
        assert got.shape == (2, model.config.kdim, *model.kernel_size(h, w))
        assert torch.equal(got, want)  # a copy of G, fed (y, y)


def test_training_lowers_the_code_error_and_leaves_the_model(model: KernelSpace, tmp_path: Path) -> None:
    pairs = _pairs(tmp_path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    est, history = train_estimator(model, pairs, EstimatorConfig(steps=40, batch_size=2, crop=32, lr=1e-3),
                                   val_pairs=pairs[:2], progress=False)
    assert list(history.step) == list(range(41)) and history.val_error.notna().sum() == 6  # step 0 and 5 checks
    assert history.hold_out_error.isna().all() and est.provenance["best_step"] == 40  # nothing held out: the end
    start = CodeEstimator.from_kernel_space(model).eval()
    imgs = [tuple(torch.from_numpy(read_image(p).copy()).permute(2, 0, 1)[None] for p in pair) for pair in pairs]
    with torch.no_grad():
        err_start = sum(float(code_error(start, model, x, y)) for x, y in imgs) / len(imgs)
        err_end = sum(float(code_error(est, model, x, y)) for x, y in imgs) / len(imgs)
    assert err_end < 0.8 * err_start  # measured 0.61
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # F and G frozen
    assert est.provenance["config"]["steps"] == 40 and est.provenance["train_pairs"] == 6
    x = torch.from_numpy(rand_rgb(32, 32, seed=0).copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        err = code_error(est, model, x, x)
    assert torch.isfinite(err)


def test_hold_out_keeps_the_best_checked_weights(model: KernelSpace, tmp_path: Path) -> None:
    pairs = _pairs(tmp_path, n=8)  # no manifest: each pair its own photo
    cfg = EstimatorConfig(steps=12, batch_size=2, crop=32, lr=3e-3, hold_out=2, checks=4)
    est, history = train_estimator(model, pairs, cfg, val_pairs=pairs[:1], progress=False)
    rec = est.provenance
    assert rec["train_pairs"] == 6 and rec["hold_out_pairs"] == 2 and rec["hold_out_photos"] == 2
    checked = history.dropna(subset=["hold_out_error"]).set_index("step").hold_out_error
    assert list(checked.index) == [0, 3, 6, 9, 12]
    assert rec["best_step"] == int(checked.idxmin()) and rec["hold_out_error"] == checked.min()
    assert rec["start_hold_out_error"] == checked[0]
    held = [tuple(torch.from_numpy(read_image(p).copy()).permute(2, 0, 1)[None] for p in pair) for pair in pairs[6:]]
    got = mean_code_error(est, model, held)
    assert got == checked.min()  # the kept weights are the ones that scored it (same images, same arithmetic)
    with pytest.raises(BlurkitError, match="cannot hold out 8 of 8 source photos"):
        train_estimator(model, pairs, EstimatorConfig(steps=1, hold_out=8), progress=False)


def test_split_by_photo_holds_out_whole_photos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = _pairs(tmp_path, n=9, size=8)
    sources = ["a", "a", "a", "b", "b", "b", "c", "c", "c"]
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"pairs": [{"name": s.name, "source": src} for (s, _), src in zip(pairs, sources)]}))
    reads = []
    monkeypatch.setattr(Path, "read_text", lambda self, *a, _read=Path.read_text, **k: reads.append(self) or
                        _read(self, *a, **k))
    train, held = split_by_photo(pairs, 2, at_most=3)
    assert reads == [tmp_path / "manifest.json"]  # once for the folder, not once per pair
    monkeypatch.undo()
    assert train == pairs[:3]  # photo a only
    assert held == [pairs[3], pairs[5], pairs[8]]  # 3 of the 6 pairs of b and c, evenly spread (0, 2.5, 5)
    assert split_by_photo(pairs, 0, 3) == (pairs, [])
    with pytest.raises(BlurkitError, match="cannot hold out 3 of 3 source photos"):
        split_by_photo(pairs, 3, 3)


def test_gradients_reach_every_parameter(model: KernelSpace) -> None:
    from tests.gradients import dead_parameters

    est = CodeEstimator.from_kernel_space(model).train()
    est(torch.rand(2, 3, 32, 32)).pow(2).mean().backward()
    assert dead_parameters(est.named_parameters()) == []


def test_save_load_round_trip_and_bad_files(model: KernelSpace, tmp_path: Path) -> None:
    est = CodeEstimator.from_kernel_space(model).eval()
    path = est.save(tmp_path / "e.estimator.pt", {"note": "test"})
    back = CodeEstimator.load(path)
    y = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(back(y), est(y))
    assert back.provenance == {"note": "test"}
    with pytest.raises(BlurkitError, match="no blind code estimator at .*train-estimator"):
        CodeEstimator.load(tmp_path / "missing.estimator.pt")
    model.save(tmp_path / "k.pt")
    with pytest.raises(BlurkitError, match="not a blurkit code estimator"):
        CodeEstimator.load(tmp_path / "k.pt")


def test_estimator_lives_beside_its_kernel_space(tmp_path: Path) -> None:
    assert estimator_path("uniform-8") == MODELS_DIR / "uniform-8.estimator.pt"
    assert estimator_path(tmp_path / "run" / "model.pt") == tmp_path / "run" / "model.estimator.pt"


def test_kernel_weight_teaches_the_true_kernels(tmp_path: Path) -> None:
    import dataclasses

    from blurkit.data.pairs import pair_folder
    from blurkit.data.true_kernels import folder_kernels
    from blurkit.space.losses import kernel_error
    from blurkit.space.netconfig import net_preset

    pairs = pair_folder(synthetic_pairs(tmp_path, "gopro-like", 8, 64))
    torch.manual_seed(0)  # a kernel head whose code-to-kernel map is random (an untrained one gives deltas only)
    model = KernelSpace(net_preset("smoke-kernel")).eval()
    with torch.no_grad():
        g = torch.Generator().manual_seed(1)
        model.F.dyn.to_kernel.weight.copy_(0.5 * torch.randn(model.F.dyn.to_kernel.weight.shape, generator=g))
    truth = torch.stack(folder_kernels(pairs, 64, model.config.code_stride, model.config.basis_size))
    imgs = [tuple(torch.from_numpy(read_image(p).copy()).permute(2, 0, 1)[None] for p in pair) for pair in pairs]
    y = torch.cat([b for _, b in imgs])

    def error(est: CodeEstimator) -> float:
        with torch.no_grad():
            return float(kernel_error(model.cell_kernels(est(y))[:, :1, :1], truth))

    cfg = EstimatorConfig(steps=30, batch_size=2, crop=64, lr=1e-3)
    plain, _ = train_estimator(model, pairs, cfg, progress=False)
    sup, history = train_estimator(model, pairs, dataclasses.replace(cfg, kernel_weight=1.0), val_pairs=pairs[:2],
                                   progress=False)
    assert sup.provenance["config"]["kernel_weight"] == 1.0 and history.val_error.notna().any()
    assert error(sup) < 0.8 * error(plain), (error(sup), error(plain))  # measured 1.08 against 11.6
    with pytest.raises(BlurkitError, match="read a kernel off each code cell"):
        train_estimator(KernelSpace("smoke").eval(), pairs, dataclasses.replace(cfg, kernel_weight=1.0), progress=False)
    with pytest.raises(BlurkitError, match="augment off"):
        train_estimator(model, pairs, dataclasses.replace(cfg, kernel_weight=1.0, augment=True), progress=False)


def test_g_lsq_estimator_starts_at_the_identity_and_learns_the_true_kernels(tmp_path: Path) -> None:
    from blurkit.data.pairs import pair_folder
    from blurkit.data.true_kernels import folder_kernels
    from blurkit.space.losses import kernel_error
    from blurkit.space.lsq_extractor import EPS

    pairs = pair_folder(synthetic_pairs(tmp_path, "gopro-like", 8, 64))
    torch.manual_seed(0)
    model = KernelSpace("smoke-lsq").eval()
    s = model.config.basis_size
    truth = torch.stack(folder_kernels(pairs, 64, model.config.code_stride, s))
    y = torch.cat([torch.from_numpy(read_image(b).copy()).permute(2, 0, 1)[None] for _, b in pairs]).float() / 255
    fresh = CodeEstimator.from_kernel_space(model)
    with torch.no_grad():
        start = model.cell_kernels(fresh(y))  # F pads to 128 px: a 4 x 4 grid at code stride 32
    delta = torch.zeros(s, s)
    delta[s // 2, s // 2] = 1.0
    assert start.shape == (8, *model.kernel_size(64, 64), s, s)
    c = truth.shape[1]
    # softmax(log(δ + EPS)) = (δ + EPS) / (1 + S² EPS): every tap within S² EPS of the delta
    torch.testing.assert_close(start, delta.expand_as(start), atol=s * s * EPS, rtol=0)
    with pytest.raises(BlurkitError, match="true kernels alone"):
        train_estimator(model, pairs, EstimatorConfig(steps=2, batch_size=2, crop=64), progress=False)
    # lr 1e-3: at 3e-3 the run is on the edge of divergence, and where it ends depends on the CPU's rounding (measured
    # 2026-12-06 on an AMD EPYC, model seeds 0 / 1: 5.7 / 3.7 after 40 steps, 12.5 / 4.7 after 80; this test read 8.3
    # there and 5.2 on the CPU it was written on); at 1e-3 both seeds reach 0.90-0.93 after 40, 80 or 160 steps
    cfg = EstimatorConfig(steps=40, batch_size=4, crop=64, lr=1e-3, kernel_weight=1.0)
    est, _ = train_estimator(model, pairs, cfg, progress=False)
    with torch.no_grad():
        before = float(kernel_error(start[:, :c, :c], truth))
        after = float(kernel_error(model.cell_kernels(est(y))[:, :c, :c], truth))
    assert after < 0.5 * before, (after, before)  # measured 0.9 against 12.5
    assert all(p.grad is None for p in model.parameters())  # the kernel space stays frozen
    est.save(tmp_path / "e.pt", est.provenance)
    again = CodeEstimator.load(tmp_path / "e.pt")
    torch.testing.assert_close(again(y), est(y))
    assert again.provenance["config"]["kernel_weight"] == 1.0
