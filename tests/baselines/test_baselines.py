"""Learned baselines SRN-Deblur and DeblurGAN-v2 (kornia-style: smoke, exceptions, gradients, losses, overfitting),
their training (exact resume, clear errors), the predictor and the ``blurkit baseline`` commands."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import typer
from typer.testing import CliRunner

from blurkit.baselines.baseline_config import BASELINE_PROFILES, BaselineTrainConfig, get_baseline_config
from blurkit.baselines.baseline_deblur import deblur_with_baseline, predict_views
from blurkit.baselines.baseline_train import (
    BaselineTrainer,
    build_network,
    load_baseline,
    predict,
    train_baseline,
)
from blurkit.baselines.deblurganv2 import (
    GAN_PRESETS,
    DoubleScaleDiscriminator,
    double_d_loss,
    generator_loss,
    ralsgan_d_loss,
    ralsgan_g_loss,
    random_boxes,
)
from blurkit.baselines.srn import SRN_PRESETS, SRNDeblur, srn_loss, srn_targets
from blurkit.cli.baseline import baseline_app
from blurkit.data.images import read_image
from blurkit.data.pairs import pair_folder
from blurkit.errors import BlurkitError, UnknownNameError
from blurkit.space.losses import psnr
from imagegen import rand_rgb, save_png, synthetic_pairs
from tests.gradients import dead_parameters
from tests.tolerances import sum_tol

pytestmark = pytest.mark.usefixtures("one_thread")

MODELS = ["srn", "deblurganv2"]


@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_pairs(tmp_path_factory.mktemp("baseline-data"), "gopro-like", 6, 64)


def _net(model: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_network(model, "smoke")


def _final(out: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
    return out[-1] if isinstance(out, list) else out


def _tiny(model: str, **kw: object) -> BaselineTrainConfig:
    return dataclasses.replace(get_baseline_config(model, "smoke"), **kw)


@pytest.mark.parametrize("model", MODELS)
class TestNetworks:
    @pytest.mark.parametrize("shape", [(1, 3, 32, 32), (2, 3, 37, 53), (1, 1, 37, 53), (1, 3, 9, 7)])
    def test_smoke_shapes(self, model: str, shape: tuple[int, ...]) -> None:
        net = _net(model).eval()
        with torch.no_grad():
            out = net(torch.rand(*shape))
        if model == "srn":
            h, w = shape[-2:]
            assert [o.shape for o in out] == [(shape[0], shape[1], -(-h // s), -(-w // s)) for s in (4, 2, 1)]
        else:
            assert out.shape == shape and 0 <= float(out.min()) and float(out.max()) <= 1

    @pytest.mark.parametrize("bad", ["image", torch.rand(3, 16, 16), torch.rand(1, 2, 16, 16)])
    def test_bad_inputs(self, model: str, bad: object) -> None:
        with pytest.raises((TypeError, ValueError)):
            _net(model)(bad)

    def test_seeded_init_and_batch_independence(self, model: str) -> None:
        a, b = _net(model, 3).eval(), _net(model, 3).eval()
        for (k, p), q in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(p, q), k
        # Compared in float64: CPU convolution libraries may pick another algorithm for a batch of 2 than for 1, and
        # a deep network amplifies float32 rounding to ~1e-4. In float64 that rounding stays ~1e-12 of the output
        # scale, so a tolerance of one float32 ulp of the scale is 4 orders above it and still 4-6 orders below
        # what a cross-batch leak (batch statistics in eval mode) changes.
        a = a.double()
        x = torch.rand(2, 3, 32, 48, dtype=torch.float64)
        with torch.no_grad():
            both, single = _final(a(x)), _final(a(x[1:]))
        tol = torch.finfo(torch.float32).eps * float(both.abs().max())
        torch.testing.assert_close(both[1:], single, atol=tol, rtol=0)  # eval mode: no batch statistics

    def test_gradients_reach_every_parameter(self, model: str) -> None:
        g = torch.Generator().manual_seed(0)
        sharp = torch.rand(2, 3, 64, 64, generator=g)
        blur = (sharp + 0.1 * torch.rand(2, 3, 64, 64, generator=g)).clamp(0, 1)
        net = _net(model)
        if model == "srn":
            srn_loss(net(blur), sharp).backward()
            assert dead_parameters(net.named_parameters()) == []
            return
        disc = DoubleScaleDiscriminator("smoke")
        score_grads: dict[str, list[torch.Tensor]] = {}  # d loss / d score map, for every pass through each scale

        def keep(name: str):  # type: ignore[no-untyped-def]
            def hook(module, inputs, out):  # type: ignore[no-untyped-def]
                out.register_hook(lambda grad: score_grads.setdefault(name, []).append(grad.detach().clone()))
            return hook

        scales = {n: d for n, d in disc.named_children() if hasattr(d, "body")}
        for n, d in scales.items():
            d.body[-1].register_forward_hook(keep(n))
        boxes = random_boxes(2, 64, 64, disc.config.local_crop, g)
        fake = net(blur)
        generator_loss(disc, sharp, fake, boxes)[0].backward()
        double_d_loss(disc, sharp, fake, boxes).backward()
        last_bias = {n: f"{n}.body.{len(d.body) - 1}.bias" for n, d in scales.items()}
        assert dead_parameters(net.named_parameters()) == []
        assert dead_parameters(disc.named_parameters(), allow_zero=last_bias.values()) == []
        params = dict(disc.named_parameters())
        for n, bias in last_bias.items():
            # A relativistic loss cancels a constant score shift: the score bias's gradient, the sum of d loss / d
            # score over every score, is 0 but for rounding, which stays within the float32 bound of each such sum
            # (tests/tolerances.py: (numel + 1) eps sum|g|; 4e-5 here, the measured value ~1e-7, and a loss that
            # did not cancel would give ~sum|g| itself, 4 orders more).
            bound = sum(sum_tol(gr.numel(), float(gr.abs().sum())) for gr in score_grads[n])
            assert float(params[bias].grad.abs().sum()) <= bound, (bias, bound)
            assert sum(float(gr.abs().sum()) for gr in score_grads[n]) > 1e3 * bound  # far below an uncancelled sum

    def test_presets(self, model: str) -> None:
        sizes = [sum(p.numel() for p in build_network(model, n).parameters()) for n in ("smoke", "cpu", "paper")]
        assert sizes == sorted(sizes)
        assert 3e5 <= sizes[1] <= 1e6  # the cpu preset stays slim


def test_paper_settings() -> None:
    assert SRN_PRESETS["paper"].widths == (32, 64, 128) and SRN_PRESETS["paper"].n_res == 3
    assert SRN_PRESETS["paper"].kernel_size == 5 and not SRN_PRESETS["paper"].residual
    gan = GAN_PRESETS["paper"]
    assert (gan.width_mult, gan.filters, gan.d_layers, gan.local_crop, gan.adv_weight) == (1.0, 64, 3, 70, 0.001)
    srn, dgan = get_baseline_config("srn", "paper"), get_baseline_config("deblurganv2", "paper")
    assert (srn.crop, srn.batch_size, srn.lr, srn.lr_end, srn.power) == (256, 16, 1e-4, 1e-6, 0.3)
    assert (dgan.crop, dgan.batch_size, dgan.lr, dgan.lr_end) == (256, 1, 1e-4, 1e-7)
    for model in MODELS:
        assert set(BASELINE_PROFILES[model]) == {"smoke", "cpu", "paper"}
    with pytest.raises(UnknownNameError, match="srn, deblurganv2"):
        get_baseline_config("restormer", "smoke")
    with pytest.raises(UnknownNameError, match="smoke, cpu, paper"):
        get_baseline_config("srn", "huge")


def test_lr_schedules() -> None:
    srn = _tiny("srn", steps=100, lr=1e-3, lr_end=1e-5)
    assert srn.lr_factor(0) == 1.0 and srn.lr_factor(100) == pytest.approx(0.01)
    assert srn.lr_factor(50) == pytest.approx(0.99 * 0.5**0.3 + 0.01)
    gan = _tiny("deblurganv2", steps=100, lr=1e-3, lr_end=1e-5, decay_start=0.5)
    assert gan.lr_factor(50) == 1.0 and gan.lr_factor(75) == pytest.approx(0.505)
    assert gan.lr_factor(100) == pytest.approx(0.01)


def test_srn_multiscale_loss() -> None:
    sharp = torch.rand(2, 3, 37, 53)
    targets = srn_targets(sharp)
    assert [t.shape[-2:] for t in targets] == [(10, 14), (19, 27), (37, 53)]
    assert torch.equal(targets[-1], sharp)
    assert float(srn_loss(targets, sharp)) == 0.0
    off = [t + 0.1 for t in targets]
    assert float(srn_loss(off, sharp)) == pytest.approx(3 * 0.01, rel=1e-4)  # one MSE per scale, summed
    out = SRNDeblur("smoke")(torch.rand(2, 3, 37, 53))
    assert srn_loss(out, sharp).dim() == 0
    with pytest.raises(ValueError, match="3 outputs"):
        srn_loss(out[1:], sharp)


@pytest.mark.parametrize("carry, added", [(False, (0.1, 0.1, 0.1)), (True, (0.1, 0.2, 0.3))])
def test_srn_carry_adds_the_coarser_corrections(carry: bool, added: tuple[float, ...]) -> None:
    # every scale's residual made a constant 0.1: with carry each scale adds the coarser scales' corrections
    net = SRNDeblur(dataclasses.replace(SRN_PRESETS["cpu"], carry=carry))
    with torch.no_grad():
        net.out.weight.zero_()
        net.out.bias.fill_(0.1)
    y = torch.rand(1, 3, 32, 48)
    for out, inp, a in zip(net(y), srn_targets(y), added):
        # a difference, a 4-tap bilinear resize and three additions, on values of at most 1.3 (< 2)
        assert torch.allclose(out, inp + a, rtol=0, atol=sum_tol(8, 2.0))
    with pytest.raises(ValueError, match="carry needs residual"):
        dataclasses.replace(SRN_PRESETS["paper"], carry=True)


def test_srn_loss_kinds() -> None:
    sharp = torch.rand(2, 3, 37, 53)
    off = [t + 0.1 for t in srn_targets(sharp)]
    assert float(srn_loss(off, sharp, "l1")) == pytest.approx(3 * 0.1, rel=1e-4)  # one L1 per scale, summed
    charb = float(srn_loss(off, sharp, "charbonnier"))
    assert charb == pytest.approx(3 * (0.01 + 1e-6) ** 0.5, rel=1e-4)
    with pytest.raises(ValueError, match="kind"):
        srn_loss(off, sharp, "huber")
    with pytest.raises(ValueError, match="loss"):
        BaselineTrainConfig(loss="huber")


def test_srn_loss_frequency_term() -> None:
    from blurkit.space.losses import frequency_l1

    sharp = torch.rand(2, 3, 37, 53, generator=torch.Generator().manual_seed(1))
    off = [t + 0.05 * torch.rand(t.shape, generator=torch.Generator().manual_seed(2)) for t in srn_targets(sharp)]
    extra = sum(float(frequency_l1(o, t)) for o, t in zip(off, srn_targets(sharp)))
    plain, with_fft = float(srn_loss(off, sharp, "l1")), float(srn_loss(off, sharp, "l1", fft_weight=0.1))
    assert with_fft == pytest.approx(plain + 0.1 * extra, rel=1e-5) and extra > 0
    assert float(srn_loss(srn_targets(sharp), sharp, "l1", fft_weight=0.1)) == 0.0
    with pytest.raises(ValueError, match="fft_weight"):
        BaselineTrainConfig(fft_weight=-1.0)


@pytest.mark.parametrize("model", MODELS)
def test_frequency_term_changes_the_update(model: str) -> None:
    g = torch.Generator().manual_seed(3)
    sharp, blur = torch.rand(2, 3, 32, 32, generator=g), torch.rand(2, 3, 32, 32, generator=g)
    nets = []
    for w in (0.0, 0.1):
        trainer = BaselineTrainer(_tiny(model, fft_weight=w))
        trainer.train_step(sharp, blur, 0)
        nets.append(trainer.net.state_dict())
    assert any(not torch.equal(nets[0][k], nets[1][k]) for k in nets[0])


def test_resume_a_run_saved_before_a_setting_existed(pair_dir: Path, tmp_path: Path) -> None:
    train_baseline("srn", "smoke", pair_dir, tmp_path / "old", steps=4, stop_after=2, progress=False)
    path = tmp_path / "old" / "last.pt"
    state = torch.load(path, weights_only=True)
    del state["train_config"]["fft_weight"]  # as written before fft_weight was added
    torch.save(state, path)
    assert train_baseline("srn", "smoke", pair_dir, tmp_path / "old", steps=4, resume=True, progress=False).step == 4


def test_ralsgan_losses_and_crops() -> None:
    real, fake = torch.full((2, 1, 3, 3), 0.5), torch.full((2, 1, 3, 3), -0.5)
    assert float(ralsgan_d_loss(real, fake)) == 0.0  # D separates them by exactly the margins
    assert float(ralsgan_g_loss(real, fake)) == pytest.approx(4.0)
    assert float(ralsgan_g_loss(fake, real)) == 0.0
    boxes = random_boxes(3, 40, 50, 24, torch.Generator().manual_seed(1))
    assert boxes == random_boxes(3, 40, 50, 24, torch.Generator().manual_seed(1))
    assert all(s == 24 and 0 <= t <= 16 and 0 <= left <= 26 for t, left, s in boxes)
    global_scores, local_scores = DoubleScaleDiscriminator("smoke")(torch.rand(3, 3, 40, 50), boxes)
    assert global_scores.shape[0] == local_scores.shape[0] == 3 and local_scores.shape[-1] < global_scores.shape[-1]


def _crop_pair(pair_dir: Path, crop: int) -> tuple[torch.Tensor, torch.Tensor]:
    s, b = pair_folder(pair_dir)[0]
    return tuple(torch.from_numpy(read_image(p)).permute(2, 0, 1)[None, :, :crop, :crop] for p in (s, b))


@pytest.mark.parametrize("model, crop, lr, steps", [("srn", 48, 3e-3, 100), ("deblurganv2", 64, 1e-3, 80)])
def test_overfits_one_pair(model: str, crop: int, lr: float, steps: int, pair_dir: Path) -> None:
    sharp, blur = _crop_pair(pair_dir, crop)
    trainer = BaselineTrainer(_tiny(model, steps=steps, batch_size=1, crop=crop, lr=lr))
    for step in range(steps):
        trainer.train_step(sharp, blur, step)
    before, after = float(psnr(blur, sharp)), float(psnr(trainer.predict(blur), sharp))
    assert after > before + 3.0, (before, after)


@pytest.mark.parametrize("model", MODELS)
def test_resume_equals_straight_run(model: str, pair_dir: Path, tmp_path: Path) -> None:
    train_baseline(model, "smoke", pair_dir, tmp_path / "straight", steps=6, progress=False)
    train_baseline(model, "smoke", pair_dir, tmp_path / "killed", steps=6, stop_after=3, progress=False)
    assert not (tmp_path / "killed" / "model.pt").exists()
    assert torch.load(tmp_path / "killed" / "last.pt", weights_only=True)["step"] == 3
    res = train_baseline(model, "smoke", pair_dir, tmp_path / "killed", steps=6, resume=True, progress=False)
    assert res.step == 6 and res.val_psnr is not None
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "killed" / "last.pt", weights_only=True)
    for part in a["trainer"]["modules"]:  # the network and, for DeblurGAN-v2, the discriminator
        for k, v in a["trainer"]["modules"][part].items():
            assert torch.equal(v, b["trainer"]["modules"][part][k]), (part, k)
    assert a["trainer"]["schedulers"] == b["trainer"]["schedulers"]
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]
    ckpt = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)
    assert ckpt["model"] == model and ckpt["config"] == build_network(model, "smoke").config.to_dict()
    assert ckpt["provenance"]["steps"] == 6 and ckpt["provenance"]["git_commit"]
    assert (tmp_path / "straight" / "history.csv").exists()
    with pytest.raises(BlurkitError, match="--resume"):
        train_baseline(model, "smoke", pair_dir, tmp_path / "straight", steps=6, progress=False)
    other = "srn" if model == "deblurganv2" else "deblurganv2"
    with pytest.raises(BlurkitError, match="cannot resume"):
        train_baseline(other, "smoke", pair_dir, tmp_path / "killed", steps=6, resume=True, progress=False)


def test_training_errors(pair_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="unknown baseline 'unet'"):
        train_baseline("unet", "smoke", pair_dir, tmp_path / "r", progress=False)
    with pytest.raises(BlurkitError, match="unknown dataset"):
        train_baseline("srn", "smoke", tmp_path / "nowhere", tmp_path / "r", progress=False)
    with pytest.raises(BlurkitError, match="no trained baseline"):
        load_baseline(tmp_path / "nowhere")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(BlurkitError, match="cannot read baseline checkpoint"):
        load_baseline(tmp_path / "junk.pt")


@pytest.mark.parametrize("model", MODELS)
def test_predictor_writes_images_of_the_input_size(model: str, tmp_path: Path) -> None:
    rgb = save_png(tmp_path / "in" / "odd.png", rand_rgb(37, 53, seed=1))
    grey = save_png(tmp_path / "in" / "grey.png", rand_rgb(30, 41, seed=2)[..., 0])
    net = _net(model)
    table = deblur_with_baseline(net, [rgb, grey], tmp_path / "out", progress=False)
    assert list(table.status) == ["done", "done"]
    out_rgb, out_grey = read_image(tmp_path / "out" / "odd.png", mode="keep"), read_image(
        tmp_path / "out" / "grey.png", mode="keep")
    assert out_rgb.shape == (37, 53, 3) and out_grey.shape == (30, 41, 1)
    x = torch.from_numpy(read_image(rgb)).permute(2, 0, 1)[None]
    expect = np.clip(np.rint(predict(net, x)[0].permute(1, 2, 0).numpy() * 255), 0, 255) / 255
    assert np.abs(out_rgb - expect).max() < 1e-6
    log = pd.read_csv(tmp_path / "out" / "deblur_log.csv")
    assert list(log.height) == [37, 30] and (tmp_path / "out" / "deblur_log.meta.json").exists()
    with pytest.raises(BlurkitError, match="not found"):
        deblur_with_baseline(net, [tmp_path / "missing.png"], tmp_path / "out", progress=False)


@pytest.mark.parametrize("model", MODELS)
def test_self_ensemble_prediction(model: str, tmp_path: Path) -> None:
    from blurkit.deblur.self_ensemble import unview, view

    net = _net(model)
    y = torch.from_numpy(rand_rgb(24, 40, seed=3) / 255).permute(2, 0, 1)[None].float()  # an image in [0, 1]
    assert torch.equal(predict_views(net, y, 1), predict(net, y))
    mean = sum(unview(predict(net, view(y, i)), i) for i in range(8)) / 8
    ours = predict_views(net, y, 8)
    assert ours.shape == y.shape and torch.allclose(ours, mean, rtol=0, atol=sum_tol(8))  # a mean of 8 values in [0, 1]
    assert (ours - predict(net, y)).abs().max() > 1e-4  # an untrained network is not equivariant: the views differ
    for bad in (0, 9, 2.5, True):
        with pytest.raises(BlurkitError, match="views must be"):
            predict_views(net, y, bad)  # type: ignore[arg-type]
    src = save_png(tmp_path / "in" / "a.png", rand_rgb(24, 40, seed=3))
    deblur_with_baseline(net, [src], tmp_path / "out", progress=False, views=8)
    x = torch.from_numpy(read_image(src)).permute(2, 0, 1)[None]
    expect = np.clip(np.rint(predict_views(net, x, 8)[0].permute(1, 2, 0).numpy() * 255), 0, 255) / 255
    assert np.abs(read_image(tmp_path / "out" / "a.png") - expect).max() < 1e-6
    assert '"views": 8' in (tmp_path / "out" / "deblur_log.meta.json").read_text()
    with pytest.raises(BlurkitError, match="views must be"):
        deblur_with_baseline(net, [src], tmp_path / "bad", progress=False, views=0)
    assert not (tmp_path / "bad").exists()  # refused before anything is written


def test_cli_train_and_deblur(pair_dir: Path, tmp_path: Path) -> None:
    parent = typer.Typer()
    parent.add_typer(baseline_app, name="baseline")
    runner = CliRunner()
    for model in MODELS:
        run = tmp_path / model
        res = runner.invoke(parent, ["baseline", "train", model, "--profile", "smoke", "--data", str(pair_dir),
                                     "--out", str(run), "--steps", "2", "--device", "cpu", "--threads", "1"])
        assert res.exit_code == 0, res.output
        assert f"{model}: step 2" in res.output and (run / "model.pt").exists()
        assert load_baseline(run).model_name == model
        blurry = pair_folder(pair_dir)[-1][1]
        res = runner.invoke(parent, ["baseline", "deblur", str(blurry), "--model", str(run), "-o",
                                     str(tmp_path / f"out-{model}")])
        assert res.exit_code == 0, res.output
        assert read_image(tmp_path / f"out-{model}" / blurry.name).shape == read_image(blurry).shape
        res = runner.invoke(parent, ["baseline", "deblur", str(blurry), "--model", str(run), "-o",
                                     str(tmp_path / f"x8-{model}"), "--views", "8"])
        assert res.exit_code == 0 and (tmp_path / f"x8-{model}" / blurry.name).exists(), res.output
        res = runner.invoke(parent, ["baseline", "deblur", str(blurry), "--model", str(run), "-o",
                                     str(tmp_path / f"x9-{model}"), "--views", "9"])
        assert isinstance(res.exception, BlurkitError) and "views must be" in str(res.exception)
    res = runner.invoke(parent, ["baseline", "train", "srn", "--data", str(pair_dir), "--out", str(tmp_path / "bf16"),
                                 "--steps", "1", "--bf16", "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert torch.load(tmp_path / "bf16" / "model.pt", weights_only=True)["train_config"]["bf16"] is True
    res = runner.invoke(parent, ["baseline", "train", "srn", "--data", str(pair_dir), "--out", str(tmp_path / "srn")])
    assert isinstance(res.exception, BlurkitError) and "--resume" in str(res.exception)
    res = runner.invoke(parent, ["baseline", "--help"])
    assert res.exit_code == 0 and "train" in res.output and "deblur" in res.output


def test_cli_train_with_another_network_preset(pair_dir: Path, tmp_path: Path) -> None:
    parent = typer.Typer()
    parent.add_typer(baseline_app, name="baseline")
    runner = CliRunner()
    args = ["baseline", "train", "srn", "--profile", "smoke", "--data", str(pair_dir), "--steps", "1", "--threads",
            "1", "--device", "cpu"]
    res = runner.invoke(parent, [*args, "--out", str(tmp_path / "wide"), "--net", "cpu-wide"])
    assert res.exit_code == 0, res.output
    saved = torch.load(tmp_path / "wide" / "model.pt", weights_only=True)
    assert saved["train_config"]["net"] == "cpu-wide" and saved["train_config"]["crop"] == 48  # the rest: smoke's
    assert load_baseline(tmp_path / "wide").config.widths == (32, 64, 128)
    res = runner.invoke(parent, [*args, "--out", str(tmp_path / "bad"), "--net", "nonsense"])
    assert isinstance(res.exception, BlurkitError) and "unknown SRN preset 'nonsense'" in str(res.exception)
    assert not (tmp_path / "bad").exists()  # refused before the run folder is made
    res = runner.invoke(parent, [*args[:6], "gopro-like", *args[7:], "--out", str(tmp_path / "mixed"), "--net",
                                 "cpu-wide"])  # a named set of another profile than the preset's
    assert isinstance(res.exception, BlurkitError) and "use it with --profile cpu" in str(res.exception)
    assert not (tmp_path / "mixed").exists()


def test_a_run_folder_is_trained_by_one_process_at_a_time(tmp_path: Path) -> None:
    from blurkit.baselines.baseline_train import RunBusyError, lock_run

    held = lock_run(tmp_path / "run")
    try:
        with pytest.raises(RunBusyError, match="another process"):
            train_baseline("srn", "smoke", tmp_path / "nowhere", tmp_path / "run")
    finally:
        held.close()
    lock_run(tmp_path / "run").close()  # free again once released


def test_gan_without_adversarial_term_skips_the_discriminator(pair_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(GAN_PRESETS, "smoke", dataclasses.replace(GAN_PRESETS["smoke"], adv_weight=0.0))
    sharp, blur = _crop_pair(pair_dir, 64)
    skip, full = BaselineTrainer(_tiny("deblurganv2")), BaselineTrainer(_tiny("deblurganv2"))
    assert not skip.train_disc
    full.train_disc = True  # the discriminator path, whose zero-weighted adversarial term cannot move the generator
    disc_before = {k: v.clone() for k, v in skip.disc.state_dict().items()}
    for step in range(3):
        losses, _ = skip.train_step(sharp, blur, step)
        full.train_step(sharp, blur, step)
    assert np.isnan(losses["d_loss"]) and np.isfinite(losses["content"])
    full_net = full.net.state_dict()
    for k, v in skip.net.state_dict().items():
        torch.testing.assert_close(v, full_net[k])  # float32 tolerances: the same generator updates
    assert all(torch.equal(v, skip.disc.state_dict()[k]) for k, v in disc_before.items())
    assert not all(torch.equal(v, full.disc.state_dict()[k]) for k, v in disc_before.items())


@pytest.mark.parametrize("model", MODELS)
def test_bf16_training_is_channels_last(model: str, pair_dir: Path) -> None:
    sharp, blur = _crop_pair(pair_dir, 64)
    trainer = BaselineTrainer(_tiny(model, bf16=True))
    weight = next(p for p in trainer.net.parameters() if p.dim() == 4 and p.shape[-1] > 1)
    assert weight.is_contiguous(memory_format=torch.channels_last)
    losses, pred = trainer.train_step(sharp, blur, 0)
    assert np.isfinite(losses["loss"]) and pred.dtype == torch.float32 and pred.shape == sharp.shape


def test_bench_times_a_baseline_step() -> None:
    from blurkit.experiments.bench import time_baseline_step

    secs, n = time_baseline_step("srn", "smoke", bf16=False, repeats=1)
    assert secs > 0 and n == 1  # how fast is for `blurkit bench baseline-train` to say, not a test
