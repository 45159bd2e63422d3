"""The kernel-space commands: ``blurkit train`` (F and G), ``reconstruct`` (an ablation), ``transfer`` and the
deblurring helpers trained on a kernel space (``train-estimator``, ``calibrate-xstep``, ``calibrate-guard``,
``train-denoiser``, ``train-refiner``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from blurkit.cli.app import PROFILE_OPT, THREADS_OPT, app, set_threads


@app.command("train")
def train_cmd(
    profile: str = PROFILE_OPT,
    data: str = typer.Option(..., "--data", help="A default set (reds-like, gopro-like, hide-like, uniform-8), a real "
                             "dataset (gopro, reds, hide) or a folder with sharp/ and blur/."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder (last.pt, model.pt, history.csv)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out exactly where it stopped."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Override the profile's step count."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or cuda (default: cuda when present)."),
    threads: Optional[int] = THREADS_OPT,
    net: Optional[str] = typer.Option(None, "--net", help="Network preset instead of the profile's; "
                                      "`blurkit profiles --nets` lists them."),
    init: Optional[str] = typer.Option(None, "--init", help="Start from this trained model (model.pt or shipped "
                                       "name) instead of random weights; a 128 px-grid model may seed a -fine net."),
    kernel_weight: Optional[float] = typer.Option(None, "--kernel-weight", help="Also pull the kernel F reads off "
                                                  "each code cell towards the pair's true kernel, with this weight "
                                                  "(needs a synthetic default set and a kernel-head net)."),
) -> None:
    """Train F and G jointly (Charbonnier loss, Eq. 4); under torchrun it trains with DDP."""
    from blurkit.space.train import train

    result = train(profile, data, out, resume=resume, steps=steps, device=device, threads=threads, net=net,
                   init=init, kernel_weight=kernel_weight)
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
    from blurkit.experiments.transfer_report import compare_models_cli

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
    from blurkit.space.transfer import transfer_files

    typer.echo(f"wrote {transfer_files(model, source_sharp, source_blur, target, out)}")


@app.command("estimate-kernel")
def estimate_kernel_cmd(
    sharp: Path = typer.Argument(..., help="The sharp image."),
    blurry: Path = typer.Argument(..., help="The blurry image of the same scene, same size."),
    out: Path = typer.Option(..., "--out", "-o", help="Kernel PNG (8x, scaled to its maximum); the kernel itself "
                             "goes to <out>.npy."),
    size: int = typer.Option(31, "--size", help="Kernel side in px (odd, smaller than the images)."),
    crf: Optional[str] = typer.Option(None, "--crf", help="Fit in this camera response's linear domain (e.g. "
                                      "gamma2.2, srgb, filmic)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Fit in this kernel space's learned linear "
                                        "domain (its tone curve)."),
    robust: Optional[int] = typer.Option(None, "--robust", help="Reweighting rounds that discount what one kernel "
                                         "does not explain (a moving object); 0: plain least squares. Default: "
                                         "blurkit.space.kernel_lsq.LSQ_ROBUST."),
    weights: Optional[str] = typer.Option(None, "--weights", help="How a round reweights: l1 (per pixel) or reject "
                                          "(leaves out whole regions). Default: LSQ_WEIGHTS."),
) -> None:
    """The blur kernel that turns SHARP into BLURRY: non-negative least squares over the valid region."""
    from blurkit.space.kernel_lsq import LSQ_ROBUST, LSQ_WEIGHTS, kernel_moments, lsq_kernel_files

    path, kernel = lsq_kernel_files(sharp, blurry, out, size, crf, model, LSQ_ROBUST if robust is None else robust,
                                    LSQ_WEIGHTS if weights is None else weights)
    dy, dx, sy, sx = kernel_moments(kernel)
    typer.echo(f"wrote {path} and {path.with_suffix('.npy')}: {size}x{size} kernel, centre of mass "
               f"(dy, dx) = ({dy:+.2f}, {dx:+.2f}) px, spread (sy, sx) = ({sy:.2f}, {sx:.2f}) px")


@app.command("train-estimator")
def train_estimator_cmd(
    model: str = typer.Option(..., "--model", "-m", help="A shipped kernel space name or a checkpoint file."),
    data: str = typer.Option(..., "--data", help="Training pairs: a default set, a real dataset or a pair folder."),
    profile: str = PROFILE_OPT,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Estimator file (default: beside the model, "
                                       "<model>.estimator.pt, where the fast preset looks for it)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Override the profile's step count."),
    threads: Optional[int] = THREADS_OPT,
    results_dir: Optional[Path] = typer.Option(None, "--results-dir", help="Where the loss history CSV goes "
                                               "(default: results/<profile>)."),
    kernel_weight: Optional[float] = typer.Option(None, "--kernel-weight", help="Also teach E the pairs' true cell "
                                                  "kernels with this weight (kernel-head spaces, synthetic pairs)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Override the profile's Adam rate."),
) -> None:
    """Train the blind code estimator E(y) of a kernel space (F and G frozen): the fast preset's start for k."""
    from blurkit.experiments.notebooks import results_folder
    from blurkit.provenance import save_result
    from blurkit.space.code_estimator import CodeEstimator, train_estimator_for

    set_threads(threads)
    path, history = train_estimator_for(model, data, profile, out, steps, kernel_weight=kernel_weight, lr=lr)
    record = CodeEstimator.load(path).provenance
    folder = results_folder(profile, results_dir)
    save_result(history, f"code_estimator_{Path(str(model)).stem}", folder, record)

    def err(key: str) -> str:
        return "n/a" if record.get(key) is None else f"{record[key]:.3f}"

    label = "code error" if not record["config"].get("kernel_weight") else "code + kernel loss"
    typer.echo(f"{path}: {label}, held-out training pairs {err('start_hold_out_error')} -> "
               f"{err('hold_out_error')} (kept step {record['best_step']}), test pairs {err('start_val_error')} -> "
               f"{err('final_val_error')}")
    if out is None:  # the fast preset reads the calibration from the estimator beside the model
        _calibrate(model, data, profile, folder)


