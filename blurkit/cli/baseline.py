"""``blurkit baseline``: train and run the learned baselines SRN-Deblur and DeblurGAN-v2.

Registered by :mod:`blurkit.cli` as a sub-app; user mistakes raise :class:`~blurkit.errors.BlurkitError`, which
``blurkit.cli.main`` prints as one ``error:`` line.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer

from blurkit.cli.app import THREADS_OPT, BlurkitTyper

baseline_app = BlurkitTyper(help="Learned baselines: SRN-Deblur (CVPR 2018) and DeblurGAN-v2 (ICCV 2019), trained "
                             "here on the same paired data.", no_args_is_help=True)


@baseline_app.command("train")
def baseline_train_cmd(
    model: str = typer.Argument(..., help="srn or deblurganv2."),
    profile: str = typer.Option("smoke", "--profile", "-p", help="smoke (CI, seconds), cpu (about 10 min for "
                                "SRN-Deblur, 7 for DeblurGAN-v2, on one core) or paper (the paper's settings; needs "
                                "a GPU)."),
    data: str = typer.Option(..., "--data", help="A default set (reds-like, gopro-like, hide-like, uniform-8), a real "
                             "dataset (gopro, reds, hide) or a folder with sharp/ and blur/."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder (last.pt, model.pt, history.csv)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out exactly where it stopped."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Override the profile's step count."),
    net: Optional[str] = typer.Option(None, "--net", help="Override the profile's network preset, e.g. cpu-wide "
                                      "(an unknown name lists the choices)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: cuda when present)."),
    threads: Optional[int] = THREADS_OPT,
    bf16: Optional[bool] = typer.Option(None, "--bf16/--fp32", help="bf16 autocast, channels-last (default: the "
                                        "profile's). Fast on GPUs and on CPUs with AMX (`blurkit bench "
                                        "baseline-train`)."),
) -> None:
    """Train a baseline (SRN-Deblur: a loss at every scale; DeblurGAN-v2: a pixel loss and, unless its weight is 0,
    the RaLSGAN double-scale adversarial loss), with the profile's recipe."""
    import dataclasses

    from blurkit.baselines.baseline_config import get_baseline_config
    from blurkit.baselines.baseline_train import run_profile, train_baseline
    from blurkit.errors import BlurkitError

    cfg = get_baseline_config(model, profile)
    if bf16 is not None:
        cfg = dataclasses.replace(cfg, bf16=bf16)
    if net is not None:
        cfg = dataclasses.replace(cfg, net=net)
        # a run reads the default sets of its preset's profile (the name before "-"), not of --profile
        if run_profile(cfg) != profile and not Path(data).is_dir():
            raise BlurkitError(f"--net {net} reads the {run_profile(cfg)} profile's data sets: use it with --profile "
                               f"{run_profile(cfg)}, or give --data a folder")
    result = train_baseline(model, cfg, data, out, resume=resume, steps=steps, device=device, threads=threads)
    val = f"{result.val_psnr:.2f} dB" if result.val_psnr is not None else "n/a"
    typer.echo(f"{model}: step {result.step}, validation PSNR {val}, {result.wall_time_s:.1f} s -> {result.run_dir}")


@baseline_app.command("deblur")
def baseline_deblur_cmd(
    inputs: list[Path] = typer.Argument(..., help="Blurry images (any size; grayscale stays grayscale)."),
    model: Path = typer.Option(..., "--model", "-m", help="A run folder of `blurkit baseline train` or its "
                               "model.pt / last.pt."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (PNG images, deblur_log.csv)."),
    skip_existing: bool = typer.Option(False, "--skip-existing", help="Skip images already in --out (resume)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: cuda when present)."),
    threads: Optional[int] = THREADS_OPT,
    views: int = typer.Option(1, "--views", help="Average the estimates of this many flips and quarter turns of "
                              "each image (8: the geometric self-ensemble, 8x the time; 1: off, as in the papers)."),
) -> None:
    """Deblur images with a trained baseline in one forward pass each (or one per view); each image is written when
    done."""
    from blurkit.baselines.baseline_deblur import deblur_with_baseline

    table = deblur_with_baseline(model, inputs, out, device=device, skip_existing=skip_existing, threads=threads,
                                 views=views)
    done = int((table.status == "done").sum())
    typer.echo(f"deblurred {done} image(s), skipped {len(table) - done}, {table.wall_s.sum():.1f} s -> {out}")


@baseline_app.command("curves")
def baseline_curves_cmd(
    runs: list[Path] = typer.Argument(..., help="Finished run folders of `blurkit baseline train`."),
    results_dir: Path = typer.Option(..., "--results-dir", help="Where the CSVs and the figure go (e.g. results/cpu)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap interval."),
) -> None:
    """Learning curves (validation gain over blurry against step and wall time) and each run's gain on all its test
    pairs with a 95 % interval, against the cpu targets (SRN-Deblur +1.5 dB, DeblurGAN-v2 +1.0 dB)."""
    from blurkit.experiments.baseline_curves import save_baseline_curves

    table = save_baseline_curves(runs, results_dir, seed=seed)
    for r in table.itertuples():
        typer.echo(f"{r.model} ({r.run}): {r.psnr:.2f} dB vs blurry {r.blurry_psnr:.2f}, gain {r.diff_db:+.2f} dB "
                   f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}], n {r.n}, {r.steps} steps in {r.train_wall_s / 60:.1f} min; "
                   f"target {r.target_db:+.1f} dB {'reached' if r.reached else 'NOT reached'}"
                   + ("" if r.ceiling_db is None or math.isnan(r.ceiling_db)
                      else f"; the recorded blur, known, gives {r.ceiling_db:+.2f} dB"))
