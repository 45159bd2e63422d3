"""The autocorrelation kernel network and its training (blurkit.deblur.autocorr_kernel, autocorr_train): smoke, bad
input, shapes, gradients, and what the training must keep (a resumed run is the run, the stream blurs truly)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from blurkit.data.domains import get_domain
from blurkit.data.images import write_image
from blurkit.data.synthesis import sample_motion
from blurkit.deblur.autocorr_kernel import AutocorrKernelNet, AutocorrNetConfig, gradient_autocorr, shift_error
from blurkit.deblur.autocorr_train import (
    SMOKE_NET,
    BlurStream,
    KernelNetTrainConfig,
    centre_psf,
    recorded_pairs,
    train_kernel_net,
)
from blurkit.errors import BlurkitError

TINY = AutocorrNetConfig(size=7, half=7, widths=(2, 2, 2, 2), hidden=8)


def line_kernel(size: int = 7, horizontal: bool = True) -> torch.Tensor:
    k = torch.zeros(size, size)
    if horizontal:
        k[size // 2, 1:-1] = 1.0
    else:
        k[1:-1, size // 2] = 1.0
    return k / k.sum()


def test_autocorr_shapes_and_symmetry() -> None:
    lin = torch.rand(2, 1, 40, 40, generator=torch.Generator().manual_seed(0))
    c = gradient_autocorr(lin, 7)
    assert c.shape == (2, 3, 15, 15)
    auto = c[:, :2]
    assert torch.allclose(auto, auto.flip(-2, -1), atol=1e-6 * float(auto.abs().max()))  # c(-d) = c(d)
    assert torch.allclose(auto[:, :, 7, 7].sum(1), torch.ones(2))


def test_autocorr_widens_along_the_blur() -> None:
    """A horizontal blur correlates the vertical gradients of neighbours along a row, not along a column."""
    lin = torch.rand(1, 1, 70, 70, generator=torch.Generator().manual_seed(1))
    blurred = torch.nn.functional.conv2d(lin, line_kernel(7)[None, None])  # (1, 1, 64, 64)
    c = gradient_autocorr(blurred, 6)[0, 1]  # the vertical gradients' autocorrelation, lags (row, column)
    assert c[6, 8] > 5 * c[8, 6].abs()


def test_autocorr_bad_input() -> None:
    with pytest.raises(ValueError, match="linear grey"):
        gradient_autocorr(torch.rand(1, 3, 40, 40), 7)
    with pytest.raises(ValueError, match="too small"):
        gradient_autocorr(torch.rand(1, 1, 8, 8), 7)


def test_shift_error_forgives_shift_and_optionally_mirror() -> None:
    k = torch.zeros(1, 9, 9)
    k[0, 4, 2:6] = torch.tensor([0.4, 0.3, 0.2, 0.1])  # asymmetric: its point reflection differs
    moved = torch.roll(k, (1, -2), (-2, -1))
    assert shift_error(moved, k, 2).item() == 0.0
    assert shift_error(moved, k, 1).item() > 0.1  # the shift is out of reach
    mirrored = k.flip(-2, -1)
    assert shift_error(mirrored, k, 2).item() > 0.1
    assert shift_error(mirrored, k, 2, mirror=True).item() == 0.0
    with pytest.raises(ValueError, match="two"):
        shift_error(k, k[0], 2)


def test_net_smoke_shapes_gradients_and_file(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = AutocorrKernelNet(TINY)
    lin = torch.rand(3, 1, 24, 24)
    k = net(lin)
    assert k.shape == (3, 7, 7) and (k >= 0).all()
    assert torch.allclose(k.sum((-2, -1)), torch.ones(3))
    shift_error(k, line_kernel()[None].expand(3, 7, 7), 2, True).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    path = net.save(tmp_path / "net.pt", {"note": "test"})
    back = AutocorrKernelNet.load(path)
    assert back.config == TINY and back.provenance == {"note": "test"}
    assert torch.equal(back(lin), net.eval()(lin))
    with pytest.raises(BlurkitError, match="no autocorrelation kernel network"):
        AutocorrKernelNet.load(tmp_path / "missing.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(BlurkitError, match="not a blurkit network file"):
        AutocorrKernelNet.load(tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(BlurkitError, match="cannot read network file"):
        AutocorrKernelNet.load(tmp_path / "text.pt")


def test_configs_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match="odd"):
        AutocorrNetConfig(size=8)
    with pytest.raises(ValueError, match="real_share"):
        KernelNetTrainConfig(real_share=1.5)
    with pytest.raises(ValueError, match="bad KernelNetTrainConfig"):
        KernelNetTrainConfig(steps=0)


def photos(n: int = 2, side: int = 80) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.random((side, side + 8, 3)).astype(np.float32) for _ in range(n)]


def test_stream_is_seeded_and_blurs_truly() -> None:
    a = BlurStream(photos(), "reds-like", 32, 15, seed=5)
    b = BlurStream(photos(), "reds-like", 32, 15, seed=5)
    ya, ka = a.draw(3)
    yb, kb = b.draw(3)
    assert ya.shape == (3, 1, 32, 32) and ka.shape == (3, 15, 15)
    assert torch.equal(ya, yb) and torch.equal(ka, kb)
    assert torch.allclose(ka.sum((-2, -1)), torch.ones(3), atol=1e-5)
    # a flat scene stays flat under any normalised kernel: the mean is its linear value, within the noise
    flat = BlurStream([np.full((80, 80, 3), 0.5, np.float32)], "reds-like", 32, 15, seed=0)
    y, _ = flat.draw(1)
    level = float(flat.photos[0][0, 0])
    dom = get_domain("reds-like")
    std = (dom.shot_noise * level + dom.read_noise**2) ** 0.5
    assert abs(float(y.mean()) - level) < 5 * std / 32 + 1e-6
    with pytest.raises(BlurkitError, match="short side"):
        BlurStream(photos(side=40), "reds-like", 32, 15, seed=0)


def write_pairs(folder: Path, n: int, size: int = 32) -> list[tuple[Path, Path]]:
    rng = np.random.default_rng(0)
    (folder / "sharp").mkdir(parents=True)
    (folder / "blur").mkdir()
    entries, pairs = [], []
    for i in range(n):
        img = rng.random((size, size, 3)).astype(np.float32)
        write_image(folder / "sharp" / f"{i:05d}.png", img)
        write_image(folder / "blur" / f"{i:05d}.png", img)
        entries.append({"name": f"{i:05d}.png", "source": f"photo{i % 3}",
                        "params": sample_motion(get_domain("reds-like"), rng).to_dict()})
        pairs.append((folder / "sharp" / f"{i:05d}.png", folder / "blur" / f"{i:05d}.png"))
    (folder / "manifest.json").write_text(json.dumps({"size": size, "pairs": entries}))
    return pairs


def test_recorded_pairs_read_their_blur(tmp_path: Path) -> None:
    pairs = write_pairs(tmp_path / "set", 3)
    ys, ks = recorded_pairs(pairs, "reds-like", 32, 15)
    assert ys.shape == (3, 1, 32, 32) and ks.shape == (3, 15, 15)
    params = json.loads((tmp_path / "set" / "manifest.json").read_text())["pairs"][1]["params"]
    assert torch.equal(ks[1], centre_psf(params, "reds-like", 32, 15))
    with pytest.raises(BlurkitError, match="at least 64 px"):
        recorded_pairs(pairs, "reds-like", 64, 15)
    with pytest.raises(BlurkitError, match="recorded blur"):
        recorded_pairs([(Path("a.png"), tmp_path / "none" / "blur" / "a.png")], "reds-like", 32, 15)


def test_training_resumes_to_the_same_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two steps, stopped, and two more give the weights and history of four steps straight."""
    pairs = write_pairs(tmp_path / "set", 4)
    train = recorded_pairs(pairs[:3], "reds-like", 32, 15)
    held = recorded_pairs(pairs[3:], "reds-like", 32, 15)
    config = KernelNetTrainConfig(steps=4, batch_size=4, crop=32, val_every=2, lr=1e-2)
    straight, hist = train_kernel_net(BlurStream(photos(), "reds-like", 32, 15, 0), train, held, tmp_path / "a",
                                      config, SMOKE_NET, progress=False)
    assert list(hist["step"]) == [2, 4] and np.isfinite(hist["held_error"]).all()
    import blurkit.deblur.autocorr_train as at

    real, calls = at.held_error, []

    def stop_at_the_second_score(net, held_pairs, cfg):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:  # step 4, before its files are written: the run stops with step 2 saved
            raise KeyboardInterrupt
        return real(net, held_pairs, cfg)

    with monkeypatch.context() as m:
        m.setattr(at, "held_error", stop_at_the_second_score)
        with pytest.raises(KeyboardInterrupt):
            train_kernel_net(BlurStream(photos(), "reds-like", 32, 15, 0), train, held, tmp_path / "b", config,
                             SMOKE_NET, progress=False)
    resumed, hist_b = train_kernel_net(BlurStream(photos(), "reds-like", 32, 15, 0), train, held, tmp_path / "b",
                                       config, SMOKE_NET, progress=False)
    a, b = (torch.load(run / "state.pt", weights_only=False)["net"] for run in (tmp_path / "a", tmp_path / "b"))
    for (name, p), q in zip(a.items(), b.values()):  # the latest weights, not only the kept ones
        assert torch.equal(p, q), name
    assert AutocorrKernelNet.load(straight).provenance["steps"] == AutocorrKernelNet.load(resumed).provenance["steps"]
    assert list(hist_b["step"]) == [2, 4]
    assert np.array_equal(hist_b["held_error"].to_numpy(), hist["held_error"].to_numpy())
    with pytest.raises(BlurkitError, match="other settings"):
        train_kernel_net(BlurStream(photos(), "reds-like", 32, 15, 0), train, held, tmp_path / "b",
                         KernelNetTrainConfig(**{**config.__dict__, "lr": 1e-3}), SMOKE_NET, progress=False)


