"""The ladder's rows that deconvolve y with its blind TV kernel directly (``tv_kernel``, ``tv_kernel_noguard``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from blurscenes import blur, count_estimates, line, scene

from blurkit.deblur import tv_fallback
from blurkit.deblur.linear_xstep import PRESET_XSTEP
from blurkit.deblur.tv_fallback import SMOKE_TV_KERNEL
from blurkit.experiments import ladder
from blurkit.experiments.ladder_keys import method_key
from blurkit.experiments.tv_kernel_rows import method_tv_kernel, tv_kernel_row_settings
from blurkit.space.kernel_space import KernelSpace

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = dataclasses.replace(SMOKE_TV_KERNEL, size=7)


def test_rows_share_one_estimate_and_the_blob_check_returns_y(monkeypatch: pytest.MonkeyPatch) -> None:
    """The open and checked rows make one estimate per image; more blobs than allowed returns y exactly, and the
    stored output is not the caller's to edit."""
    calls = count_estimates(monkeypatch)
    torch.manual_seed(0)
    model = KernelSpace("smoke").eval()
    y = blur(scene(32), line(5))
    free, t_free = method_tv_kernel(PRESET_XSTEP, TINY, "linear", max_blobs=None)(y, model, 0, y)
    kept, t_kept = method_tv_kernel(PRESET_XSTEP, TINY, "linear", max_blobs=10**6)(y, model, 0, y)
    none, _ = method_tv_kernel(PRESET_XSTEP, TINY, "linear", max_blobs=0)(y, model, 0, y)
    assert len(calls) == 1 and torch.equal(free, kept) and t_kept == t_free > 0
    assert torch.equal(none, y) and not torch.equal(free, y)
    free[:] = 0
    assert torch.equal(method_tv_kernel(PRESET_XSTEP, TINY, "linear", None)(y, model, 0, y)[0], kept)
    assert tv_kernel_row_settings("reds-like", "smoke")[0].iters == SMOKE_TV_KERNEL.iters
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
    monkeypatch.setattr(tv_fallback, "TV_KERNEL_MAX_BLOBS", 5)
    assert method_key("tv_kernel", str(model), "smoke", 4) != before["tv_kernel"]
    assert method_key("tv_kernel_noguard", str(model), "smoke", 4) == before["tv_kernel_noguard"]
