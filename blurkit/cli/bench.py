"""``blurkit bench``: benchmarks reported as ratios against a baseline measured in the same run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from blurkit.cli.app import PROFILE_OPT, THREADS_OPT, BlurkitTyper, app, set_threads

bench_app = BlurkitTyper(help="Benchmarks: ratios against a baseline measured in the same run.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("deblur")
def bench_deblur_cmd(
    profile: str = PROFILE_OPT,
    model: str = typer.Option("reds-like-basis", "--model", "-m", help="Kernel space (default: the basis-head "
                              "reds-like-basis, which the committed bench ran with)."),
    data: str = typer.Option("gopro-like", "--data", help="Test domain whose held-out pairs are deblurred."),
    images: int = typer.Option(3, "--images", help="How many test images."),
    paper_steps: Optional[int] = typer.Option(None, "--paper-steps", help="Cap the paper schedule's outer steps "
                                              "(default: the paper preset's 5000)."),
    out: Path = typer.Option(Path("results/bench"), "--out", "-o", help="Folder for deblur.csv + .meta.json."),
    threads: Optional[int] = THREADS_OPT,
    selfdeblur: bool = typer.Option(True, "--selfdeblur/--no-selfdeblur", help="Also run SelfDeblur on the images."),
) -> None:
    """PSNR versus wall time of the paper-faithful schedule and the fast path on the same images."""
    from blurkit.experiments.bench_deblur import bench_deblur

    summary = bench_deblur(out, profile=profile, model=model, domain=data, n_images=images,
                           paper_steps=paper_steps, threads=threads, with_selfdeblur=selfdeblur)
    typer.echo(summary.to_string(index=False))


@bench_app.command("train")
def bench_train_cmd(
    out_dir: Path = typer.Option(Path("results/bench"), "--out-dir", help="Where train.csv and its meta go."),
    batch: int = typer.Option(2, help="Images per step."),
    repeats: int = typer.Option(3, help="Timed steps per case (best is reported)."),
    max_seconds: float = typer.Option(60.0, help="Stop timing a case after this long."),
    threads: Optional[int] = THREADS_OPT,
) -> None:
    """Training it/s of each profile's networks at 128^2 and 256^2, with and without bf16 / channels-last."""
    from blurkit.experiments.bench import bench_train

    df = bench_train(out_dir, batch=batch, repeats=repeats, max_seconds=max_seconds, threads=threads)
    typer.echo(df.round(3).to_string(index=False))


@bench_app.command("baseline-train")
def bench_baseline_train_cmd(
    out_dir: Path = typer.Option(Path("results/bench"), "--out-dir", help="Where baseline_train.csv and its meta go."),
    profile: list[str] = typer.Option(["cpu", "paper"], "--profile", help="Baseline profiles to time, repeatable."),
    repeats: int = typer.Option(3, help="Timed steps per case (best is reported)."),
    max_seconds: float = typer.Option(60.0, help="Stop timing a case after this long."),
    threads: Optional[int] = THREADS_OPT,
) -> None:
    """Seconds per training step of SRN-Deblur and DeblurGAN-v2 in fp32 and bf16 (channels-last)."""
    from blurkit.experiments.bench import bench_baseline_train

    df = bench_baseline_train(out_dir, tuple(profile), repeats=repeats, max_seconds=max_seconds, threads=threads)
    typer.echo(df.round(3).to_string(index=False))


