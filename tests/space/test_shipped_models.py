"""The kernel spaces shipped in blurkit/models/: each .json beside a .pt describes that very file.

`scripts/train_shipped.sh` copies a finished run's model.pt in and writes the .json from it (name, parameter count,
config, provenance). A .pt replaced without re-running that step, or a .json edited by hand, fails here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from blurkit.deblur.nonblind_calibration import SUFFIX as NONBLIND_SUFFIX
from blurkit.space.kernel_space import MODELS_DIR, SHIPPED, KernelSpace, checkpoint_path
from blurkit.space.netconfig import KernelSpaceConfig

SHIPPED_PT = sorted((p for p in MODELS_DIR.glob("*.pt") if not p.name.endswith(".estimator.pt")), key=lambda p: p.stem)
SHIPPED_ESTIMATORS = sorted(MODELS_DIR.glob("*.estimator.pt"))
# models trained from another shipped model (train --init): the file their provenance names as the start, by the
# chain in scripts/train_shipped.sh (reds-like-basis: cpu-fine-dynamic from cpu-dynamic, which is shipped as
# reds-like-dynamic; the kernel-supervised uniform-8 and reds-like-kernel from the shipped uniform-8-basis,
# reds-like-basis; the least-squares reds-like's tone curve from reds-like-kernel; gopro-like-kernel from gopro-like
# and gopro-like-lsq from it)
STARTED_FROM_SHIPPED = {"reds-like-basis": "reds-like-dynamic", "uniform-8": "uniform-8-basis",
                        "reds-like-kernel": "reds-like-basis", "reds-like": "reds-like-kernel",
                        "gopro-like-kernel": "gopro-like", "gopro-like-lsq": "gopro-like-kernel"}
# shipped models renamed after their estimators were trained (2026-12-06: the least-squares reds-like-lsq became the
# default reds-like, the basis-head reds-like became reds-like-basis): the estimator's record names the file as it was
FORMER_NAME = {"reds-like.pt": "reds-like-lsq.pt", "reds-like-basis.pt": "reds-like.pt"}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_model_has_its_json_and_the_default_is_shipped() -> None:
    assert SHIPPED_PT, "no shipped kernel space"
    described = sorted(p.stem for p in MODELS_DIR.glob("*.json") if not p.name.endswith(NONBLIND_SUFFIX))
    assert described == [p.stem for p in SHIPPED_PT]
    for path in MODELS_DIR.glob(f"*{NONBLIND_SUFFIX}"):  # a non-blind x-step's calibration belongs to a model
        assert MODELS_DIR / path.name.replace(NONBLIND_SUFFIX, ".pt") in SHIPPED_PT
    for name, stem in SHIPPED.items():
        assert checkpoint_path(name) == MODELS_DIR / f"{stem}.pt" and checkpoint_path(name).is_file()


@pytest.mark.parametrize("pt", SHIPPED_PT, ids=lambda p: p.stem)
def test_json_describes_its_checkpoint(pt: Path) -> None:
    info = json.loads(pt.with_suffix(".json").read_text())
    ks = KernelSpace.load(pt)  # strict: every weight of the config is in the file and nothing else
    assert info["name"] == pt.stem
    # as stored in the .pt (a file from before a config field existed lacks it there and here alike), and read back
    # as the config of the loaded networks
    raw = torch.load(pt, map_location="cpu", weights_only=True)
    assert info["config"] == raw["config"] and KernelSpaceConfig.from_dict(info["config"]) == ks.config
    assert info["parameters"] == ks.num_parameters()
    # the provenance is the checkpoint's own record, created time, commit and wall time included: it pins the json
    # to the training run that made this .pt
    assert info["provenance"] == ks.provenance
    prov = ks.provenance
    assert KernelSpaceConfig.from_dict(prov["config"]["net_config"]) == ks.config
    assert pt.stem.startswith(prov["config"]["data"]), "a shipped model is named after the domain it learned"
    assert f"--data {prov['config']['data']}" in prov["command"]
    assert prov["steps"] > 0 and isinstance(prov["final_val_psnr"], float)


@pytest.mark.parametrize("stem", sorted(STARTED_FROM_SHIPPED))
def test_init_hash_names_the_shipped_starting_model(stem: str) -> None:
    init = KernelSpace.load(MODELS_DIR / f"{stem}.pt").provenance["config"]["init"]
    start = MODELS_DIR / f"{STARTED_FROM_SHIPPED[stem]}.pt"
    assert init["sha256"] == _sha256(start)
    assert init["steps"] == KernelSpace.load(start).provenance["steps"]


@pytest.mark.parametrize("path", SHIPPED_ESTIMATORS, ids=lambda p: p.name)
def test_shipped_estimators_belong_to_a_shipped_kernel_space(path: Path) -> None:
    from blurkit.space.code_estimator import CodeEstimator

    est = CodeEstimator.load(path)
    owner = MODELS_DIR / path.name.replace(".estimator.pt", ".pt")
    assert owner in SHIPPED_PT
    assert est.config == KernelSpace.load(owner).config
    rec = est.provenance
    assert Path(rec["kernel_space_file"]).name == FORMER_NAME.get(owner.name, owner.name)
    assert rec["config"]["steps"] >= 1000
    # trained and kept by its error on whole held-out training photos, never the test split; both errors fall well
    # below where E starts, G(y, y) (measured: held-out photos x0.55 / x0.35, test photos x0.66 / x0.27 for
    # reds-like / uniform-8; the estimator shipped before this check had risen back to x0.78 on reds-like's test)
    assert rec["hold_out_photos"] >= 1 and rec["hold_out_pairs"] >= 8
    assert rec["hold_out_error"] < 0.8 * rec["start_hold_out_error"]
    assert rec["final_val_error"] < 0.8 * rec["start_val_error"]
