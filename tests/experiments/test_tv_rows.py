"""The ladder's blind total-variation rows (``tv_code``, ``tv_code_noguard``) on tiny models."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from blurkit.deblur.guard import GuardConfig
from blurkit.deblur.linear_xstep import PRESET_XSTEP
from blurkit.deblur.tv_kernel import TVKernelConfig, blind_estimate
from blurkit.experiments import ladder, tv_rows
from blurkit.experiments.ladder_keys import method_key
from blurkit.experiments.tv_rows import SMOKE_TV, method_tv_code, tv_code, tv_support

TINY_TV = dataclasses.replace(SMOKE_TV, size=7)  # within the tiny space's 15 px kernels
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import kernel_error
from blurkit.space.netconfig import net_preset

pytestmark = pytest.mark.usefixtures("one_thread")


def _kernel_model(path: Path) -> Path:
    """An untrained kernel-head space whose kernels depend on the code (a fresh head reads one kernel off any)."""
    torch.manual_seed(0)
    model = KernelSpace(net_preset("smoke-kernel"))
    with torch.no_grad():
        model.F.dyn.to_kernel.weight.normal_(0.0, 1.0)
    return model.save(path, provenance={"note": "untrained"})


def _blurry(seed: int = 0, side: int = 40) -> torch.Tensor:
    """A blocky scene blurred along a horizontal 5 px line, in [0, 1]. Shape: ``(1, 3, side, side)``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 1, side // 4, side // 4, generator=g).repeat_interleave(4, -1).repeat_interleave(4, -2)
    k = torch.zeros(1, 1, 1, 5) + 0.2
    return torch.nn.functional.conv2d(torch.nn.functional.pad(x, (2, 2, 0, 0), mode="replicate"), k).expand(1, 3, -1,
                                                                                                         -1)


