"""``blurkit baseline``: train and run the learned baselines SRN-Deblur and DeblurGAN-v2.

Registered by :mod:`blurkit.cli` as a sub-app; user mistakes raise :class:`~blurkit.errors.BlurkitError`, which
``blurkit.cli.main`` prints as one ``error:`` line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from blurkit.cli.app import BlurkitTyper

baseline_app = BlurkitTyper(help="Learned baselines: SRN-Deblur (CVPR 2018) and DeblurGAN-v2 (ICCV 2019), trained "
                             "here on the same paired data.", no_args_is_help=True)


@baseline_app.command("train")
def baseline_train_cmd(
    model: str = typer.Argument(..., help="srn or deblurganv2."),
    profile: str = typer.Option("smoke", "--profile", "-p", help="smoke (CI, seconds), cpu (about 6 min on one "
                                "core) or paper (the paper's settings; needs a GPU)."),
    data: str = typer.Option(..., "--data", help="A default set (reds-like, gopro-like, hide-like, uniform-8), a real "
                             "dataset (gopro, reds, hide) or a folder with sharp/ and blur/."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder (last.pt, model.pt, history.csv)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out exactly where it stopped."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Override the profile's step count."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: cuda when present)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch."),
) -> None:
    """Train a baseline (SRN: multi-scale MSE; DeblurGAN-v2: pixel + RaLSGAN double-scale adversarial loss)."""
    from blurkit.baselines.baseline_train import train_baseline

    result = train_baseline(model, profile, data, out, resume=resume, steps=steps, device=device, threads=threads)
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
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch."),
) -> None:
    """Deblur images with a trained baseline in one forward pass each; each image is written when done."""
    from blurkit.baselines.baseline_train import deblur_with_baseline

    table = deblur_with_baseline(model, inputs, out, device=device, skip_existing=skip_existing, threads=threads)
    done = int((table.status == "done").sum())
    typer.echo(f"deblurred {done} image(s), skipped {len(table) - done}, {table.wall_s.sum():.1f} s -> {out}")
