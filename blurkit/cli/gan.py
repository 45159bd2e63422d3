"""``blurkit gan``: train a StyleGAN2 generator on sharp images (the image prior of Sec. 3.3) and sample from it.

Registered by :mod:`blurkit.cli` as a sub-app; user mistakes raise :class:`~blurkit.errors.BlurkitError`, which
``blurkit.cli.main`` prints as one ``error:`` line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from blurkit.cli.app import THREADS_OPT, BlurkitTyper, set_threads

gan_app = BlurkitTyper(help="StyleGAN2 image prior: train a generator on sharp images (e.g. the scene-text crops) and "
                       "sample from it.", no_args_is_help=True)


@gan_app.command("train")
def gan_train_cmd(
    profile: str = typer.Option("smoke", "--profile", "-p", help="smoke (32 px, seconds), cpu (64 px, about 70 min "
                                "on 2 cores) or paper (rosinality's 256 px settings; needs a GPU)."),
    data: str = typer.Option(..., "--data", help="A folder of square images of the profile's size (or a multiple; "
                             "its sharp/ subfolder when it has one), or 'text': the scene-text crops' train split "
                             "of the same profile (built when missing)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder (last.pt, model.pt, history.csv, samples/)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out exactly where it stopped."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Override the profile's step count."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: cuda when present)."),
    threads: Optional[int] = THREADS_OPT,
) -> None:
    """Train a StyleGAN2 generator (logistic loss, lazy R1, style mixing, g_ema) on a folder of sharp images."""
    from blurkit.generator.gan_train import train_gan

    folder: str | Path = data
    if data == "text":
        from blurkit.data.text_crops import build_text_crops

        folder = build_text_crops(profile)["train"]
    result = train_gan(profile, folder, out, resume=resume, steps=steps, device=device, threads=threads)
    last = result.history.iloc[-1] if len(result.history) else None
    losses = f", d_loss {last.d_loss:.3f}, g_loss {last.g_loss:.3f}" if last is not None else ""
    typer.echo(f"gan {profile}: step {result.step}{losses}, {result.wall_time_s:.1f} s -> {result.run_dir}")


@gan_app.command("sample")
def gan_sample_cmd(
    model: Path = typer.Option(..., "--model", "-m", help="A run folder of `blurkit gan train`, its model.pt or "
                               "last.pt, or any generator checkpoint blurkit reads."),
    n: int = typer.Option(16, "--n", help="Number of images in the grid."),
    seed: int = typer.Option(0, "--seed", help="Seed of the latents."),
    out: Path = typer.Option(..., "--out", "-o", help="The grid PNG (a .meta.json is written beside it)."),
    truncation: float = typer.Option(1.0, "--truncation", help="Truncation psi (< 1: closer to the mean image)."),
) -> None:
    """Write a grid of generated images (fixed noise maps: the same seed gives the same grid)."""
    from blurkit.data.images import write_image
    from blurkit.errors import BlurkitError
    from blurkit.generator.gan_train import image_grid, load_trained_generator, sample_images
    from blurkit.provenance import provenance, write_json

    if n < 1:
        raise BlurkitError(f"--n must be >= 1, got {n}")
    gen = load_trained_generator(model)
    write_image(out, image_grid(sample_images(gen, n, seed, truncation)))
    write_json(out.with_suffix(".meta.json"), provenance(config=gen.config, seed=seed, model=str(model), n=n,
                                                         truncation=truncation, model_provenance=gen.provenance))
    typer.echo(f"{n} samples of {model} (seed {seed}) -> {out}")


@gan_app.command("report")
def gan_report_cmd(
    model: Path = typer.Option(..., "--model", "-m", help="A run folder of `blurkit gan train` or a generator "
                               "checkpoint."),
    profile: str = typer.Option("cpu", "--profile", "-p", help="The text crops' profile (train crops for the "
                                "nearest neighbours, test crops as the real reference)."),
    results_dir: Path = typer.Option(..., "--results-dir", help="Where the CSVs and figures go (e.g. results/cpu)."),
    n: int = typer.Option(64, "--n", help="Samples (and real test crops) to score."),
    seed: int = typer.Option(0, "--seed", help="Seed of the latents and of the bootstrap."),
) -> None:
    """Readability (OCR against the nearest vocabulary word) and nearest-neighbour PSNR to the training crops, for
    samples and for held-out real crops, with 95 % intervals (there is no Inception network here for FID)."""
    from blurkit.experiments.gan_report import gan_text_report

    summary = gan_text_report(model, profile, results_dir, n=n, seed=seed)
    for r in summary.itertuples():
        typer.echo(f"{r.kind:9s} {r.measure:11s} {r.mean:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}] n {r.n}")


@gan_app.command("ceiling")
def gan_ceiling_cmd(
    generator: str = typer.Option("text-cpu", "--generator", "-g", help="A manifest entry (text-cpu, ffhq-256) or a "
                                  "generator checkpoint."),
    data: Path = typer.Option(..., "--data", help="A paired folder (sharp/, blur/) of the generator's size, e.g. "
                              "notebook 08's test-transferred set in its work folder."),
    results_dir: Path = typer.Option(..., "--results-dir", help="Where the CSVs go (e.g. results/cpu)."),
    n: int = typer.Option(16, "--n", help="Pairs to project (the first n; 0: all)."),
    config: str = typer.Option("fast", "--config", help="The generator-prior profile whose search is run (smoke, "
                               "fast, paper), with the identity forward model."),
    target: float = typer.Option(3.0, "--target", help="The gain over blurry (dB) the ceiling is tested against."),
    seed: int = typer.Option(0, "--seed", help="Seed of the latents (image i: seed + i) and of the bootstrap."),
    name: str = typer.Option("manifold_ceiling", "--name", help="File stem of the CSVs."),
    threads: Optional[int] = THREADS_OPT,
) -> None:
    """How close the generator gets to the sharp images: its fit to each sharp crop (no blur) against the blurry
    input's PSNR, with 95 % intervals (the ceiling of deblurring on the generator's manifold)."""
    from blurkit.experiments.manifold_ceiling import manifold_ceiling

    set_threads(threads)
    s = manifold_ceiling(generator, data, results_dir, n=n or None, config=config, seed=seed, target_gain_db=target,
                         name=name).iloc[0]
    typer.echo(f"projection {s.projection_psnr:.2f} dB, blurry {s.blurry_psnr:.2f} dB (n {s.over_blurry_n}): "
               f"projection - blurry {s.over_blurry_diff_db:+.2f} [{s.over_blurry_ci_low:+.2f}, "
               f"{s.over_blurry_ci_high:+.2f}] {s.over_blurry_verdict}; reaches blurry + {target:g} dB: "
               f"{s.over_target_verdict}")
