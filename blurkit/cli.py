"""The ``blurkit`` command line (typer). Every command calls the same library functions as the notebooks.

User mistakes (missing file, unreadable image, unknown name, bad size) print one ``error:`` line and exit 2;
no traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from blurkit.cli_baseline import baseline_app
from blurkit.cli_blur_data import register as register_blur_data
from blurkit.errors import BlurkitError

app = typer.Typer(help="Reproduce 'Explore Image Deblurring via Encoded Blur Kernel Space' (CVPR 2021).",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
bench_app = typer.Typer(help="Benchmarks: ratios against a baseline measured in the same run.", no_args_is_help=True)
data_app = typer.Typer(help="Datasets: list, prepare the embedded default data, synthesise blur, blur-swap and "
                       "augment with a kernel space.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(bench_app, name="bench")
register_blur_data(data_app)  # data swap / augment / motion-blur (Sec. 3.4, 4.1.2, 4.4)
app.add_typer(baseline_app, name="baseline")  # SRN-Deblur and DeblurGANv2

PROFILE_OPT = typer.Option("smoke", "--profile", "-p", help="Profile: smoke (CI), cpu (laptop) or paper (GPU).")


@data_app.command("list")
def data_list() -> None:
    """Show every dataset (real and embedded default) as present / missing / corrupt."""
    import pandas as pd

    from blurkit.data_status import status_table

    table: pd.DataFrame = status_table()
    with pd.option_context("display.max_rows", None, "display.max_colwidth", 60, "display.width", 200):
        typer.echo(table.to_string(index=False))


@data_app.command("prepare")
def data_prepare(profile: str = PROFILE_OPT,
                 force: bool = typer.Option(False, help="Re-verify and rebuild the prepared photos.")) -> None:
    """Verify the photos' checksums, store them, and build the default sets of a profile."""
    from blurkit.default_data import build_default
    from blurkit.paths import data_root
    from blurkit.photos import prepare_photos
    from blurkit.profiles import get_profile

    prof = get_profile(profile)
    report = prepare_photos(force=force)
    typer.echo(report.summary())
    built = build_default(prof)
    typer.echo(f"default sets for profile '{prof.name}' ({len(built)}) under {data_root() / 'default' / prof.name}")


@data_app.command("synth")
def data_synth(
    domain: str = typer.Option(..., "--domain", "-d", help="reds-like, gopro-like, hide-like or uniform-8."),
    n: int = typer.Option(..., "--n", help="Number of pairs."),
    size: int = typer.Option(..., "--size", help="Side of the square crops (px)."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives byte-identical files."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (gets sharp/, blur/, manifest.json)."),
    split: str = typer.Option("train", "--split", help="Which photos to cut from: train or test."),
    from_dir: Optional[Path] = typer.Option(None, "--from", help="Use your own sharp images instead of the photos."),
) -> None:
    """Write a paired folder of synthetic blurry images (sharp/ and blur/, same file names)."""
    from blurkit.default_data import folder_sources, photo_sources, synth_folder

    sources = folder_sources(from_dir) if from_dir else photo_sources(split)
    path = synth_folder(domain, n, size, seed, out, split, sources)
    typer.echo(f"wrote {n} pairs to {path}")


@app.command("reproduce")
def reproduce(
    name: str = typer.Argument(..., help="Notebook name or number (e.g. 00_data, 00) or 'all'."),
    profile: str = PROFILE_OPT,
    results_dir: Optional[Path] = typer.Option(None, help="Default: results/<profile>/."),
    seed: int = typer.Option(0, help="Seed passed to the notebooks."),
    param: list[str] = typer.Option([], "--param", "-P", help="Another notebook parameter, KEY=VALUE (VALUE read "
                                    "as JSON when it parses, else as a string); repeatable, e.g. -P threads=1."),
) -> None:
    """Run notebooks headless with papermill; results go to results/<profile>/."""
    from blurkit.notebooks import find_notebook, list_notebooks, parse_params, run_notebook
    from blurkit.profiles import get_profile

    prof = get_profile(profile)
    extra = parse_params(param)
    paths = list_notebooks() if name == "all" else [find_notebook(name)]
    for path in paths:
        out, secs = run_notebook(path, prof.name, results_dir, seed, extra=extra)
        typer.echo(f"{path.stem}: {secs:.1f} s -> {out}")


@app.command("train")
def train_cmd(
    profile: str = PROFILE_OPT,
    data: str = typer.Option(..., "--data", help="A default set (reds-like, gopro-like, hide-like, uniform-8), a real "
                             "dataset (gopro, reds, hide) or a folder with sharp/ and blur/."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder (last.pt, model.pt, history.csv)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out exactly where it stopped."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Override the profile's step count."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: cuda when present)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch."),
    net: Optional[str] = typer.Option(None, "--net", help="Network preset instead of the profile's (paper, "
                                      "paper-basis, cpu, cpu-fine, cpu-residual, smoke, smoke-fine, smoke-residual)."),
    init: Optional[str] = typer.Option(None, "--init", help="Start from this trained model (model.pt or shipped "
                                       "name) instead of random weights; a 128 px-grid model may seed a -fine net."),
) -> None:
    """Train F and G jointly (Charbonnier loss, Eq. 4); under torchrun it trains with DDP."""
    from blurkit.train import train

    result = train(profile, data, out, resume=resume, steps=steps, device=device, threads=threads, net=net,
                   init=init)
    val = f"{result.val_psnr:.2f} dB" if result.val_psnr is not None else "n/a"
    typer.echo(f"step {result.step}, validation PSNR {val}, {result.wall_time_s:.1f} s -> {result.run_dir}")


