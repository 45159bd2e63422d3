"""``blurkit deblur`` picks its device as ``blurkit evaluate`` does (:func:`blurkit.experiments.sharding.join`).

No GPU is needed: CUDA's availability, the device switch and the process group are stubbed; the solver is replaced
by a recorder of the shard it was given.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.distributed as dist

from blurkit.cli import main
from blurkit.experiments import sharded_deblur


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict:
    seen: dict = {"set_device": [], "backend": []}

    def fake_deblur_sharded(inputs, out, shard, **kwargs):  # noqa: ANN001, ANN003, ANN202
        seen["shard"] = shard
        return pd.DataFrame({"status": ["done"], "wall_s": [0.0]}) if shard.is_main else None

    monkeypatch.setattr(sharded_deblur, "deblur_sharded", fake_deblur_sharded)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: seen["set_device"].append(i))
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend: seen["backend"].append(backend))
    return seen


@pytest.mark.parametrize("cuda", [True, False], ids=["cuda", "cpu"])
@pytest.mark.parametrize("rank,world,local", [(0, 1, 0), (3, 4, 1)], ids=["one process", "torchrun rank 3"])
def test_deblur_device_is_cuda_local_rank_when_cuda_is_available(
        cuda: bool, rank: int, world: int, local: int, calls: dict, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    for name, value in {"RANK": rank, "WORLD_SIZE": world, "LOCAL_RANK": local}.items():
        monkeypatch.setenv(name, str(value))
    assert main(["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / "out")]) == 0
    shard = calls["shard"]
    assert (shard.rank, shard.world, shard.local_rank) == (rank, world, local)
    assert shard.device == (f"cuda:{local}" if cuda else "cpu")
    assert calls["set_device"] == ([local] if cuda else [])
    assert calls["backend"] == ([] if world == 1 else ["nccl" if cuda else "gloo"])


def test_deblur_files_sends_the_model_and_images_to_the_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The model and each image go to ``device`` (here torch's data-less ``meta`` device); the solver is stubbed."""
    import numpy as np

    from blurkit.data.images import write_image
    from blurkit.deblur import deblur_files as module
    from blurkit.deblur.solver import DeblurResult

    seen: dict = {}

    class Space(torch.nn.Module):
        provenance: dict = {}

        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

    def fake_deblur(model, y, cfg, seed=0, progress=True):  # noqa: ANN001, ANN202
        seen.update(model=model.w.device.type, y=y.device.type)
        return DeblurResult(x=torch.full((1, 3, 4, 5), 0.25), k=torch.zeros(1, 2, 1, 1),
                            trace=pd.DataFrame({"loss": [0.5]}), wall_s=[0.0])

    monkeypatch.setattr(module, "KernelSpace", Space)  # an in-memory model: deblur_files uses it as given
    monkeypatch.setattr(module, "deblur", fake_deblur)
    write_image(tmp_path / "a.png", np.full((4, 5, 3), 0.25, dtype=np.float32))
    table = module.deblur_files([tmp_path / "a.png"], tmp_path / "out", model=Space(), device="meta", progress=False)
    assert seen == {"model": "meta", "y": "meta"} and table.status.tolist() == ["done"]
    assert (tmp_path / "out" / "a.png").is_file()
