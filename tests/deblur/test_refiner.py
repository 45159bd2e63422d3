"""The x-step refiner: smoke, bad input, shapes, gradients, seeded batches, training, the output cache, save/load
and its place in the fast preset."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from gradients import dead_parameters
from toymodels import switch_blur_kernel_space

from blurkit.deblur import refiner_train
from blurkit.deblur.deblur_config import DEBLUR_PRESETS
from blurkit.deblur.linear_xstep import LinearXStep
from blurkit.deblur.refiner import Refiner, RefinerConfig, load_refiner, refiner_path
from blurkit.deblur.refiner_train import REFINER_PRESETS, refiner_batch, train_refiner, xstep_outputs
from blurkit.deblur.solver import deblur
from blurkit.errors import BlurkitError
from blurkit.space.losses import psnr

pytestmark = pytest.mark.usefixtures("one_thread")
SMOKE = REFINER_PRESETS["smoke"]


@pytest.mark.parametrize("shape", [(1, 3, 32, 32), (2, 3, 33, 47), (1, 3, 1, 1)])
def test_shapes_and_a_fresh_network_is_the_identity(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    x_dec, y = torch.rand(shape), torch.rand(shape)
    out = Refiner(SMOKE)(x_dec, y)
    assert out.shape == x_dec.shape
    assert torch.equal(out, x_dec)  # the last layer starts at zero: no correction, exactly


def test_bad_input() -> None:
    net = Refiner(SMOKE)
    with pytest.raises(ValueError, match=r"two \(B, 3, H, W\) images of one shape"):
        net(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        net(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))
    with pytest.raises(BlurkitError, match="train-refiner --model m"):
        load_refiner("/no/such/refiner.pt", "m")
    with pytest.raises(BlurkitError, match="at least 2 pairs"):
        train_refiner(_data(1), SMOKE)


def test_every_parameter_gets_a_gradient() -> None:
    torch.manual_seed(0)
    net = Refiner(SMOKE)
    with torch.no_grad():  # away from the identity start, so that the gradient reaches every layer
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x_dec, y = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    (net(x_dec * 0.5 + 0.25, y) - 0.5).pow(2).mean().backward()
    assert dead_parameters(net.named_parameters()) == []


def _data(n: int, side: int = 32) -> dict[str, torch.Tensor]:
    """Pairs whose "x-step output" is x plus a fixed checkerboard artefact, and whose "blurry" image is x smoothed."""
    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.avg_pool2d(torch.rand(n, 3, side + 2, side + 2, generator=g), 3, 1)
    checker = ((torch.arange(side)[:, None] + torch.arange(side)[None, :]) % 2).float() - 0.5
    y = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    return {"x": x, "y": y, "dec_true": (x + 0.2 * checker).clamp(0, 1), "dec_blind": (x + 0.1 * checker).clamp(0, 1)}


def test_batches_are_seeded_and_cover_both_codes() -> None:
    data = _data(4)
    a, b = refiner_batch(data, [0, 1, 2], SMOKE, 3), refiner_batch(data, [0, 1, 2], SMOKE, 3)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[0], refiner_batch(data, [0, 1, 2], SMOKE, 4)[0])
    assert a[0].shape == (SMOKE.batch_size, 3, SMOKE.crop, SMOKE.crop)


def test_training_learns_an_artefact_and_is_deterministic() -> None:
    cfg = RefinerConfig(width=8, crop=24, batch_size=4, steps=150, lr=3e-3, val_frac=0.25)
    net, hist = train_refiner(_data(8), cfg, val_every=50, progress=False)
    last = hist.iloc[-1]
    # measured: the refined outputs gain +13.8 / +19.2 dB over blurry, the x-step outputs -5.9 / +0.1 dB
    for code in ("true", "blind"):
        assert last[f"refined_gain_{code}"] > last[f"xstep_gain_{code}"] + 3.0
    net2, _ = train_refiner(_data(8), cfg, val_every=50, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(net.state_dict().values(), net2.state_dict().values()))
    assert list(hist["step"]) == [0, 50, 100, 150]


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(1)
    net = Refiner(SMOKE)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = net.save(tmp_path / "m.refiner.pt", {"seed": 1})
    back = load_refiner(path)
    x = torch.rand(1, 3, 20, 20)
    assert torch.equal(back(x, x), net(x, x))
    assert back.provenance == {"seed": 1}
    assert refiner_path(tmp_path / "m.pt") == tmp_path / "m.refiner.pt"


def test_xstep_outputs_are_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from blurkit.data.images import write_image

    ks, _, box = switch_blur_kernel_space()
    pairs = []
    for i in range(2):
        x = _data(2)["x"][i:i + 1]
        with torch.no_grad():
            y = ks.apply(x, box)
        s, b = tmp_path / f"s{i}.png", tmp_path / f"b{i}.png"
        write_image(s, x[0].permute(1, 2, 0).numpy())
        write_image(b, y[0].permute(1, 2, 0).numpy())
        pairs.append((s, b))
    xstep = LinearXStep(outer=1, irls=1, cg_iters=5, gamma=0.1)
    out = xstep_outputs(ks, lambda y: box, pairs, xstep, ("true", "blind"), tmp_path / "cache", progress=False)
    assert set(out) == {"x", "y", "dec_true", "dec_blind"} and out["dec_blind"].shape == (2, 3, 32, 32)
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 4

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cache was not used")
    monkeypatch.setattr(refiner_train, "linear_xstep", boom)
    again = xstep_outputs(ks, lambda y: box, pairs, xstep, ("true", "blind"), tmp_path / "cache", progress=False)
    assert all(torch.equal(out[k], again[k]) for k in out)
    with pytest.raises(BlurkitError, match="unknown refiner code"):
        xstep_outputs(ks, lambda y: box, pairs, xstep, ("oracle",), tmp_path / "cache", progress=False)


class Halve(torch.nn.Module):
    """A stand-in refiner: the mean of the x-step output and y."""

    def forward(self, x_dec: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x_dec + y) / 2


def test_fast_applies_a_refiner_when_asked(tmp_path: Path) -> None:
    ks, _, box = switch_blur_kernel_space()
    x = _data(1)["x"]
    with torch.no_grad():
        y = ks.apply(x, box)
    cfg = DEBLUR_PRESETS["fast"].replace(guard=False, refine=True)
    kw = {"progress": False, "estimator": lambda y: box}
    plain = deblur(ks, y, cfg.replace(refine=False), refiner=Halve(), **kw)
    refined = deblur(ks, y, cfg, refiner=Halve(), **kw)
    assert torch.allclose(refined.x, (plain.x + y) / 2, atol=1e-6)  # float32 rounding of values in [0, 1]
    assert list(refined.trace.phase) == ["start", "solve+refine"]
    assert list(plain.trace.phase) == ["start", "solve"]
    none_beside = deblur(ks, y, cfg, **kw)  # a model with no refiner file beside it: the x-step alone
    assert torch.equal(none_beside.x, plain.x)
    assert float(psnr(plain.x, x)) > float(psnr(y, x))


def test_refine_is_recorded_only_when_on() -> None:
    from blurkit.deblur.deblur_config import DeblurConfig

    off = DEBLUR_PRESETS["fast"]
    assert "refine" not in off.to_dict()  # the records (and cell keys) of results made before the field stay valid
    on = off.replace(refine=True)
    assert on.to_dict()["refine"] is True
    assert DeblurConfig(**on.to_dict()) == on and DeblurConfig(**off.to_dict()) == off