@bench_app.command("ladder")
def bench_ladder_cmd(
    sets: list[str] = typer.Option(["reds-like>reds-like", "reds-like>gopro-like", "uniform-8>uniform-8",
                                    "reds-like-kernel>reds-like", "reds-like-kernel>gopro-like",
                                    "reds-like-basis>reds-like", "reds-like-basis>gopro-like"], "--set",
                                   help="MODEL>DATA, repeatable: a kernel space and the test domain it deblurs."),
    methods: list[str] = typer.Option(["blurry", "true_code", "fast", "classical", "no_blur_margin"], "--method",
                                      help="Repeatable: blurry, true_code, true_code_x8, true_code_blend, "
                                      "retrieved_code, kernel_code, kernel_code_blend, lsq_code, lsq_code_blend, "
                                      "oracle, oracle_exact, fast, fast_noguard, fast_adam, tv_code, tv_code_noguard, "
                                      "tv_kernel, tv_kernel_noguard, paper, official, selfdeblur, classical, srn, "
                                      "deblurganv2, no_blur_margin."),
    baseline: list[str] = typer.Option([], "--baseline", help="NAME=RUN_DIR for srn / deblurganv2, repeatable "
                                       "(default: the run trained on the kernel space's own domain in the work "
                                       "folder, trained there if missing)."),
    work_dir: Optional[Path] = typer.Option(None, "--work-dir", help="Baseline runs' cache. Default: "
                                            "$BLURKIT_WORK_DIR, else runs/<profile>/baselines."),
    profile: str = typer.Option("cpu", "--profile", "-p", help="Which default test sets (smoke, cpu)."),
    n: int = typer.Option(16, "--n", help="Images per set: the most textured test crops."),
    paper_steps: int = typer.Option(100, "--paper-steps", help="Cap of the paper and official schedules' outer "
                                    "steps (after their warm-ups); a cell made with another cap is made again."),
    out_dir: Optional[Path] = typer.Option(None, "--out-dir", help="Default: results/<profile>."),
    threads: Optional[int] = THREADS_OPT,
) -> None:
    """Every deblurring method on the same textured test images per set; resumes from its per-image CSV."""
    from blurkit.errors import BlurkitError
    from blurkit.experiments.ladder import run_ladder
    from blurkit.experiments.notebooks import work_folder
    from blurkit.paths import RESULTS_DIR

    set_threads(threads)
    runs = {}
    for item in baseline:
        key, sep, path = item.partition("=")
        if not sep:
            raise BlurkitError(f"--baseline takes NAME=RUN_DIR, got '{item}'")
        runs[key] = Path(path)
    summary = run_ladder(out_dir or RESULTS_DIR / profile, sets, methods, profile=profile, n=n,
                         baseline_runs=runs, paper_steps=paper_steps, work=work_folder(profile, work_dir),
                         threads=threads)
    typer.echo(summary.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


@bench_app.command("tolerance")
def bench_tolerance_cmd(
    domains: list[str] = typer.Option(["reds-like", "gopro-like"], "--data", help="GOPRO/REDS-like test domains."),
    profile: str = typer.Option("cpu", "--profile", "-p", help="Which default test sets (smoke, cpu)."),
    n: int = typer.Option(16, "--n", help="Images per domain: the ladder's most textured test crops."),
    out_dir: Optional[Path] = typer.Option(None, "--out-dir", help="Default: results/<profile>."),
    threads: Optional[int] = THREADS_OPT,
) -> None:
    """What each mistake of a kernel estimate costs the x-step: the ladder's images deconvolved with the camera PSF
    at the crop's centre and with that PSF centred, mirrored, fitted by a bent or a straight path, turned or
    stretched (kernel_tolerance.csv and .png, each against the exact PSF image by image); resumes from its
    per-image CSV."""
    from blurkit.experiments.kernel_tolerance import run_tolerance
    from blurkit.paths import RESULTS_DIR

    set_threads(threads)
    summary = run_tolerance(out_dir or RESULTS_DIR / profile, domains, profile=profile, n=n)
    typer.echo(summary.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


@bench_app.command("ceiling")
def bench_ceiling_cmd(
    domains: list[str] = typer.Option(["reds-like"], "--data", help="GOPRO/REDS-like test domains, repeatable."),
    operators: list[str] = typer.Option(["exact", "exact_camera", "cells_32", "cells_16"], "--operator",
                                        help="Repeatable: exact, exact_camera, cells_N (a camera PSF per N px cell), "
                                             "psf (the PSF at the crop's centre) or a psf_ variant with one mistake "
                                             "made: psf_centred, psf_mirror, psf_quadratic, psf_line, psf_rot<A>, "
                                             "psf_scale<F>."),
    priors: list[str] = typer.Option(["hyper_laplacian", "pnp"], "--prior", help="Repeatable: hyper_laplacian, pnp."),
    profile: str = typer.Option("cpu", "--profile", "-p", help="Which default test sets (smoke, cpu)."),
    n: int = typer.Option(16, "--n", help="Images per domain: the ladder's most textured test crops."),
    denoiser: str = typer.Option("cpu", "--denoiser", help="The plug-and-play prior: a shipped name or a file."),
    out_dir: Optional[Path] = typer.Option(None, "--out-dir", help="Default: results/<profile>."),
    name: str = typer.Option("deblur_ceiling", "--name", help="Table name: <out-dir>/<name>.csv and its per-image "
                             "CSV."),
    reference: Optional[str] = typer.Option(None, "--reference", help="An operator (run here or on file) every other "
                                            "one is compared with, image by image (vs_ref_db and its 95 % interval), "
                                            "e.g. psf."),
    threads: Optional[int] = THREADS_OPT,
) -> None:
    """Non-blind deblurring of the ladder's images with the blur known (exactly, camera only, per cell, or the
    crop's PSF with one controlled mistake): the ceiling of any kernel model under each image prior, and what a
    kernel estimate's mistakes cost; resumes from its per-image CSV."""
    from blurkit.experiments.deblur_ceiling import run_ceiling
    from blurkit.paths import RESULTS_DIR

    set_threads(threads)
    summary = run_ceiling(out_dir or RESULTS_DIR / profile, domains, operators, priors, profile=profile, n=n,
                          denoiser=denoiser, name=name, reference=reference)
    typer.echo(summary.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


@bench_app.command("lsq-store")
def bench_lsq_store_cmd(
    profile: str = typer.Option("cpu", "--profile", "-p", help="Profile of the ladder images."),
    model: str = typer.Option("reds-like", "--model", "-m", help="A g_lsq kernel space."),
    data: str = typer.Option("reds-like", "--data", help="Domain of the ladder images."),
    n: int = typer.Option(16, "--n", help="How many ladder images (one 128 px tile each)."),
    out: Path = typer.Option(Path("results/bench"), "--out", "-o", help="Folder for lsq_store.csv + .meta.json."),
    threads: Optional[int] = THREADS_OPT,
) -> None:
    """G(x, y) of a g_lsq kernel space with the least-squares tile store off (on the old unpadded FFT grid, the
    speedup's baseline, and on the fast one), into an empty store, and from it."""
    from blurkit.experiments.bench import bench_lsq_store

    df = bench_lsq_store(out, model=model, domain=data, profile=profile, n=n, threads=threads)
    typer.echo(df.round(4).to_string(index=False))


@bench_app.command("tv-calibration")
def bench_tv_calibration_cmd(
    profile: str = typer.Option("cpu", "--profile", "-p", help="Profile of the kernel space's held-out pairs."),
    model: str = typer.Option("reds-like", "--model", "-m", help="A kernel-head space with a code estimator."),
    data: str = typer.Option("reds-like", "--data", help="Domain of its training photos."),
    spread: list[float] = typer.Option([0.0], "--spread", help="The TV kernel's spread penalty, repeatable."),
    part: list[str] = typer.Option(["calibration", "validation"], "--part", help="calibration (the n most textured "
                                   "held-out pairs, which choose the rule) and/or validation (the next n)."),
    size: Optional[int] = typer.Option(None, "--size", help="The TV kernel's side (odd, px). Default: the row's."),
    lam: Optional[float] = typer.Option(None, "--lam", help="The TV weight at the finest scale. Default: the row's."),
    n: int = typer.Option(24, "--n", help="Pairs per part."),
    out_dir: Optional[Path] = typer.Option(None, "--out-dir", help="Default: results/<profile>."),
    threads: Optional[int] = THREADS_OPT,
) -> None:
    """The tv_code row's settings on held-out training pairs: per setting (side, TV weight, spread penalty), the open
    gain, the row's rule and the rule chosen on the calibration part; resumes from tv_calibration_pairs.csv."""
    from blurkit.experiments.tv_calibration import run_tv_calibration
    from blurkit.paths import RESULTS_DIR

    set_threads(threads)
    summary = run_tv_calibration(out_dir or RESULTS_DIR / profile, model, data, spread, part, profile=profile, n=n,
                                 size=size, lam=lam)
    typer.echo(summary.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