def _calibrate(model: str, data: str, profile: str, folder: Path, select: str = "textured",
               code: str = "blind") -> None:
    from blurkit.deblur.xstep_calibration import CODES, calibrate_estimator_file, record_suffix
    from blurkit.provenance import provenance, save_result

    if code not in CODES:
        from blurkit.errors import BlurkitError

        raise BlurkitError(f"--code must be one of {', '.join(CODES)}, got '{code}'")
    record = provenance(config={"model": str(model), "data": str(data), "profile": profile, "select": select,
                                "code": code})  # before the estimator file is written: a clean commit
    gamma, table = calibrate_estimator_file(model, data, profile, select=select, code=code)
    save_result(table, f"xstep_calibration_{Path(str(model)).stem}{record_suffix(code)}", folder, record)
    rows = ", ".join(f"{r.gamma:g}: {r.gain_db:+.2f} dB" for r in table.itertuples())
    typer.echo(f"x-step prior weight for {model}, {code} code: gamma {gamma:g} (gain on {int(table['n'].iloc[0])} "
               f"held-out training pairs: {rows})")
    if code == "blind":
        _calibrate_guard(model, data, profile, folder, select)


# the options calibrate-xstep and calibrate-guard share
CALIB_MODEL_OPT = typer.Option(..., "--model", "-m", help="A shipped kernel space name or a checkpoint file, with its "
                               "code estimator beside it.")
CALIB_DATA_OPT = typer.Option(..., "--data", help="The training pairs its estimator was trained on.")
CALIB_RESULTS_OPT = typer.Option(None, "--results-dir", help="Where the tables go (default: results/<profile>).")
CALIB_SELECT_OPT = typer.Option("textured", "--select", help="Which held-out pairs: the 24 most 'textured' (the "
                                "ladder's rule) or 24 'spread' evenly.")
CALIB_CODE_OPT = typer.Option("blind", "--code", help="The x-step's code: 'blind' (E(y), the fast preset; then the "
                              "guard) or 'sharp' (G(x, y), the ladder's non-blind rows; no guard).")