def test_tv_code_fits_the_blind_kernel(tmp_path: Path) -> None:
    """The code's cell kernels are the blind kernel, padded to F's side, far closer to it than the no-blur code
    G(y, y) is; the raw estimate's blobs are counted."""
    model = KernelSpace.load(_kernel_model(tmp_path / "k.pt")).eval()
    y = _blurry()
    cfg = TVKernelConfig(iters=20, size=7)
    code, blobs = tv_code(model, y, cfg, fit_steps=300)
    side = model.config.basis_size
    kernel, count = blind_estimate(y, model.F.tone, cfg)
    target = torch.nn.functional.pad(kernel, ((side - 7) // 2,) * 4)
    grid = model.kernel_size(*y.shape[-2:])
    assert code.shape == model.encode(y, y).shape and blobs == count >= 1
    cells = target.expand(*grid, side, side)[None]
    with torch.no_grad():
        fitted = kernel_error(model.cell_kernels(code), cells)
        start = kernel_error(model.cell_kernels(model.encode(y, y)), cells)
    assert float(fitted) < 0.25 * float(start)
    with pytest.raises(ValueError, match="exceeds F's kernels"):
        tv_code(model, y, dataclasses.replace(cfg, size=side + 2), fit_steps=2)


def test_the_support_comes_from_the_training_domain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """F's side without a recorded training domain; else the domain's blur extent, at most F's side."""
    model = KernelSpace.load(_kernel_model(tmp_path / "k.pt")).eval()
    side = model.config.basis_size
    assert model.training_domain is None and tv_support(model) == side
    monkeypatch.setattr(KernelSpace, "training_domain", property(lambda self: "uniform-8"))
    monkeypatch.setattr(tv_rows, "domain_extent",
                        lambda domain, q: 9 if (domain, q) == ("uniform-8", tv_rows.TV_SUPPORT_QUANTILE) else 0)
    assert tv_support(model) == 9
    monkeypatch.setattr(tv_rows, "domain_extent", lambda domain, q: side + 10)
    assert tv_support(model) == side
    monkeypatch.setattr(KernelSpace, "training_domain", property(lambda self: str(tmp_path / "my-pairs")))
    assert tv_support(model) == side  # a folder of real pairs: no blur generator to measure


def test_tv_code_needs_a_kernel_head(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = KernelSpace("smoke").eval()  # a basis head: no kernel on a code cell
    with pytest.raises(ValueError, match="kernel-head"):
        tv_code(model, _blurry(), TINY_TV, fit_steps=2)


def test_the_checks_return_y_when_they_cannot_trust_the_kernel(tmp_path: Path) -> None:
    """With a fit gain no estimate can reach, or a blob count no raw kernel has, ``tv_code`` returns y itself;
    without them it deblurs."""
    model = KernelSpace.load(_kernel_model(tmp_path / "k.pt")).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    y = _blurry(1)
    strict = GuardConfig(min_fit_gain=1e9)
    open_guard = GuardConfig(max_blur_psnr=float("inf"), min_fit_gain=-float("inf"), max_gain=float("inf"))
    guarded, _ = method_tv_code(PRESET_XSTEP, None, strict, TINY_TV, 20)(y, model, 0, y)
    scattered, _ = method_tv_code(PRESET_XSTEP, None, open_guard, TINY_TV, 20, max_blobs=0)(y, model, 0, y)
    kept, _ = method_tv_code(PRESET_XSTEP, None, open_guard, TINY_TV, 20, max_blobs=10**6)(y, model, 0, y)
    free, _ = method_tv_code(PRESET_XSTEP, None, None, TINY_TV, 20, max_blobs=0)(y, model, 0, y)
    assert torch.equal(guarded, y) and torch.equal(scattered, y)
    assert guarded.shape == free.shape and not torch.equal(free, y) and torch.equal(kept, free)


def test_the_rows_share_one_estimate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The guarded and unguarded rows estimate once per image and report the estimate's seconds; another image, or
    weights changed in place, estimate again."""
    model = KernelSpace.load(_kernel_model(tmp_path / "k.pt")).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    calls: list[int] = []
    real = tv_rows.tv_code

    def counted(*args: object, **kwargs: object) -> tuple[torch.Tensor, int]:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]
    monkeypatch.setattr(tv_rows, "tv_code", counted)
    y = _blurry(2)
    free, t_free = method_tv_code(PRESET_XSTEP, None, None, TINY_TV, 5)(y, model, 0, y)
    open_guard = GuardConfig(max_blur_psnr=float("inf"), min_fit_gain=-float("inf"), max_gain=float("inf"))
    kept, t_kept = method_tv_code(PRESET_XSTEP, None, open_guard, TINY_TV, 5, max_blobs=10**6)(y, model, 0, y)
    assert len(calls) == 1 and torch.equal(free, kept) and t_kept >= t_free > 0
    free[:] = 0  # a caller's edit does not reach the stored output
    assert torch.equal(method_tv_code(PRESET_XSTEP, None, None, TINY_TV, 5)(y, model, 0, y)[0], kept)
    method_tv_code(PRESET_XSTEP, None, None, TINY_TV, 5)(_blurry(3), model, 0, y)
    assert len(calls) == 2
    with torch.no_grad():
        model.F.dyn.to_kernel.weight.mul_(0.5)
    method_tv_code(PRESET_XSTEP, None, None, TINY_TV, 5)(y, model, 0, y)
    assert len(calls) == 3
    monkeypatch.setattr(tv_rows, "TV_MADE_KEPT", 1)  # only the latest estimate is kept
    method_tv_code(PRESET_XSTEP, None, None, TINY_TV, 5)(_blurry(3), model, 0, y)
    method_tv_code(PRESET_XSTEP, None, None, TINY_TV, 5)(y, model, 0, y)
    assert len(calls) == 5


def test_tv_rows_on_the_ladder(pip_photo_manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both rows run on a kernel-head space and are skipped for a basis head; their cells are made again when the
    TV settings change."""
    from blurkit.data.default_data import build_default

    build_default("smoke", domains=("uniform-8",), progress=False)
    kernel_model = _kernel_model(tmp_path / "kernel.pt")
    torch.manual_seed(0)
    basis_model = KernelSpace("smoke").save(tmp_path / "basis.pt", provenance={"note": "untrained"})
    sets = [f"{kernel_model}>uniform-8", f"{basis_model}>uniform-8"]
    methods = ["blurry", "tv_code", "tv_code_noguard"]
    summary = ladder.run_ladder(tmp_path / "out", sets, methods, profile="smoke", n=2, size=32, progress=False)
    rows = summary.set_index(["set", "method"])
    for method in methods[1:]:
        assert rows.loc[(sets[0], method), "n"] == 2 and np.isfinite(rows.loc[(sets[0], method), "psnr"])
        assert (sets[1], method) not in rows.index
    assert rows.loc[(sets[0], "tv_code"), "psnr"] != rows.loc[(sets[0], "tv_code_noguard"), "psnr"]  # the guard acted
    before = {m: method_key(m, str(kernel_model), "smoke", 4) for m in methods[1:]}
    monkeypatch.setattr(tv_rows, "SMOKE_TV", dataclasses.replace(SMOKE_TV, lam=2 * SMOKE_TV.lam))
    assert all(method_key(m, str(kernel_model), "smoke", 4) != before[m] for m in methods[1:])
