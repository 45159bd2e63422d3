"""``blurkit deblur`` under torchrun: each rank deblurs its shard of the inputs, rank 0 writes the one log.

Each rank solves on its shard's device (``cuda:LOCAL_RANK`` on CUDA, else the CPU).

Rank ``r`` of ``w`` takes inputs ``r, r + w, ...`` in the order given (every rank sees the same command line) and
gives input ``i`` the seed ``seed + i``, as one process would. Each image is solved by
:func:`blurkit.deblur.deblur_files.deblur_files` in a scratch folder ``OUT/.shards/<i>/`` and moved onto its
final name in ``OUT`` (an atomic rename), so a killed job leaves only finished images; after a barrier rank 0
joins the ranks' rows into ``OUT/deblur_log.csv`` with its provenance.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Sequence

import pandas as pd

from blurkit.deblur.deblur_config import DeblurConfig, deblur_config
from blurkit.deblur.deblur_files import deblur_files, output_names
from blurkit.errors import BlurkitError
from blurkit.experiments.sharding import Shard
from blurkit.progress import progress_bar
from blurkit.provenance import provenance, save_result
from blurkit.space.kernel_space import KernelSpace

LOG_COLUMNS = ["input", "output", "status", "wall_s", "final_loss"]


def deblur_sharded(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike, shard: Shard,
                   model: str | os.PathLike = "default", config: str | DeblurConfig = "fast", seed: int = 0,
                   save_kernel: bool = False, skip_existing: bool = False,
                   progress: bool = True) -> pd.DataFrame | None:
    """Deblur this rank's shard of ``inputs`` into ``out_dir``; rank 0 returns the whole log, other ranks None.

    One process (``shard.world == 1``) is :func:`deblur_files` itself. The solver runs on ``shard.device``.
    """
    kwargs = {"config": config, "save_kernel": save_kernel, "progress": progress, "device": shard.device}
    if shard.world == 1:
        return deblur_files(inputs, out_dir, model=model, seed=seed, skip_existing=skip_existing, **kwargs)
    paths = [Path(p) for p in inputs]
    if not paths:
        raise BlurkitError("no input images given")
    out, names = Path(out_dir), output_names(paths)
    scratch = out / ".shards"
    ks = KernelSpace.load(model, map_location=shard.device)
    start = time.perf_counter()
    rows = []
    mine = shard.take(list(enumerate(paths)))
    for i, path in progress_bar(mine, desc=f"deblur rank {shard.rank}", unit="img", disable=not progress):
        target = out / names[i]
        if skip_existing and target.exists():
            rows.append({"input": str(path), "output": str(target), "status": "skipped (exists)", "wall_s": 0.0,
                         "final_loss": float("nan")})
            continue
        tmp = scratch / str(i)
        row = deblur_files([path], tmp, model=ks, seed=seed + i, **{**kwargs, "progress": False}).iloc[0].to_dict()
        produced = Path(row["output"])
        for src in tmp.iterdir():  # the image, and with save_kernel its code and PSF drawing
            if src.name.startswith("deblur_log"):
                continue
            suffix = src.name[len(produced.name):] if src.name.startswith(produced.name) else None
            if suffix is None:  # <stem>.psf.png
                suffix = src.name[len(produced.stem):]
                dest = out / f"{Path(names[i]).stem}{suffix}"
            else:
                dest = out / f"{names[i]}{suffix}"
            os.replace(src, dest)
        shutil.rmtree(tmp, ignore_errors=True)
        rows.append({**row, "output": str(target)})
    part = pd.DataFrame(rows, columns=LOG_COLUMNS)
    scratch.mkdir(parents=True, exist_ok=True)
    part.assign(index=[i for i, _ in mine]).to_csv(scratch / f"rank-{shard.rank}.csv", index=False)
    shard.barrier()
    if not shard.is_main:
        return None
    parts = [pd.read_csv(scratch / f"rank-{r}.csv") for r in range(shard.world)]
    table = pd.concat(parts).sort_values("index").drop(columns="index").reset_index(drop=True)
    record = provenance(config=deblur_config(config).to_dict(), seed=seed, wall_time_s=time.perf_counter() - start,
                        model=str(model), model_provenance=ks.provenance, world_size=shard.world)
    save_result(table, "deblur_log", out, record)
    shutil.rmtree(scratch, ignore_errors=True)
    return table


__all__ = ["deblur_sharded"]