@pytest.mark.parametrize(("errors", "kept"), [((0.5, 0.9), 2), ((0.9, 0.5), 4), ((0.5, 0.5), 2), ((0.5, np.nan), 2),
                                              ((np.nan, 0.9), 4), ((np.nan, np.nan), 4)])
def test_net_file_keeps_the_lowest_held_out_error(errors: tuple[float, float], kept: int, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A network that gets worse on the held-out pairs (one collapsed to a one-tap kernel) or diverges (NaN) never
    replaces the best weights in net.pt, a tie keeps the earlier ones (as the CLI's report does), the latest stay in
    state.pt, and without held-out pairs (all NaN) net.pt is the latest."""
    import blurkit.deblur.autocorr_train as at

    pairs = write_pairs(tmp_path / "set", 3)
    train = recorded_pairs(pairs, "reds-like", 32, 15)
    scores = iter(errors)
    monkeypatch.setattr(at, "held_error", lambda *_: next(scores))
    config = KernelNetTrainConfig(steps=4, batch_size=4, crop=32, val_every=2, lr=1e-2)
    path, hist = train_kernel_net(BlurStream(photos(), "reds-like", 32, 15, 0), train, train, tmp_path / "run",
                                  config, SMOKE_NET, progress=False)
    net = AutocorrKernelNet.load(path)
    assert net.provenance["steps"] == kept and list(hist["step"]) == [2, 4]
    latest = torch.load(tmp_path / "run" / "state.pt", weights_only=False)["net"]
    same = all(torch.equal(p, latest[name]) for name, p in net.state_dict().items())
    assert same == (kept == 4)


def test_cli_trains_on_the_smoke_set_and_holds_out_photos(pip_photo_manifest: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from blurkit.cli import app
    from blurkit.data.default_data import build_default

    build_default("smoke", domains=("reds-like",), progress=False)
    result = CliRunner().invoke(app, ["train-kernel-net", "--profile", "smoke", "-o", str(tmp_path / "run"),
                                      "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "held-out kernel error" in result.output
    net = AutocorrKernelNet.load(tmp_path / "run" / "net.pt")
    record = net.provenance
    hist = pd.read_csv(tmp_path / "run" / "history.csv")
    best = hist.loc[hist["held_error"].idxmin()]
    assert record["steps"] == best["step"] and record["held_error"] == best["held_error"]  # repr round trip: exact
    assert f"the weights of step {int(best['step'])}," in result.output and hist["step"].iloc[-1] == 6
    assert record["train_pairs"] > 0 and record["held_pairs"] > 0
    from blurkit.data.default_data import photo_sources

    train_ids = [src.id for src in photo_sources("train")]
    assert len(record["held_photos"]) == 4 and set(record["held_photos"]) <= set(train_ids)
    assert record["stream_photos"] == len(train_ids) - 4  # the stream leaves the held-out photos out
    again = CliRunner().invoke(app, ["train-kernel-net", "--profile", "smoke", "-o", str(tmp_path / "run")])
    assert again.exit_code == 0 and "step 6" in again.output  # a finished run is read back, not retrained
