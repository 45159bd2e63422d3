"""The ladder's rows that deconvolve y with its blind TV kernel directly (``tv_kernel``, ``tv_kernel_noguard``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from blurkit.data.kernel_extent import domain_extent
from blurkit.deblur.linear_xstep import PRESET_XSTEP
from blurkit.deblur.metrics import psnr as image_psnr
from blurkit.experiments import ladder, tv_kernel_rows
from blurkit.experiments.deblur_report import to_image
from blurkit.experiments.ladder_keys import method_key
from blurkit.experiments.tv_kernel_rows import (
    SMOKE_TV_KERNEL,
    TV_KERNEL_QUANTILE,
    kernel_deconvolution,
    method_tv_kernel,
    tv_kernel_settings,
)
from blurkit.space.kernel_space import KernelSpace

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = dataclasses.replace(SMOKE_TV_KERNEL, size=7)


def _scene(side: int = 48) -> torch.Tensor:
    """A blocky grey scene in [0.1, 0.9]. Shape: ``(1, 3, side, side)``."""
    g = torch.Generator().manual_seed(0)
    x = 0.1 + 0.8 * torch.rand(1, 1, side // 6, side // 6, generator=g)
    return x.repeat_interleave(6, -1).repeat_interleave(6, -2).expand(1, 3, -1, -1).contiguous()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR of two ``(1, C, H, W)`` images in [0, 1] (the library's metric)."""
    return image_psnr(to_image(a), to_image(b))


def _line(length: int = 7) -> torch.Tensor:
    """A horizontal line kernel of ``length`` px. Shape: ``(length, length)``."""
    k = torch.zeros(length, length)
    k[length // 2] = 1.0 / length
    return k


def _blur(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """x blurred by k with replicated borders (a linear camera). Shape: as x."""
    r = k.shape[-1] // 2
    padded = torch.nn.functional.pad(x, (r,) * 4, mode="replicate")
    return torch.nn.functional.conv2d(padded, k.flip(-2, -1).expand(3, 1, *k.shape), groups=3)


def test_kernel_deconvolution_undoes_a_known_blur() -> None:
    """With the true kernel the solver gains several dB over y; a one-tap kernel leaves y nearly as it is; a kernel
    of even side or not square is refused."""
    x = _scene()
    y = _blur(x, _line())
    out = kernel_deconvolution(y, _line(), "linear", PRESET_XSTEP)
    assert out.shape == y.shape and 0 <= float(out.min()) and float(out.max()) <= 1
    assert psnr(out, x) > psnr(y, x) + 3
    delta = torch.zeros(7, 7)
    delta[3, 3] = 1.0
    assert psnr(kernel_deconvolution(y, delta, "linear", PRESET_XSTEP), y) > 30
    for bad in (torch.ones(6, 6) / 36, torch.ones(5, 7) / 35, torch.ones(1, 7, 7) / 49):
        with pytest.raises(ValueError, match="square with an odd side"):
            kernel_deconvolution(y, bad, "linear", PRESET_XSTEP)


def test_settings_come_from_the_training_domain(tmp_path: Path) -> None:
    """A space trained on reds-like estimates at that domain's median blur extent and linearises with its curve; a
    space without a known domain uses F's side and no curve."""
    shipped = KernelSpace.load("reds-like")
    config, crf = tv_kernel_settings(shipped, "cpu")
    assert config.size == min(shipped.config.basis_size, domain_extent("reds-like", TV_KERNEL_QUANTILE)) == 13
    assert crf == "filmic" and config.iters == tv_kernel_rows.TVKernelConfig().iters
    torch.manual_seed(0)
    tiny = KernelSpace("smoke")
    assert tiny.training_domain is None
    config, crf = tv_kernel_settings(tiny, "smoke")
    assert (config.size, config.iters, crf) == (tiny.config.basis_size, SMOKE_TV_KERNEL.iters, "linear")


def test_rows_share_one_estimate_and_the_blob_check_returns_y(monkeypatch: pytest.MonkeyPatch) -> None:
    """The open and checked rows make one estimate per image; more blobs than allowed returns y exactly, and the
    stored output is not the caller's to edit."""
    calls = []
    real = tv_kernel_rows.blind_estimate

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(tv_kernel_rows, "blind_estimate", counted)
    monkeypatch.setattr(tv_kernel_rows, "_MADE", {})
    torch.manual_seed(0)
    model = KernelSpace("smoke").eval()
    y = _blur(_scene(32), _line(5))
    free, t_free = method_tv_kernel(PRESET_XSTEP, TINY, "linear", max_blobs=None)(y, model, 0, y)
    kept, t_kept = method_tv_kernel(PRESET_XSTEP, TINY, "linear", max_blobs=10**6)(y, model, 0, y)
    none, _ = method_tv_kernel(PRESET_XSTEP, TINY, "linear", max_blobs=0)(y, model, 0, y)
    assert len(calls) == 1 and torch.equal(free, kept) and t_kept == t_free > 0
    assert torch.equal(none, y) and not torch.equal(free, y)
    free[:] = 0
    assert torch.equal(method_tv_kernel(PRESET_XSTEP, TINY, "linear", None)(y, model, 0, y)[0], kept)
    method_tv_kernel(PRESET_XSTEP, dataclasses.replace(TINY, size=5), "linear", None)(y, model, 0, y)
    assert len(calls) == 2


def test_tv_kernel_rows_on_the_ladder(pip_photo_manifest: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Both rows run on the smoke ladder (any head: no code is fitted); the checked row's cells are made again when
    its blob limit changes, the open row's are not."""
    from blurkit.data.default_data import build_default

    build_default("smoke", domains=("uniform-8",), progress=False)
    torch.manual_seed(0)
    model = KernelSpace("smoke").save(tmp_path / "basis.pt", provenance={"note": "untrained"})
    sets = [f"{model}>uniform-8"]
    methods = ["blurry", "tv_kernel", "tv_kernel_noguard"]
    summary = ladder.run_ladder(tmp_path / "out", sets, methods, profile="smoke", n=2, size=32, progress=False)
    rows = summary.set_index(["set", "method"])
    for method in methods[1:]:
        assert rows.loc[(sets[0], method), "n"] == 2 and np.isfinite(rows.loc[(sets[0], method), "psnr"])
    before = {m: method_key(m, str(model), "smoke", 4) for m in methods[1:]}
    monkeypatch.setattr(tv_kernel_rows, "TV_KERNEL_MAX_BLOBS", 5)
    assert method_key("tv_kernel", str(model), "smoke", 4) != before["tv_kernel"]
    assert method_key("tv_kernel_noguard", str(model), "smoke", 4) == before["tv_kernel_noguard"]