def _calibrate_guard(model: str, data: str, profile: str, folder: Path, select: str = "textured") -> None:
    from blurkit.deblur.guard_calibration import MAX_WORSE, calibrate_guard_file
    from blurkit.deblur.xstep_calibration import WORSE_DB
    from blurkit.provenance import provenance, save_result

    record = provenance(config={"model": str(model), "data": str(data), "profile": profile, "select": select,
                                "max_worse": MAX_WORSE})  # before the estimator file is written: a clean commit
    cfg, meas, table = calibrate_guard_file(model, data, profile, select=select)
    stem = Path(str(model)).stem
    save_result(meas, f"guard_calibration_{stem}_pairs", folder, record)
    save_result(table, f"guard_calibration_{stem}", folder, record)
    best = table[table["chosen"]].iloc[0]
    typer.echo(f"guard for {model}: min_fit_gain {cfg.min_fit_gain:g} dB, max_gain {cfg.max_gain:g} (on {len(meas)} "
               f"held-out training pairs: keeps {best.kept_frac:.0%}, gain {best.gain_db:+.2f} dB, worse "
               f"{best.worse_frac:.2f}; unguarded {meas['gain_db'].mean():+.2f} dB, worse "
               f"{(meas['gain_db'] < -WORSE_DB).mean():.2f})")


@app.command("calibrate-xstep")
def calibrate_xstep_cmd(model: str = CALIB_MODEL_OPT, data: str = CALIB_DATA_OPT, profile: str = PROFILE_OPT,
                        threads: Optional[int] = THREADS_OPT, results_dir: Optional[Path] = CALIB_RESULTS_OPT,
                        select: str = CALIB_SELECT_OPT, code: str = CALIB_CODE_OPT) -> None:
    """Choose the linear x-step's prior weight for a kernel space on its estimator's held-out training photos, then
    (for the blind code) the guard's thresholds (calibrate-guard)."""
    from blurkit.experiments.notebooks import results_folder

    set_threads(threads)
    _calibrate(model, data, profile, results_folder(profile, results_dir), select, code)


@app.command("calibrate-nonblind")
def calibrate_nonblind_cmd(model: str = typer.Option(..., "--model", "-m", help="A shipped kernel space name or a "
                                                     "checkpoint file; the choice is written beside it."),
                           data: str = CALIB_DATA_OPT, profile: str = PROFILE_OPT,
                           threads: Optional[int] = THREADS_OPT, results_dir: Optional[Path] = CALIB_RESULTS_OPT,
                           select: str = CALIB_SELECT_OPT) -> None:
    """Choose the non-blind x-step of a kernel space (the ladder's true_code row: G(x, y)'s code): its prior weight
    and its plug-and-play share, on the held-out training photos' pairs; writes <model>.nonblind.json."""
    from blurkit.deblur.nonblind_calibration import calibrate_nonblind_file, nonblind_path
    from blurkit.experiments.notebooks import results_folder
    from blurkit.provenance import provenance, save_result

    set_threads(threads)
    record = provenance(config={"model": str(model), "data": str(data), "profile": profile, "select": select})
    choice, table = calibrate_nonblind_file(model, data, profile, select=select, record=record)
    save_result(table, f"xstep_calibration_{Path(str(model)).stem}_nonblind", results_folder(profile, results_dir),
                record)
    best = table.loc[table["gain_db"].idxmax()]
    plain = table[table["weight"] == 0.0]["gain_db"].max()
    typer.echo(f"{nonblind_path(model)}: gamma {choice['gamma']:g}, plug-and-play share {choice['weight']:g} "
               f"(gain on {int(best['n'])} held-out training pairs {best['gain_db']:+.2f} dB; the best plain x-step "
               f"{plain:+.2f} dB)")


@app.command("calibrate-guard")
def calibrate_guard_cmd(model: str = CALIB_MODEL_OPT, data: str = CALIB_DATA_OPT, profile: str = PROFILE_OPT,
                        threads: Optional[int] = THREADS_OPT, results_dir: Optional[Path] = CALIB_RESULTS_OPT,
                        select: str = CALIB_SELECT_OPT) -> None:
    """Choose the no-reference guard's thresholds for a kernel space on its estimator's held-out training photos
    (run by calibrate-xstep too)."""
    from blurkit.experiments.notebooks import results_folder

    set_threads(threads)
    _calibrate_guard(model, data, profile, results_folder(profile, results_dir), select)


