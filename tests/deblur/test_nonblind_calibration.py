"""The non-blind x-step's calibration (prior weight and plug-and-play share) and where it is read back."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as Fnn
from skimage import data
from tolerances import ulp_tol

from blurkit.deblur.blended_xstep import XStepBlend
from blurkit.deblur.linear_xstep import PRESET_XSTEP, LinearXStep, linear_xstep
from blurkit.deblur.nonblind_calibration import calibrate_nonblind, nonblind_path, nonblind_xstep_for
from blurkit.experiments.ladder import row_blend
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import psnr

pytestmark = pytest.mark.usefixtures("one_thread")
BASE = LinearXStep(outer=1, cg_iters=20, gamma=0.1)


class Shrink(torch.nn.Module):
    """A stand-in denoiser: pulls every pixel towards the image mean by ``sigma``."""

    def forward(self, z: torch.Tensor, sigma: float) -> torch.Tensor:
        return z + sigma * (z.mean(dim=(-2, -1), keepdim=True) - z)


def _lsq_model_and_pair() -> tuple[KernelSpace, torch.Tensor, torch.Tensor]:
    """A fresh ``smoke-lsq`` space (its G hands F the pair's least-squares kernel) and a 64 px crop blurred by a
    7 px horizontal box."""
    torch.manual_seed(0)
    model = KernelSpace("smoke-lsq").eval()
    for p in model.parameters():
        p.requires_grad_(False)
    s = model.config.basis_size
    box = torch.zeros(s, s)
    box[s // 2, s // 2 - 3:s // 2 + 4] = 1 / 7
    x = torch.from_numpy(data.astronaut()[80:144, 160:224].astype("float32") / 255).permute(2, 0, 1)[None]
    xp = Fnn.pad(x, (s // 2,) * 4, mode="reflect")
    y = Fnn.conv2d(xp.reshape(3, 1, *xp.shape[-2:]), box[None, None]).reshape(1, 3, 64, 64)
    return model, x, y


def test_the_table_covers_every_setting_and_the_choice_is_its_best() -> None:
    model, x, y = _lsq_model_and_pair()
    choice, table = calibrate_nonblind(model, [(x, y)], BASE, gammas=(0.01, 1.0), weights=(0.0, 0.5, 1.0),
                                       denoiser=Shrink())
    assert len(table) == 6 and set(table["n"]) == {1}
    best = table.loc[table["gain_db"].idxmax()]
    assert choice == {"gamma": best["gamma"], "weight": best["weight"]}
    with torch.no_grad():  # a share of 0 is the plain x-step at that gamma, as linear_xstep computes it
        plain = linear_xstep(model, y, model.encode(x, y), config=dataclasses.replace(BASE, gamma=0.01))
    row = table[(table["gamma"] == 0.01) & (table["weight"] == 0.0)].iloc[0]
    # the same solve on the same thread; only the gain's subtraction differs (float64 there, float32 here): a few
    # float32 ulps at the PSNR's scale
    assert row["gain_db"] == pytest.approx(float(psnr(plain, x) - psnr(y, x)), abs=ulp_tol(float(psnr(y, x)), ulps=4))
    assert row["gain_db"] > 3  # the exact box through the weak prior deblurs: the table can tell settings apart
    with pytest.raises(ValueError, match="at least one"):
        calibrate_nonblind(model, [], BASE, denoiser=Shrink())


def test_the_choice_is_read_back_beside_the_model(tmp_path: Path) -> None:
    model, _, _ = _lsq_model_and_pair()
    path = tmp_path / "m.pt"
    model.save(path)
    assert nonblind_xstep_for(path, PRESET_XSTEP) == (PRESET_XSTEP, None)  # no file, no estimator: unchanged
    saved = {"gamma": 0.03, "blend": {"weight": 0.5, "noise": 0.01, "denoiser": "cpu"}}
    nonblind_path(path).write_text(json.dumps(saved))
    xstep, blend = nonblind_xstep_for(path, PRESET_XSTEP)
    assert xstep == dataclasses.replace(PRESET_XSTEP, gamma=0.03) and blend == XStepBlend(0.5, 0.01, "cpu")
    assert row_blend("true_code", str(path)) == blend and row_blend("fast", str(path)) is None
    nonblind_path(path).write_text(json.dumps({**saved, "blend": {**saved["blend"], "weight": 0.0}}))
    assert nonblind_xstep_for(path, PRESET_XSTEP)[1] is None  # a share of 0 is no blend
