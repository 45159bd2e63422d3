"""The official code's variant of blind deblurring: its loss switch, the warm-up code it starts k from, the preset."""

import numpy as np
import pytest
import torch

from blurkit.data.images import write_image
from blurkit.deblur.deblur_config import DEBLUR_PRESETS, DeblurConfig
from blurkit.deblur.objective import OFFICIAL_GAMMA, OFFICIAL_RHO_FIRST, official_objective
from blurkit.deblur.solver import deblur
from blurkit.deblur.warm_code import training_code, warm_pair
from blurkit.errors import BlurkitError
from blurkit.space.kernel_space import KernelSpace, resize_kernel
from blurkit.space.losses import charbonnier, hyper_laplacian, ssim
from tests.tolerances import ulp_tol

SMOKE_OFFICIAL = DEBLUR_PRESETS["smoke"].replace(k_init="given", loss="official")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return KernelSpace("smoke").eval()


def _pair(seed: int = 0, h: int = 32, w: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, h, w, generator=g), torch.rand(1, 3, h, w, generator=g)


def test_official_loss_switches_half_way(model):
    x, y = _pair()
    k = torch.randn(1, model.config.kdim, *model.kernel_size(32, 32), generator=torch.Generator().manual_seed(1))
    cfg = SMOKE_OFFICIAL
    with torch.no_grad():
        blurred = model.apply(x, k)
        data, k_norm = charbonnier(blurred, y, cfg.charbonnier_eps), model.code_norm(k)
        first = official_objective(model, y, x, k, cfg, second_half=False)["loss"]
        second = official_objective(model, y, x, k, cfg, second_half=True)["loss"]
    want_first = OFFICIAL_RHO_FIRST * data + (1 - ssim(blurred.clamp(0, 1), y)) + cfg.lam * k_norm
    want_second = data + OFFICIAL_GAMMA * hyper_laplacian(x, cfg.alpha) + cfg.lam * k_norm
    assert float(first) == pytest.approx(float(want_first), abs=ulp_tol(want_first, ulps=4))
    assert float(second) == pytest.approx(float(want_second), abs=ulp_tol(want_second, ulps=4))
    assert abs(float(first - second)) > 1e-3  # the two halves are different losses


def test_the_trace_shows_the_switch(model):
    """The logged loss is the first half's up to ``steps // 2`` and the second half's after it."""
    _, y = _pair(2)
    k0 = torch.zeros(1, model.config.kdim, *model.kernel_size(32, 32))
    cfg = SMOKE_OFFICIAL.replace(steps=8, log_every=1, warmup_steps=0)
    res = deblur(model, y, cfg, k_start=k0, progress=False)
    solve = res.trace[res.trace.phase == "solve"].set_index("step")
    rebuilt_second = solve.data + OFFICIAL_GAMMA * solve.prior + cfg.lam * solve.k_norm
    late, early = solve.index > cfg.steps // 2, solve.index <= cfg.steps // 2
    assert np.allclose(solve.loss[late], rebuilt_second[late], rtol=4 * np.finfo(np.float32).eps)
    assert not np.allclose(solve.loss[early], rebuilt_second[early], rtol=1e-3)


def test_the_kernel_prior_warms_up_towards_the_given_code(model):
    _, y = _pair(3)
    grid = model.kernel_size(32, 32)
    k0 = 0.5 * torch.randn(1, model.config.kdim, *grid, generator=torch.Generator().manual_seed(4))
    cfg = SMOKE_OFFICIAL.replace(steps=1, warmup_steps=60, k_lr=1e-2)
    warm = deblur(model, y, cfg, k_start=k0, progress=False).k
    cold = deblur(model, y, cfg.replace(k_init="noise"), progress=False).k  # no code to warm up towards
    assert float((warm - k0).pow(2).mean()) < 0.5 * float((cold - k0).pow(2).mean())


def test_given_needs_a_code_or_a_training_domain(model):
    _, y = _pair()
    with pytest.raises(BlurkitError, match="training domain"):
        deblur(model, y, SMOKE_OFFICIAL, progress=False)


def test_config_checks_and_keys():
    assert DEBLUR_PRESETS["official"].loss == "official" and DEBLUR_PRESETS["official"].k_init == "given"
    assert "loss" not in DEBLUR_PRESETS["paper"].to_dict()  # earlier records' keys stay valid
    assert DEBLUR_PRESETS["official"].to_dict()["loss"] == "official"
    with pytest.raises(ValueError, match="loss"):
        DeblurConfig(loss="vgg")
    with pytest.raises(ValueError, match="official"):
        DEBLUR_PRESETS["fast"].replace(loss="official")


def _folder(root, blurs: list[float]) -> None:
    """A paired folder whose pair ``p{i}`` is the sharp image plus noise of std ``blurs[i]`` (its blurry PSNR)."""
    rng = np.random.default_rng(0)
    sharp = rng.random((40, 40, 3)).astype(np.float32)
    for i, s in enumerate(blurs):
        write_image(root / "sharp" / f"p{i}.png", sharp)
        write_image(root / "blur" / f"p{i}.png", np.clip(sharp + s * rng.standard_normal(sharp.shape), 0, 1))


def test_warm_pair_is_the_median_by_blurry_psnr(tmp_path, model):
    _folder(tmp_path, [0.02, 0.3, 0.1, 0.05, 0.2])  # by PSNR: p1 < p4 < p2 < p3 < p0; the median is p2
    name, x, y = warm_pair(str(tmp_path))
    assert name == "p2" and x.shape == y.shape == (40, 40, 3)
    trained = KernelSpace("smoke").eval()
    trained.provenance = {"config": {"data": str(tmp_path)}}
    code = training_code(trained, 64, 96)
    assert code.shape == (1, trained.config.kdim, *trained.kernel_size(64, 96))
    with torch.no_grad():
        want = trained.encode(torch.from_numpy(x).permute(2, 0, 1)[None], torch.from_numpy(y).permute(2, 0, 1)[None])
    assert torch.equal(code, resize_kernel(want, trained.kernel_size(64, 96)))