@app.command("train-denoiser")
def train_denoiser_cmd(
    profile: str = PROFILE_OPT,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Checkpoint (default: blurkit/models/"
                                       "denoisers/<profile>.pt, where the plug-and-play x-step looks for it)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Override the profile's step count."),
    threads: Optional[int] = THREADS_OPT,
) -> None:
    """Train the plug-and-play x-step's denoiser on the sharp crops of the default training pairs."""
    import dataclasses

    import torch

    from blurkit.deblur.denoiser import DENOISER_PRESETS, denoiser_path, train_denoiser
    from blurkit.errors import UnknownNameError
    from blurkit.profiles import get_profile

    set_threads(threads)
    name = get_profile(profile).name
    if name not in DENOISER_PRESETS:
        raise UnknownNameError(f"no denoiser preset for profile '{name}'; choose from {', '.join(DENOISER_PRESETS)}")
    config = DENOISER_PRESETS[name]
    if steps:
        config = dataclasses.replace(config, steps=steps)
    path = train_denoiser(config, name, out or denoiser_path(name))
    final = torch.load(path, weights_only=True)["provenance"]["final_l1"]
    typer.echo(f"{path}: {config.steps} steps, final L1 {final:.4f}")


@app.command("train-refiner")
def train_refiner_cmd(
    model: str = typer.Option(..., "--model", "-m", help="A shipped kernel space name or a checkpoint file, with its "
                              "code estimator beside it."),
    data: str = typer.Option(..., "--data", help="Training pairs: a default set, a real dataset or a pair folder."),
    profile: str = PROFILE_OPT,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Refiner file (default: beside the model, "
                                       "<model>.refiner.pt, where fast and true_code look for it)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Override the profile's step count."),
    threads: Optional[int] = THREADS_OPT,
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Where the x-step outputs are kept (default: "
                                             "runs/<profile>/refiner-cache/<key>); a re-run reuses them."),
    results_dir: Optional[Path] = typer.Option(None, "--results-dir", help="Where the validation history CSV goes "
                                               "(default: results/<profile>)."),
) -> None:
    """Train the x-step refiner of a kernel space on what its linear x-step makes of its training pairs."""
    from blurkit.deblur.refiner import load_refiner
    from blurkit.deblur.refiner_train import train_refiner_for
    from blurkit.experiments.notebooks import results_folder
    from blurkit.provenance import save_result

    set_threads(threads)
    path, history = train_refiner_for(model, data, profile, out, steps, cache_dir)
    record = load_refiner(path).provenance
    save_result(history, f"refiner_{Path(str(model)).stem}", results_folder(profile, results_dir), record)
    gains = ", ".join(f"{c}: x-step {record[f'xstep_gain_{c}']:+.2f} -> refined {record[f'refined_gain_{c}']:+.2f} dB"
                      for c in record["config"]["codes"])
    typer.echo(f"{path}: kept step {record['best_step']}; validation gain over blurry ({gains})")


@app.command("train-kernel-net")
def train_kernel_net_cmd(
    data: str = typer.Option("reds-like", "--data", help="A default camera-motion set: its training photos and pairs."),
    profile: str = PROFILE_OPT,
    out: Path = typer.Option(..., "--out", "-o", help="Run folder: net.pt (the weights of the lowest held-out "
                             "error), state.pt (to resume), history.csv."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Override the profile's step count."),
    threads: Optional[int] = THREADS_OPT,
) -> None:
    """Train the blind kernel network that reads the autocorrelation of y's gradients (resumes a run in --out)."""
    import sys

    from blurkit.deblur.autocorr_kernel import AutocorrKernelNet
    from blurkit.deblur.autocorr_train import train_kernel_net_for

    set_threads(threads)
    path, history = train_kernel_net_for(data, profile, out, steps, command=" ".join(["blurkit"] + sys.argv[1:]))
    last = history.iloc[-1]
    kept = AutocorrKernelNet.load(path).provenance  # the step whose weights net.pt holds, as the trainer chose it
    typer.echo(f"{path}: the weights of step {int(kept['steps'])}, held-out kernel error {kept['held_error']:.3f}; "
               f"trained to step {int(last['step'])}, {last['wall_s']:.0f} s")
