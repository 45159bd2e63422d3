"""The x-step's prior weight, calibrated per kernel space and read back by the fast preset."""

from __future__ import annotations

import pytest
import torch
from toymodels import switch_blur_kernel_space

from blurkit.deblur.deblur_config import DEBLUR_PRESETS
from blurkit.deblur.linear_xstep import LinearXStep
from blurkit.deblur.solver import deblur
from blurkit.deblur.xstep_calibration import calibrate_gamma, calibrated_xstep

pytestmark = pytest.mark.usefixtures("one_thread")


class ConstantCode(torch.nn.Module):
    """An estimator that gives every image the same code, with a record like a trained one's."""

    def __init__(self, code: torch.Tensor, provenance: dict | None = None) -> None:
        super().__init__()
        self.code = code
        self.provenance = provenance

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.code.expand(y.shape[0], -1, -1, -1)


def _blocks(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.interpolate(torch.rand(1, 3, 8, 8, generator=g), scale_factor=8, mode="nearest")


@pytest.fixture(scope="module")
def switch():  # type: ignore[no-untyped-def]
    return switch_blur_kernel_space()


def test_calibration_prefers_a_weight_that_deblurs(switch) -> None:  # type: ignore[no-untyped-def]
    ks, _, box = switch
    pairs = []
    for seed in range(2):
        x = _blocks(seed)
        with torch.no_grad():
            pairs.append((x, ks.apply(x, box)))
    base = LinearXStep(outer=1, gamma=0.1, robust=True)
    gamma, table = calibrate_gamma(ks, ConstantCode(box), pairs, base, gammas=(0.01, 100.0))
    assert list(table["gamma"]) == [0.01, 100.0] and list(table["n"]) == [2, 2]
    # 0.01 deblurs the blocks (measured +27.3 dB); a weight of 100 flattens them (measured -10.7 dB)
    assert gamma == 0.01 and table["gain_db"].iloc[0] > table["gain_db"].iloc[1] + 3.0, table
    with pytest.raises(ValueError, match="at least one"):
        calibrate_gamma(ks, ConstantCode(box), [], base)


def test_fast_reads_the_calibrated_weight(switch) -> None:  # type: ignore[no-untyped-def]
    ks, _, box = switch
    base = LinearXStep(outer=1, gamma=0.1, robust=True)
    assert calibrated_xstep(base, None) == base and calibrated_xstep(base, ConstantCode(box)) == base
    assert calibrated_xstep(base, ConstantCode(box, {"xstep_gamma": 0.5})).gamma == 0.5
    x = _blocks(0)
    with torch.no_grad():
        y = ks.apply(x, box)
    heavy = ConstantCode(box, {"xstep_gamma": 100.0})
    calibrated = deblur(ks, y, DEBLUR_PRESETS["fast"].replace(fallback="none"), reference=x, progress=False,
                        estimator=heavy)  # the x-step's weight alone, not the TV fallback where the guard rejects
    fixed = deblur(ks, y, DEBLUR_PRESETS["fast"].replace(calibrated_gamma=False, guard=False), reference=x,
                   progress=False, estimator=heavy)
    plain = deblur(ks, y, DEBLUR_PRESETS["fast"].replace(guard=False), reference=x, progress=False,
                   estimator=ConstantCode(box))
    assert torch.equal(fixed.x, plain.x)  # calibrated_gamma=False: the preset's own weight
    assert not torch.allclose(calibrated.x, fixed.x)


def test_held_out_pairs_come_from_held_out_photos(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from blurkit.deblur.xstep_calibration import held_out_pairs
    from imagegen import synthetic_pairs

    # pair i from photo i % 3: the smoke estimator holds out the last photo
    folder = synthetic_pairs(tmp_path, "gopro-like", 6, 32)
    spread = held_out_pairs(folder, "smoke", "spread", n=24)
    assert len(spread) == 2

    def energy(x: torch.Tensor) -> float:
        a = x[0].permute(1, 2, 0).numpy()
        return float(np.mean(np.diff(a, axis=0) ** 2) + np.mean(np.diff(a, axis=1) ** 2))

    (top,) = held_out_pairs(folder, "smoke", "textured", n=1)
    assert energy(top[0]) == max(energy(x) for x, _ in spread)
    with pytest.raises(ValueError, match="textured"):
        held_out_pairs(folder, "smoke", "flat")


def test_the_sharp_calibration_deblurs_with_g_of_the_pair(switch, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``code="sharp"`` takes the code G(x, y), not E(y): with E giving the no-blur code, only it can deblur."""
    ks, no_blur, box = switch
    x = _blocks(0)
    with torch.no_grad():
        pairs = [(x, ks.apply(x, box))]
    monkeypatch.setattr(ks, "encode", lambda sharp, blurry: box.expand(sharp.shape[0], -1, -1, -1))
    base = LinearXStep(outer=1, gamma=0.1, robust=True)
    _, blind = calibrate_gamma(ks, ConstantCode(no_blur), pairs, base, gammas=(0.01,))
    _, sharp = calibrate_gamma(ks, ConstantCode(no_blur), pairs, base, gammas=(0.01,), code="sharp")
    # measured: the box code gains +27 dB on the blocks; the no-blur code leaves them as they are
    assert sharp["gain_db"].iloc[0] > blind["gain_db"].iloc[0] + 10.0, (sharp, blind)
    with pytest.raises(ValueError, match="code"):
        calibrate_gamma(ks, ConstantCode(box), pairs, base, code="nope")


def test_the_non_blind_weight_falls_back_to_the_blind_one(switch) -> None:  # type: ignore[no-untyped-def]
    _, _, box = switch
    base = LinearXStep(outer=1, gamma=0.1, robust=True)
    blind_only = ConstantCode(box, {"xstep_gamma": 0.5})
    both = ConstantCode(box, {"xstep_gamma": 0.5, "xstep_gamma_sharp": 0.03})
    assert calibrated_xstep(base, blind_only, "sharp").gamma == 0.5
    assert calibrated_xstep(base, both, "sharp").gamma == 0.03 and calibrated_xstep(base, both).gamma == 0.5
    assert calibrated_xstep(base, None, "sharp") == base
    with pytest.raises(ValueError, match="code"):
        calibrated_xstep(base, both, "nope")
