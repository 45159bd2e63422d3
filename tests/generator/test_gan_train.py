"""Training the StyleGAN2 generator (kornia-style: a smoke run and its files, exact resume, one-line user errors,
the config's arithmetic, the CLI) on tiny random 32 px PNGs."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

from blurkit.cli.gan import gan_app
from blurkit.errors import BlurkitError, ImageSizeError, StaleError, UnknownNameError
from blurkit.generator.checkpoints import load_generator
from blurkit.generator.gan_config import GAN_PROFILES, GanTrainConfig, gan_train_config
from blurkit.generator.gan_train import (
    GanResult,
    GanTrainer,
    image_grid,
    load_image_folder,
    load_trained_generator,
    real_batch,
    train_gan,
)
from blurkit.generator.stylegan2 import StyleGAN2Generator

pytestmark = pytest.mark.usefixtures("one_thread")

SMOKE = gan_train_config("smoke")


def write_pngs(folder: Path, n: int = 8, size: int = 32, seed: int = 0, width: int | None = None) -> Path:
    """``n`` random RGB PNGs (smooth blobs plus noise, so that they are not all alike)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        low = rng.uniform(0, 255, (4, 4, 3))
        img = np.kron(low, np.ones((size // 4, (width or size) // 4, 1))) + rng.normal(0, 20, (size, width or size, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def one_line(call: Callable[[], Any], exc: type[Exception], *parts: str) -> str:
    with pytest.raises(exc) as info:
        call()
    text = str(info.value)
    assert "\n" not in text and all(p in text for p in parts), text
    return text


def fixed_images(g: StyleGAN2Generator) -> torch.Tensor:
    with torch.no_grad():
        return g(g.sample_z(3, seed=7), randomize_noise=False)[0]


def train_state(run: Path) -> dict[str, Any]:
    return torch.load(run / "last.pt", map_location="cpu", weights_only=True)


def assert_same_tensors(a: Any, b: Any, where: str = "") -> None:
    """Nested dicts / lists of tensors and numbers are exactly equal."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same_tensors(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tensors(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> tuple[GanResult, Path]:
    root = tmp_path_factory.mktemp("gan")
    data = write_pngs(root / "crops")
    return train_gan("smoke", data, root / "run", progress=False), data


def test_smoke_run_writes_its_files_with_finite_losses(smoke_run: tuple[GanResult, Path]) -> None:
    result, _ = smoke_run
    run = result.run_dir
    assert result.step == SMOKE.steps == 4
    names = {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert names == {"last.pt", "model.pt", "history.csv", "history.meta.json", "samples/samples.meta.json",
                     "samples/step_000002.png", "samples/step_000004.png"}
    hist = pd.read_csv(run / "history.csv")
    assert list(hist.columns) == ["step", "d_loss", "g_loss", "r1", "path_loss", "wall_s"]
    assert list(hist.step) == [1, 2, 3, 4]
    assert np.isfinite(hist[["d_loss", "g_loss", "wall_s"]].to_numpy()).all()
    assert np.isfinite(hist.r1[::2]).all() and hist.r1[1::2].isna().all()  # lazy R1: steps 0, 2 (every 2)
    assert hist.path_loss.isna().all()  # off in smoke
    meta = json.loads((run / "history.meta.json").read_text())
    assert meta["config"]["train_config"] == SMOKE.to_dict() and meta["steps"] == 4 and meta["seed"] == SMOKE.seed
    assert {"git_commit", "versions", "device", "wall_time_s"} <= meta.keys()
    grid = np.asarray(Image.open(run / "samples" / "step_000004.png"))
    assert grid.shape == (2 * 32 + 2, 2 * 32 + 2, 3)  # 4 samples: 2 x 2 with a 2 px gap
    assert json.loads((run / "samples" / "samples.meta.json").read_text())["last_step"] == 4


def test_model_pt_holds_the_trained_g_ema(smoke_run: tuple[GanResult, Path]) -> None:
    result, _ = smoke_run
    loaded = load_generator(result.run_dir / "model.pt")
    assert loaded.config == result.g_ema.config
    assert torch.equal(fixed_images(loaded), fixed_images(result.g_ema))
    assert torch.equal(loaded.latent_avg, result.g_ema.latent_avg)
    assert loaded.provenance["steps"] == 4
    assert torch.equal(fixed_images(load_trained_generator(result.run_dir)), fixed_images(result.g_ema))
    from_last = load_trained_generator(result.run_dir / "last.pt")
    assert torch.equal(fixed_images(from_last), fixed_images(result.g_ema))
    g = GanTrainer(SMOKE).g
    assert not torch.equal(fixed_images(g), fixed_images(result.g_ema))  # it did train


def test_resume_after_a_stop_and_a_ctrl_c_equals_a_straight_run(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # every draw on: path length, flips, mixing; R1 and path steps fall on both sides of the stops
    cfg = dataclasses.replace(SMOKE, path_weight=2.0, path_every=2, flip=True, ckpt_every=4)
    data = write_pngs(tmp_path / "crops", n=6)
    rng_before = torch.get_rng_state()
    straight = train_gan(cfg, data, tmp_path / "straight", progress=False)
    assert torch.equal(torch.get_rng_state(), rng_before)  # torch's global RNG is neither used nor reseeded
    train_gan(cfg, data, tmp_path / "split", progress=False, stop_after=1)
    assert train_state(tmp_path / "split")["step"] == 1 and not (tmp_path / "split" / "model.pt").exists()
    original = GanTrainer.train_step

    def interrupted(self: GanTrainer, real: torch.Tensor, step: int) -> dict:
        if step == 3:
            raise KeyboardInterrupt
        return original(self, real, step)

    monkeypatch.setattr(GanTrainer, "train_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_gan(cfg, data, tmp_path / "split", resume=True, progress=False)
    assert train_state(tmp_path / "split")["step"] == 3  # saved on Ctrl-C
    monkeypatch.setattr(GanTrainer, "train_step", original)
    split = train_gan(cfg, data, tmp_path / "split", resume=True, progress=False)
    a, b = train_state(tmp_path / "straight"), train_state(tmp_path / "split")
    assert_same_tensors(a["trainer"], b["trainer"], "trainer")
    assert a["step"] == b["step"] == 4
    losses = ["d_loss", "g_loss", "r1", "path_loss"]
    assert straight.history[losses].equals(split.history[losses])
    assert np.isfinite(straight.history.path_loss[::2]).all() and straight.history.path_loss[1::2].isna().all()
    assert b["trainer"]["mean_path_length"] > 0
    for name in ("step_000002.png", "step_000004.png"):
        assert (tmp_path / "straight" / "samples" / name).read_bytes() == \
            (tmp_path / "split" / "samples" / name).read_bytes()
    assert torch.equal(fixed_images(load_generator(tmp_path / "split" / "model.pt")), fixed_images(straight.g_ema))


def test_bad_folders_and_sizes_raise_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    run = tmp_path / "run"
    one_line(lambda: train_gan("smoke", tmp_path / "empty", run, progress=False), BlurkitError, "no images",
             "empty")
    one_line(lambda: train_gan("smoke", tmp_path / "missing", run, progress=False), BlurkitError, "missing")
    wrong = write_pngs(tmp_path / "wrong", n=2, size=40)
    one_line(lambda: train_gan("smoke", wrong, run, progress=False), ImageSizeError, "40x40", "32x32")
    oblong = write_pngs(tmp_path / "oblong", n=2, size=32, width=64)
    one_line(lambda: train_gan("smoke", oblong, run, progress=False), ImageSizeError, "32x64", "32x32")
    one_line(lambda: train_gan("smoke", oblong, run, steps=0, progress=False), BlurkitError, "--steps")
    assert not (run / "last.pt").exists()


def test_a_run_folder_is_not_overwritten_nor_mixed(smoke_run: tuple[GanResult, Path], tmp_path: Path) -> None:
    result, data = smoke_run
    run = result.run_dir
    before = (run / "last.pt").read_bytes()
    one_line(lambda: train_gan("smoke", data, run, progress=False), BlurkitError, "--resume", str(run))
    other = dataclasses.replace(SMOKE, lr=0.001, r1_gamma=1.0)
    one_line(lambda: train_gan(other, data, run, resume=True, progress=False), BlurkitError, "another config",
             "lr", "r1_gamma")
    others = write_pngs(tmp_path / "others", seed=1)
    one_line(lambda: train_gan("smoke", others, run, resume=True, progress=False), StaleError, "other images")
    assert (run / "last.pt").read_bytes() == before


def test_data_loading_batches_and_grid(tmp_path: Path) -> None:
    big = write_pngs(tmp_path / "set" / "sharp", n=3, size=64)  # the text-crop layout, twice the size
    x = load_image_folder(tmp_path / "set", 32, progress=False)
    assert x.shape == (3, 3, 32, 32) and x.dtype == torch.uint8
    full = np.asarray(Image.open(big / "001.png"), dtype=np.float64)
    box = full.reshape(32, 2, 32, 2, 3).mean(axis=(1, 3))
    assert np.abs(x[1].permute(1, 2, 0).numpy() - box).max() <= 0.5 + 1e-9  # box filter, rounded to 8 bits
    cfg = dataclasses.replace(SMOKE, batch_size=2)
    batches = [real_batch(x, cfg, s) for s in range(3)]  # one epoch of 3 images spans steps 0 and 1
    assert all(b.shape == (2, 3, 32, 32) and -1 <= b.min() and b.max() <= 1 for b in batches)
    epoch = torch.cat([batches[0], batches[1][:1]])
    assert sorted(float(b.sum()) for b in epoch) == sorted(float((x[i].float() / 127.5 - 1).sum()) for i in range(3))
    assert torch.equal(real_batch(x, cfg, 2), batches[2])
    grid = image_grid(torch.rand(5, 3, 8, 8), pad=1)
    assert grid.shape == (2 * 9 - 1, 3 * 9 - 1, 3) and (grid[8] == 1).all()


def test_config_profiles_and_arithmetic() -> None:
    assert set(GAN_PROFILES) == {"smoke", "cpu", "paper"}
    assert [gan_train_config(p).size for p in ("smoke", "cpu", "paper")] == [32, 64, 256]
    assert not gan_train_config("cpu").flip and gan_train_config("cpu").path_weight == 0
    paper = gan_train_config("paper")
    assert paper.betas == (0.0, 0.99) and paper.path_weight > 0
    assert math.isclose(paper.ema_decay(1000), 0.5 ** (32 / 10_000))  # rosinality's accum
    lr, betas = paper.adam(16, True)
    assert math.isclose(lr, 0.002 * 16 / 17) and betas[0] == 0 and math.isclose(betas[1], 0.99 ** (16 / 17))
    assert SMOKE.adam(4, False) == (SMOKE.lr, SMOKE.betas)
    ramp = GanTrainConfig(batch_size=4, ema_half_life=1000.0, ema_rampup=0.5)
    assert math.isclose(ramp.ema_decay(0), 0.5 ** (4 / 2)) and math.isclose(ramp.ema_decay(10**6), 0.5 ** (4 / 1000))
    trainer = GanTrainer(SMOKE)
    assert math.isclose(trainer.opt_d.param_groups[0]["lr"], SMOKE.lr * 2 / 3)  # R1 every 2 steps
    assert trainer.opt_g.param_groups[0]["lr"] == SMOKE.lr  # no path-length regularisation
    with pytest.raises(UnknownNameError, match="smoke"):
        gan_train_config("huge")
    with pytest.raises(UnknownNameError):
        GanTrainConfig(generator="huge")
    for bad in ({"batch_size": 0}, {"mixing": 1.5}, {"betas": (0.9,)}, {"ema_rampup": 0.0}, {"lr": 0.0}):
        with pytest.raises(ValueError):
            GanTrainConfig(**bad)


def test_cli_train_resume_and_sample(tmp_path: Path) -> None:
    parent = typer.Typer()
    parent.add_typer(gan_app, name="gan")
    runner = CliRunner()
    data, run = write_pngs(tmp_path / "crops"), tmp_path / "run"
    args = ["gan", "train", "--profile", "smoke", "--data", str(data), "--out", str(run), "--threads", "1"]
    res = runner.invoke(parent, [*args, "--steps", "1"])
    assert res.exit_code == 0, res.output
    assert "gan smoke: step 1" in res.output and load_generator(run / "model.pt").provenance["steps"] == 1
    res = runner.invoke(parent, [*args, "--steps", "2"])
    assert isinstance(res.exception, BlurkitError) and "--resume" in str(res.exception)
    res = runner.invoke(parent, [*args, "--steps", "2", "--resume"])  # a finished run continues to more steps
    assert res.exit_code == 0 and "step 2" in res.output, res.output
    assert load_generator(run / "model.pt").provenance["steps"] == 2
    grids = []
    for name in ("a.png", "b.png"):
        res = runner.invoke(parent, ["gan", "sample", "--model", str(run), "--n", "3", "--seed", "5", "--out",
                                     str(tmp_path / name)])
        assert res.exit_code == 0, res.output
        grids.append((tmp_path / name).read_bytes())
    assert grids[0] == grids[1]  # same seed, same grid
    assert np.asarray(Image.open(tmp_path / "a.png")).shape == (2 * 32 + 2, 2 * 32 + 2, 3)
    assert json.loads((tmp_path / "a.meta.json").read_text())["seed"] == 5
    res = runner.invoke(parent, ["gan", "sample", "--model", str(tmp_path / "nothing"), "--out",
                                 str(tmp_path / "c.png")])
    assert isinstance(res.exception, BlurkitError) and "gan train" in str(res.exception)
    res = runner.invoke(parent, ["gan", "--help"])
    assert res.exit_code == 0 and "train" in res.output and "sample" in res.output
