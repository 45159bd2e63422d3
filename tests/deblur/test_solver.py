"""Blind deblurring solver (Algorithm 1 / Eq. 6): schedules, shapes, bad input, determinism, convergence."""

import json

import pandas as pd
import pytest
import torch

from blurkit.deblur.deblur_config import DEBLUR_PRESETS, DeblurConfig, deblur_config
from blurkit.deblur.solver import TRACE_COLUMNS, DeblurResult, deblur
from blurkit.errors import UnknownNameError
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import psnr

SMOKE = DEBLUR_PRESETS["smoke"]
VARIANTS = {
    "joint-dip": SMOKE,
    "alternating-dip": SMOKE.replace(schedule="alternating", inner_k_steps=2),
    "alternating-reinit": SMOKE.replace(schedule="alternating", reinit_k=True, steps=4),
    "fast-path": SMOKE.replace(x_param="pixels", k_param="code", k_init="extract", warmup_steps=0),
    "dip-k-from-extract": SMOKE.replace(k_init="extract"),
}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return KernelSpace("smoke").eval()


def _images(b=2, c=3, h=20, w=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, h, w, generator=g)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_smoke_shapes_and_trace(model, name):
    cfg = VARIANTS[name]
    y = _images()
    res = deblur(model, y, cfg, reference=y, progress=False)
    assert res.x.shape == y.shape and res.k.shape == (2, model.config.kdim, 1, 1)
    assert float(res.x.min()) >= 0 and float(res.x.max()) <= 1
    assert list(res.trace.columns) == TRACE_COLUMNS and set(res.trace["image"]) == {0, 1}
    assert res.trace["psnr"].notna().all() and len(res.wall_s) == 2


@pytest.mark.parametrize("name", ["joint-dip", "alternating-dip", "fast-path"])
def test_short_run_lowers_the_loss(model, name):
    cfg = VARIANTS[name].replace(steps=30, log_every=30)
    res = deblur(model, _images(b=1, h=32, w=32, seed=1), cfg, progress=False)
    first, last = res.trace["loss"].iloc[0], res.trace["loss"].iloc[-1]
    assert last < first


def test_grayscale_and_odd_sizes(model):
    y = _images(b=1, c=1, h=13, w=37)
    res = deblur(model, y, "smoke", progress=False)
    assert res.x.shape == (1, 1, 13, 37)


def test_deterministic(model):
    y = _images(b=1)
    a = deblur(model, y, "smoke", seed=5, progress=False)
    b = deblur(model, y, "smoke", seed=5, progress=False)
    assert torch.equal(a.x, b.x) and torch.equal(a.k, b.k)


def test_batch_results_do_not_depend_on_batch(model):
    """Image i of a batch is solved alone with seed + i: the same arithmetic as a batch of one, so the results are
    equal, not just close. (A tolerance would not help: the smoke solver is chaotic, a one-ulp change of y moves
    its x by 0.18, so a result that took another path would differ by far more than any rounding tolerance.)"""
    y = _images(b=2)
    both = deblur(model, y, "smoke", seed=0, progress=False)
    second = deblur(model, y[1:], "smoke", seed=1, progress=False)
    assert torch.equal(both.x[1:], second.x) and torch.equal(both.k[1:], second.k)
    other = y.clone()
    other[0] = _images(b=1, seed=9)[0]  # another first image leaves the second one's result as it was
    assert torch.equal(deblur(model, other, "smoke", seed=0, progress=False).x[1:], both.x[1:])


def test_model_left_unchanged(model):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    deblur(model, _images(b=1), "smoke", progress=False)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in model.parameters())


def test_callback_sees_every_logged_step(model):
    seen = []
    deblur(model, _images(b=1), "smoke", progress=False, callback=lambda s: seen.append(s["row"]["step"]))
    assert seen == [0, 4, 8, 12]


def test_bad_input(model):
    with pytest.raises(ValueError, match="channels"):
        deblur(model, torch.rand(1, 2, 8, 8), "smoke", progress=False)
    with pytest.raises(ValueError, match="4-D"):
        deblur(model, torch.rand(3, 8, 8), "smoke", progress=False)
    with pytest.raises(ValueError, match="reference shape"):
        deblur(model, torch.rand(1, 3, 8, 8), "smoke", reference=torch.rand(1, 3, 9, 8), progress=False)
    with pytest.raises(UnknownNameError, match="fast"):
        deblur_config("quick")


def test_config_validation_and_json():
    with pytest.raises(ValueError, match="schedule"):
        DeblurConfig(schedule="random")
    with pytest.raises(ValueError, match="steps"):
        DeblurConfig(steps=0)
    with pytest.raises(ValueError, match="k_init='extract'"):
        DeblurConfig(k_param="code", k_init="noise")
    for cfg in DEBLUR_PRESETS.values():
        d = json.loads(json.dumps(cfg.to_dict()))
        assert DeblurConfig(**{**d, "betas": tuple(d["betas"])}) == cfg


def test_known_operator_images_get_closer_to_the_truth():
    """y = F(x, k) with a known code: the fast-adam path recovers an x closer to the truth than y is."""
    torch.manual_seed(0)
    model = KernelSpace("smoke").eval()
    g = torch.Generator().manual_seed(2)
    x_true = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 48, 48, generator=g), 3, 1, 1)
    with torch.no_grad():
        k_true = model.encode(x_true, x_true) + 0.5 * torch.randn(1, model.config.kdim, 1, 1, generator=g)
        y = model.apply(x_true, k_true).clamp(0, 1)
    cfg = DEBLUR_PRESETS["fast-adam"].replace(steps=150, gamma=0.0, lam=0.0)
    res = deblur(model, y, cfg, reference=x_true, progress=False)
    assert float(psnr(res.x, x_true)) > float(psnr(y, x_true)) + 8.0  # measured +10.0 dB, 2 dB margin
    assert isinstance(res.trace, pd.DataFrame)


def test_first_psf_is_the_first_images_fallback_kernel():
    kernel = torch.eye(3)
    base = dict(x=torch.zeros(2, 3, 4, 4), k=torch.zeros(2, 1, 1, 1), trace=pd.DataFrame(), wall_s=[0.0, 0.0])
    assert DeblurResult(**base).first_psf is None
    assert DeblurResult(**base, psf=[None, kernel]).first_psf is None
    assert DeblurResult(**base, psf=[kernel, None]).first_psf is kernel
