"""``blurkit deblur``: blind deblurring of image files in the kernel space."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from blurkit.cli.app import app


@app.command("deblur")
def deblur_cmd(
    inputs: list[Path] = typer.Argument(..., help="Blurry images (any size; grayscale stays grayscale)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (images, deblur_log.csv)."),
    model: str = typer.Option("default", "--model", "-m", help="'default' (shipped reds-like), a shipped name, or a "
                              "model.pt path."),
    profile: str = typer.Option("fast", "--profile", "-p", help="smoke (seconds, CI), fast (default: a learned "
                                "code start, the linear x-step and a guard; needs the model's code estimator), "
                                "fast-adam (gradient steps from G(y, y)) or paper (Algorithm 1, official steps)."),
    save_kernel: bool = typer.Option(False, "--save-kernel", help="Also save each code k as <name>.kernel.pt and its "
                                     "PSF field as <stem>.psf.png."),
    skip_existing: bool = typer.Option(False, "--skip-existing", help="Skip images already in --out (resume)."),
    seed: int = typer.Option(0, "--seed", help="Seed of image i is seed + i."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch."),
) -> None:
    """Blind deblurring in the kernel space (Eq. 6); each image is written as soon as it is done.

    Runs on CUDA when present (under torchrun, cuda:LOCAL_RANK with NCCL), else on the CPU (gloo). Under torchrun
    every rank deblurs its share of the inputs; rank 0 writes deblur_log.csv.
    """
    import torch

    from blurkit.experiments.sharded_deblur import deblur_sharded
    from blurkit.experiments.sharding import join, leave

    if threads:
        torch.set_num_threads(threads)
    shard = join()  # this rank's device and, under torchrun, its share of the inputs (input i on rank i % world)
    try:
        table = deblur_sharded(inputs, out, shard, model=model, config=profile, seed=seed, save_kernel=save_kernel,
                               skip_existing=skip_existing)
    finally:
        leave()
    if table is None:  # not rank 0: rank 0 reports
        return
    done = int((table.status == "done").sum())
    typer.echo(f"deblurred {done} image(s), skipped {len(table) - done}, {table.wall_s.sum():.1f} s -> {out}")
