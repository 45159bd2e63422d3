"""``blurkit deblur``: blind deblurring of image files in the kernel space."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from blurkit.cli.app import THREADS_OPT, app, set_threads
from blurkit.errors import BlurkitError


@app.command("deblur")
def deblur_cmd(
    inputs: list[Path] = typer.Argument(..., help="Blurry images (any size; grayscale stays grayscale)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (images, deblur_log.csv)."),
    model: str = typer.Option("default", "--model", "-m", help="'default' (shipped reds-like), a shipped name, or a "
                              "model.pt path."),
    profile: str = typer.Option("fast", "--profile", "-p", help="smoke (seconds, CI), fast (default: a learned "
                                "code start, the linear x-step and a guard; needs the model's code estimator), "
                                "fast-adam (gradient steps from G(y, y)), paper (Algorithm 1, official steps) or "
                                "official (the official code's joint variant; k warmed up towards G's code of a "
                                "training pair of the model's domain at cpu)."),
    save_kernel: bool = typer.Option(False, "--save-kernel", help="Also save each code k as <name>.kernel.pt and its "
                                     "PSF field as <stem>.psf.png."),
    skip_existing: bool = typer.Option(False, "--skip-existing", help="Skip images already in --out (resume)."),
    seed: int = typer.Option(0, "--seed", help="Seed of image i is seed + i."),
    threads: Optional[int] = THREADS_OPT,
    prior: str = typer.Option("generic", "--prior", help="Image prior: generic (Sec. 3.2: the --profile preset's; "
                              "the default) or generator (Sec. 3.3: x = StyleGAN2(w), PULSE-style; needs "
                              "--generator; --profile then names a generator-prior profile: smoke, fast or paper; "
                              "inputs must be the generator's size)."),
    generator: Optional[str] = typer.Option(None, "--generator", help="With --prior generator: a generator "
                                            "checkpoint path or an entry of data_manifests/stylegan2_checkpoints.json "
                                            "(ffhq-256, text-cpu)."),
) -> None:
    """Blind deblurring in the kernel space (Eq. 6); each image is written as soon as it is done.

    Runs on CUDA when present (under torchrun, cuda:LOCAL_RANK with NCCL), else on the CPU (gloo). Under torchrun
    every rank deblurs its share of the inputs; rank 0 writes deblur_log.csv. With --prior generator, x is searched
    on a StyleGAN2 manifold (Sec. 3.3; blurkit.deblur.generator_prior), in one process.
    """
    if prior not in ("generic", "generator"):
        raise BlurkitError(f"unknown --prior '{prior}'; choose generic or generator")
    if prior == "generator":
        _deblur_generator_cmd(inputs, out, model, generator, profile, save_kernel, skip_existing, seed, threads)
        return
    if generator is not None:
        raise BlurkitError("--generator needs --prior generator")

    from blurkit.experiments.sharded_deblur import deblur_sharded
    from blurkit.experiments.sharding import join, leave

    set_threads(threads)
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


def _deblur_generator_cmd(inputs: list[Path], out: Path, model: str, generator: Optional[str], profile: str,
                          save_kernel: bool, skip_existing: bool, seed: int, threads: Optional[int]) -> None:
    """``--prior generator``: :func:`blurkit.deblur.generator_prior.deblur_generator_files`, in one process (CUDA
    when present, else the CPU)."""
    import torch

    from blurkit.deblur.generator_files import deblur_generator_files
    from blurkit.experiments.sharding import env_world

    if generator is None:
        raise BlurkitError("--prior generator needs --generator NAME|PATH (a checkpoint, or an entry of "
                           "data_manifests/stylegan2_checkpoints.json)")
    if env_world()[1] > 1:
        raise BlurkitError("--prior generator runs in one process; start it without torchrun")
    set_threads(threads)
    table = deblur_generator_files(inputs, out, model=model, generator=generator, config=profile, seed=seed,
                                   save_kernel=save_kernel, skip_existing=skip_existing,
                                   device="cuda" if torch.cuda.is_available() else "cpu")
    done = int((table.status == "done").sum())
    typer.echo(f"deblurred {done} image(s) with the generator prior, skipped {len(table) - done}, "
               f"{table.wall_s.sum():.1f} s -> {out}")