@app.command("reconstruct")
def reconstruct_cmd(
    models: list[str] = typer.Option(..., "--model", "-m", help="LABEL=MODEL, repeatable; MODEL is a shipped name or "
                                     "a model.pt path (the first is the reference of delta_vs_first)."),
    data: str = typer.Option("reds-like", "--data", help="Default domain whose held-out test pairs are used."),
    profile: str = PROFILE_OPT,
    name: str = typer.Option("reconstruction_compare", "--name", help="Result name: <name>.csv (one row per model) "
                             "and <name>_per_pair.csv."),
    out_dir: Optional[Path] = typer.Option(None, "--out-dir", help="Default: results/<profile>."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N test pairs."),
) -> None:
    """Compare kernel spaces on F(x, G(x, y)) vs y over held-out pairs, split by moving objects (an ablation)."""
    from blurkit.transfer_report import compare_models_cli

    summary = compare_models_cli(models, data, profile, name, out_dir, limit)
    typer.echo(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


@app.command("transfer")
def transfer_cmd(
    model: str = typer.Option("default", "--model", "-m", help="'default' (shipped reds-like), a shipped name, or a "
                              "model.pt path."),
    source_sharp: Path = typer.Option(..., "--source-sharp", help="Sharp image of the source pair."),
    source_blur: Path = typer.Option(..., "--source-blur", help="Blurry image of the source pair."),
    target: Path = typer.Option(..., "--target", help="Sharp image to blur (any size; grayscale stays grayscale)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output PNG."),
) -> None:
    """Transfer the blur of a sharp/blurry pair onto another image: F(target, G(sharp, blur))."""
    from blurkit.transfer import transfer_files

    typer.echo(f"wrote {transfer_files(model, source_sharp, source_blur, target, out)}")


@app.command("deblur")
def deblur_cmd(
    inputs: list[Path] = typer.Argument(..., help="Blurry images (any size; grayscale stays grayscale)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (images, deblur_log.csv)."),
    model: str = typer.Option("default", "--model", "-m", help="'default' (shipped reds-like), a shipped name, or a "
                              "model.pt path."),
    profile: str = typer.Option("fast", "--profile", "-p", help="smoke (seconds, CI), fast (default) or paper "
                                "(Algorithm 1 with the official step counts)."),
    save_kernel: bool = typer.Option(False, "--save-kernel", help="Also save each code k as <name>.kernel.pt."),
    skip_existing: bool = typer.Option(False, "--skip-existing", help="Skip images already in --out (resume)."),
    seed: int = typer.Option(0, "--seed", help="Seed of image i is seed + i."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch."),
) -> None:
    """Blind deblurring in the kernel space (Eq. 6); each image is written as soon as it is done."""
    import torch

    from blurkit.deblur_files import deblur_files

    if threads:
        torch.set_num_threads(threads)
    table = deblur_files(inputs, out, model=model, config=profile, seed=seed, save_kernel=save_kernel,
                         skip_existing=skip_existing)
    done = int((table.status == "done").sum())
    typer.echo(f"deblurred {done} image(s), skipped {len(table) - done}, {table.wall_s.sum():.1f} s -> {out}")


@bench_app.command("deblur")
def bench_deblur_cmd(
    profile: str = PROFILE_OPT,
    model: str = typer.Option("default", "--model", "-m", help="Kernel space (default: shipped reds-like)."),
    data: str = typer.Option("gopro-like", "--data", help="Test domain whose held-out pairs are deblurred."),
    images: int = typer.Option(3, "--images", help="How many test images."),
    paper_steps: Optional[int] = typer.Option(None, "--paper-steps", help="Cap the paper schedule's outer steps "
                                              "(default: the paper preset's 5000)."),
    out: Path = typer.Option(Path("results/bench"), "--out", "-o", help="Folder for deblur.csv + .meta.json."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch."),
    selfdeblur: bool = typer.Option(True, "--selfdeblur/--no-selfdeblur", help="Also run SelfDeblur on the images."),
) -> None:
    """PSNR versus wall time of the paper-faithful schedule and the fast path on the same images."""
    from blurkit.bench_deblur import bench_deblur

    summary = bench_deblur(out, profile=profile, model=model, domain=data, n_images=images,
                           paper_steps=paper_steps, threads=threads, with_selfdeblur=selfdeblur)
    typer.echo(summary.to_string(index=False))


@bench_app.command("train")
def bench_train_cmd(
    out_dir: Path = typer.Option(Path("results/bench"), "--out-dir", help="Where train.csv and its meta go."),
    batch: int = typer.Option(2, help="Images per step."),
    repeats: int = typer.Option(3, help="Timed steps per case (best is reported)."),
    max_seconds: float = typer.Option(60.0, help="Stop timing a case after this long."),
    threads: Optional[int] = typer.Option(None, help="CPU threads for torch."),
) -> None:
    """Training it/s of each profile's networks at 128^2 and 256^2, with and without bf16 / channels-last."""
    from blurkit.bench import bench_train

    df = bench_train(out_dir, batch=batch, repeats=repeats, max_seconds=max_seconds, threads=threads)
    typer.echo(df.round(3).to_string(index=False))


@app.command("profiles")
def profiles() -> None:
    """List the profiles and their settings."""
    from blurkit.profiles import PROFILES

    for prof in PROFILES.values():
        typer.echo(f"{prof.name:6s} {prof.description}\n       {prof.to_dict()}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app, turning user errors into one line and a non-zero exit."""
    try:
        app(args=argv, standalone_mode=False)
    except BlurkitError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except typer.Exit as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except typer.TyperException as exc:  # usage errors: typer's own click exceptions
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"error: {exc}", err=True)
        return int(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except OSError as exc:  # e.g. a read-only output folder or a full disk
        typer.echo(f"error: {exc}", err=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
