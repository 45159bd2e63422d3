"""Figs. 4 and 6 (paper Sec. 3.3, 4.3): deblurring on a generator's image manifold, on scene text.

The paper uses faces and an FFHQ StyleGAN; neither can be had here, so the pipeline runs on scene text
(docs/generator.md): crops at the generator's size (box-filtered down by an integer factor, as the GAN loader does),
a StyleGAN2 trained on the training crops, OCR accuracy beside PSNR and SSIM. Ours uses the reds-like kernel space
(the paper: the REDS blur extractor), so both test blurs are unseen by it.

* Data (:func:`text_blur_sets`, resumable under ``<work>/data``): the test crops blurred by **blur transfer** of
  seeded held-out gopro-like pairs (the paper's "blur transferred from GOPRO") and by **conventional motion blur**
  (seeded camera-shake kernels standing in for imgaug); DeblurGANv2 trains on the training crops with transferred
  reds-like kernels, or with motion blur.
* Fig. 4 (:func:`fig4_rows`, :func:`fig4_summary`): every method on the same images; "ours-generator beats each
  other method" is tested on the transferred set, per image, on PSNR and on OCR accuracy: the paired mean difference,
  its 95 % bootstrap interval (:mod:`blurkit.experiments.paired`); ``holds`` when the interval lies above zero.
* Fig. 6 (:func:`fig6_traces`, :func:`fig6_summary`): the search under three kernel priors, tested likewise.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from scipy import stats

from blurkit.baselines.baseline_config import get_baseline_config
from blurkit.data.datasets import resolve_pairs
from blurkit.data.default_data import build_default
from blurkit.data.images import read_image, write_image
from blurkit.data.text_crops import build_text_crops
from blurkit.deblur.generator_prior import (GeneratorPriorConfig, deblur_generator, gaussian_fit,
                                            generator_prior_config, resolve_generator)
from blurkit.deblur.metrics import psnr, ssim
from blurkit.deblur.ocr import ocr_accuracy
from blurkit.errors import BlurkitError, ImageSizeError, UnknownNameError
from blurkit.experiments.baseline_report import ensure_baseline, method_baseline
from blurkit.experiments.deblur_report import Method, method_blurry, method_ours, method_selfdeblur, to_image, to_tensor
from blurkit.experiments.paired import PairedDifference, paired_by_image, verdict_columns
from blurkit.experiments.work_cache import rebuilt
from blurkit.files import sha256_file
from blurkit.generator.gan_train import load_trained_generator, train_gan
from blurkit.generator.stylegan2 import StyleGAN2Generator
from blurkit.provenance import write_json
from blurkit.space.blur_augment import augment_dataset, motion_blur_dataset
from blurkit.space.kernel_space import KernelSpace

PRIORS = ("encoded", "conv", "bicubic")  # Fig. 6: ours, SelfDeblur's convolution kernel, PULSE's bicubic


@dataclass(frozen=True)
class ManifoldConfig:
    """Settings of Figs. 4 and 6 for one profile: ``text`` (text-crop profile), ``n_images`` (the first test crops,
    the same for every method and prior), ``generator`` (``train:<gan profile>``, trained in the work folder, or a
    :func:`resolve_generator` name), ``solver`` (ours-generator's preset), ``trace_steps`` (Fig. 6; None: the
    solver's), ``generic`` / ``selfdeblur`` (presets), ``baseline`` (DeblurGANv2's profile; crop capped at the size)."""

    name: str
    text: str
    n_images: int
    generator: str
    solver: str
    trace_steps: int | None
    generic: str
    selfdeblur: str
    baseline: str


MANIFOLD_PROFILES: dict[str, ManifoldConfig] = {
    "smoke": ManifoldConfig("smoke", "smoke", 4, "train:smoke", "smoke", 20, "fast", "smoke", "smoke"),
    "cpu": ManifoldConfig("cpu", "cpu", 16, "text-cpu", "fast", None, "fast", "fast", "cpu"),
    "paper": ManifoldConfig("paper", "cpu", 100, "text-cpu", "paper", None, "paper", "paper", "cpu"),
}


def manifold_config(profile: str | ManifoldConfig) -> ManifoldConfig:
    """The settings of a named profile (a :class:`ManifoldConfig` passes through)."""
    if isinstance(profile, ManifoldConfig) or profile in MANIFOLD_PROFILES:
        return profile if isinstance(profile, ManifoldConfig) else MANIFOLD_PROFILES[profile]
    raise UnknownNameError(f"unknown profile '{profile}'; choose one of: {', '.join(MANIFOLD_PROFILES)}")


def manifold_generator(profile: str | ManifoldConfig, work: Path, threads: int | None = None,
                       progress: bool = False) -> StyleGAN2Generator:
    """The profile's text generator: trained (resumably) under ``<work>/runs/gan-text-<gan profile>`` for
    ``train:*``, else resolved by name; a missing checkpoint raises one line naming the command that trains it."""
    cfg = manifold_config(profile)
    if cfg.generator.startswith("train:"):
        gan = cfg.generator.split(":", 1)[1]
        crops = build_text_crops(cfg.text, progress=progress)
        run = Path(work) / "runs" / f"gan-text-{gan}"
        rebuilt(lambda: train_gan(gan, crops["train"], run, resume=True, progress=progress, threads=threads), run)
        return load_trained_generator(run)
    try:
        return resolve_generator(cfg.generator)
    except BlurkitError as exc:
        raise BlurkitError(f"profile '{cfg.name}' of Figs. 4/6 needs the text generator: {exc}") from None


def motion_sizes(size: int) -> tuple[int, int]:
    """Motion-kernel sides for ``size`` px crops: the odd sides from 15 % to 30 % of the side (at least 3 px; 5-9 px
    at 32 px). The default 13-27 px range is meant for photos of 128 px and more."""
    lo, hi = int(np.ceil(0.15 * size)), int(0.3 * size)
    lo, hi = max(3, lo + 1 - lo % 2), hi - 1 + hi % 2
    return lo, max(lo, hi)


@dataclass(frozen=True)
class TextBlurSets:
    """The Fig. 4 paired folders: ``test`` (``transferred``, ``motion``) and DeblurGANv2's ``train`` (``reds``,
    ``motion``); ``words``: test image name -> its true word; ``size``: image side (px)."""

    test: dict[str, Path]
    train: dict[str, Path]
    words: dict[str, str]
    size: int


def _sized(src: Path, out: Path, size: int, n: int | None) -> bool:
    """The first ``n`` crops of ``src/sharp`` box-filtered to ``size`` px into ``out``; False when already there."""
    crops = json.loads((src / "manifest.json").read_text())["crops"][:n]
    stamp = {"source": str(src), "manifest_sha256": sha256_file(src / "manifest.json"), "size": size, "n": len(crops)}
    if (out / "sized.json").is_file() and json.loads((out / "sized.json").read_text()) == stamp:
        return False
    shutil.rmtree(out, ignore_errors=True)
    for c in crops:
        img = read_image(src / "sharp" / c["name"])
        k = img.shape[0] // size
        if img.shape[:2] != (k * size, k * size) or k < 1:
            raise ImageSizeError(f"text crop '{c['name']}' is {img.shape[0]}x{img.shape[1]} px, not a multiple of "
                                 f"the generator's {size} px")
        write_image(out / c["name"], img.reshape(size, k, size, k, 3).mean(axis=(1, 3)))
    write_json(out / "sized.json", stamp)
    return True


def text_blur_sets(profile: str | ManifoldConfig, work: Path, size: int, seed: int = 0,
                   progress: bool = False) -> TextBlurSets:
    """Build (or find built) the Fig. 4 test sets and the DeblurGANv2 training sets at ``size`` px.

    Shape: every image ``(size, size, 3)``; ``size`` must divide the text profile's crop side.
    """
    cfg = manifold_config(profile)
    crops = build_text_crops(cfg.text, progress=progress)
    build_default(cfg.name, domains=("gopro-like", "reds-like"), progress=False)
    root = Path(work) / "data" / f"text-{cfg.text}-{size}px"
    for s in ("train", "test"):  # blurred sets of other crops are made again (manifests record names, not contents)
        if _sized(crops[s], root / f"sharp-{s}", size, cfg.n_images if s == "test" else None):
            for old in root.glob(f"{s}-*"):
                shutil.rmtree(old)

    def blurred(name: str, split: str, s: int, domain: str | None = None) -> Path:
        """``domain``'s blur transferred onto the crops of ``split`` (None: motion blur), into ``root / name``."""
        src, out = root / f"sharp-{split}", root / name
        return rebuilt(lambda: motion_blur_dataset(src, out, s, split, kernel_sizes=motion_sizes(size),
                                                   progress=progress) if domain is None else augment_dataset(
            KernelSpace.load(domain), domain, src, out, s, split, cfg.name, progress=progress), out)

    test = {"transferred": blurred("test-transferred", "test", seed + 1, "gopro-like"),
            "motion": blurred("test-motion", "test", seed + 1)}
    train = {"reds": blurred("train-reds", "train", seed, "reds-like"),
             "motion": blurred("train-motion", "train", seed)}
    word_of = {c["name"]: c["word"] for c in json.loads((crops["test"] / "manifest.json").read_text())["crops"]}
    words = {e["name"]: word_of[Path(e["target_sharp"]).name] for folder in test.values()
             for e in json.loads((folder / "manifest.json").read_text())["pairs"]}
    return TextBlurSets(test, train, words, size)


@dataclass(frozen=True)
class TextPair:
    """One test image: its name, true word, sharp x and blurry y. Shape: x, y ``(H, W, 3)`` in [0, 1]."""

    name: str
    word: str
    x: np.ndarray
    y: np.ndarray


def load_text_pairs(folder: Path, words: dict[str, str], limit: int | None = None) -> list[TextPair]:
    """The pairs of a paired folder, in name order, with their words."""
    return [TextPair(s.name, words[s.name], read_image(s), read_image(b)) for s, b in resolve_pairs(folder)[:limit]]


def fig4_baselines(profile: str | ManifoldConfig, sets: TextBlurSets, work: Path, threads: int | None = None,
                   progress: bool = False) -> dict[str, Path]:
    """DeblurGANv2 trained (resumably) on each training set: ``{"DeblurGANv2 (reds kernels)": run, ...}``."""
    base = get_baseline_config("deblurganv2", manifold_config(profile).baseline)
    train_cfg = replace(base, crop=min(base.crop, sets.size))
    return {f"DeblurGANv2 ({label})": ensure_baseline(
        "deblurganv2", train_cfg, sets.train[kind],  # type: ignore[arg-type]  # a config passes through
        Path(work) / "runs" / f"deblurganv2-text-{kind}-{sets.size}px", threads, progress)
        for kind, label in (("reds", "reds kernels"), ("motion", "motion"))}


def method_generator(generator: StyleGAN2Generator, config: str | GeneratorPriorConfig) -> Method:
    """Deblurring on the generator's manifold (:func:`deblur_generator`, encoded kernel) as a Fig. 4 method; the
    guard's decision of each call is appended to the returned function's ``notes``."""
    cfg = generator_prior_config(config)
    fit = gaussian_fit(generator, cfg.fit_samples, cfg.fit_seed)
    notes: list[str] = []

    def run(y: torch.Tensor, model: KernelSpace, seed: int, reference: torch.Tensor) -> tuple[torch.Tensor, float]:
        res = deblur_generator(model, generator, y, cfg, seed=seed, progress=False, reference=reference, fit=fit)
        g = res.guard[0]
        notes.append("" if g is None else f"guard: {'kept' if g.keep else 'returned y'} ({g.reason})")
        return res.x, res.wall_s[0]
    run.notes = notes  # type: ignore[attr-defined]
    return run


def fig4_methods(profile: str | ManifoldConfig, generator: StyleGAN2Generator,
                 runs: dict[str, Path]) -> dict[str, Method]:
    """The Fig. 4 methods in column order: blurry, ours-generator, ours-generic, SelfDeblur, the DeblurGANv2 runs."""
    cfg = manifold_config(profile)
    return {"blurry": method_blurry(), "ours-generator": method_generator(generator, cfg.solver),
            "ours-generic": method_ours(cfg.generic), "SelfDeblur": method_selfdeblur(cfg.selfdeblur),
            **{label: method_baseline(run) for label, run in runs.items()}}


def fig4_rows(sets: dict[str, list[TextPair]], methods: dict[str, Method], model: KernelSpace, seed: int = 0,
              ocr: Callable[[np.ndarray, str], float] = ocr_accuracy
              ) -> tuple[pd.DataFrame, dict[str, dict[str, list[np.ndarray]]]]:
    """Every method on every image of every set (image i of a set with seed ``seed + i``), and the outputs
    ``{set: {method: [image, ...]}}``. Columns: ``set, image, word, method, psnr, ssim, ocr`` (OCR character accuracy),
    ``ocr_sharp`` (of the sharp image: the ceiling), ``note`` (a method's ``notes``: the guard's decision), ``wall_s``.

    Shape: images ``(H, W, 3)`` in [0, 1].
    """
    rows, outputs = [], {s: {m: [] for m in methods} for s in sets}
    for set_name, pairs in sets.items():
        for i, p in enumerate(pairs):
            yt, xt, ceiling = to_tensor(p.y), to_tensor(p.x), ocr(p.x, p.word)
            for m, fn in methods.items():
                out, wall = fn(yt, model, seed + i, xt)
                img = to_image(out)
                outputs[set_name][m].append(img)
                notes = getattr(fn, "notes", None)
                rows.append({"set": set_name, "image": p.name, "word": p.word, "method": m, "psnr": psnr(img, p.x),
                             "ssim": ssim(img, p.x), "ocr": ocr(img, p.word), "ocr_sharp": ceiling,
                             "note": notes[-1] if notes else "", "wall_s": wall})
    return pd.DataFrame(rows), outputs


def _claim(d: PairedDifference | None, prefix: str = "") -> dict:
    """Verdict columns (``prefix`` + verdict, diff, ci_low, ci_high; ``n`` only unprefixed)."""
    cols = verdict_columns(d)
    return cols if not prefix else {prefix + ("diff" if k == "diff_db" else k): v for k, v in cols.items() if k != "n"}


def _finish(df: pd.DataFrame) -> pd.DataFrame:
    df["n"] = df["n"].astype("Int64")
    for col in df.columns:
        if col.endswith(("diff", "diff_db", "ci_low", "ci_high")):
            df[col] = df[col].astype(float)
    return df


def fig4_summary(per_image: pd.DataFrame, claim_for: str = "ours-generator", claim_set: str = "transferred",
                 seed: int = 0) -> pd.DataFrame:
    """Means per (set, method) (``psnr, ssim, ocr, ocr_sharp, wall_s, images``) and, on ``claim_set``'s rows, the
    claim "``claim_for`` > method" on the per-image PSNRs of the images both have (``claim, verdict, diff_db, ci_low,
    ci_high, n``) and on their OCR accuracies (``ocr_verdict, ocr_diff, ocr_ci_low, ocr_ci_high``; accuracy 0-1)."""
    agg = per_image.groupby(["set", "method"], sort=False).agg(
        psnr=("psnr", "mean"), ssim=("ssim", "mean"), ocr=("ocr", "mean"), ocr_sharp=("ocr_sharp", "mean"),
        wall_s=("wall_s", "mean"), images=("image", "count")).reset_index()
    claims = []
    for r in agg.itertuples():
        a, b = (per_image[(per_image.set == r.set) & (per_image.method == m)].set_index("image")
                for m in (claim_for, r.method))
        tested = r.set == claim_set and r.method != claim_for
        claims.append({"claim": f"{claim_for} > {r.method}" if tested else None,
                       **_claim(paired_by_image(a.psnr, b.psnr, seed=seed) if tested else None),
                       **_claim(paired_by_image(a.ocr, b.ocr, seed=seed) if tested else None, "ocr_")})
    return _finish(pd.concat([agg, pd.DataFrame(claims)], axis=1))


def fig6_traces(model: KernelSpace, generator: StyleGAN2Generator, pairs: Sequence[TextPair],
                config: str | GeneratorPriorConfig, steps: int | None = None, seed: int = 0,
                priors: Sequence[str] = PRIORS, progress: bool = False) -> pd.DataFrame:
    """Each image searched under each kernel prior, every step logged, the guard off; image i starts from seed
    ``seed + i`` under every prior (the same latents). Columns: ``image, kernel_prior, phase`` (``solve``; ``final``:
    the returned iterate), ``step, loss, data`` (the data term against y), ``psnr`` (the estimate vs the sharp image).

    Shape: pairs' images ``(S, S, 3)``, S the generator's size.
    """
    cfg = generator_prior_config(config).replace(guard=False, log_every=1, **({"steps": steps} if steps else {}))
    y, x = (torch.cat([to_tensor(getattr(p, a)) for p in pairs]) for a in "yx")
    fit = gaussian_fit(generator, cfg.fit_samples, cfg.fit_seed)
    frames = []
    for prior in priors:
        res = deblur_generator(model, generator, y, cfg.replace(kernel_prior=prior), seed=seed, progress=progress,
                               reference=x, fit=fit)
        t = res.trace[res.trace.phase.isin(["solve", "final"])].copy()
        t["image"] = [pairs[i].name for i in t.image]
        frames.append(t)
    return pd.concat(frames, ignore_index=True)[["image", "kernel_prior", "phase", "step", "loss", "data", "psnr"]]


def fig6_summary(traces: pd.DataFrame, reference: str = "encoded", seed: int = 0) -> pd.DataFrame:
    """Per prior, the means of: ``loss_start``, ``loss_final``, ``loss_drop_db`` (10 log10 of their ratio: how far
    the search fell from its own start), ``fit_db`` (-10 log10 of the returned iterate's data term: how well the
    prior's forward model re-blurs its estimate into y, the same y for every prior), ``psnr_start``, ``psnr_final``.

    "Only the encoded kernel converges" is tested on each other prior's row, per image, paired, with 95 % bootstrap
    intervals: the encoded search ends nearer the sharp image (``verdict, diff_db, ci_low, ci_high, n`` on
    ``psnr_final``) and explains y better (``fit_verdict, fit_diff, fit_ci_low, fit_ci_high`` on ``fit_db``). The
    loss drop is shown, not tested: a prior that starts with a worse fit of y has further to fall.
    """
    key = ["kernel_prior", "image"]
    start = traces[(traces.phase == "solve") & (traces.step == 0)].set_index(key)[["loss", "psnr"]].add_suffix("_start")
    per = traces[traces.phase == "final"].set_index(key)[["loss", "data", "psnr"]].add_suffix("_final").join(start)
    per = per.rename(columns={"data_final": "data"})
    per["fit_db"] = -10 * np.log10(per["data"])
    per["loss_drop_db"] = 10 * np.log10(per.loss_start / per.loss_final)
    cols = ["loss_start", "loss_final", "loss_drop_db", "fit_db", "psnr_start", "psnr_final"]
    rows = []
    for prior in dict.fromkeys(traces.kernel_prior):
        a, b = per.loc[reference], per.loc[prior]
        tested = prior != reference
        rows.append({"kernel_prior": prior, **b[cols].mean().to_dict(), "images": len(b),
                     "claim": f"{reference} > {prior}" if tested else None,
                     **_claim(paired_by_image(a.psnr_final, b.psnr_final, seed=seed) if tested else None),
                     **_claim(paired_by_image(a.fit_db, b.fit_db, seed=seed) if tested else None, "fit_")})
    return _finish(pd.DataFrame(rows))


def fig4_grid(sets: dict[str, list[TextPair]], outputs: dict[str, dict[str, list[np.ndarray]]],
              per_image: pd.DataFrame, n_show: int = 4, scale: float = 1.25) -> Figure:
    """Fig. 4: a row per shown image of each set (the first ``n_show``), a column per method, then the sharp image;
    each output labelled with its PSNR and OCR accuracy."""
    methods = list(next(iter(outputs.values())))
    shown = [(s, i, p) for s, pairs in sets.items() for i, p in enumerate(pairs[:n_show])]
    fig, axes = plt.subplots(len(shown), len(methods) + 1, figsize=((len(methods) + 1) * scale, len(shown) * scale),
                             squeeze=False)
    by = per_image.set_index(["set", "image", "method"])
    for r, (s, i, p) in enumerate(shown):
        for c, m in enumerate([*methods, "sharp"]):
            ax = axes[r, c]
            ax.imshow(p.x if m == "sharp" else outputs[s][m][i])
            row = by.loc[(s, p.name, methods[0] if m == "sharp" else m)]
            label = f"OCR {row.ocr_sharp:.2f}" if m == "sharp" else f"{row.psnr:.1f} dB, OCR {row.ocr:.2f}"
            ax.set(xticks=[], yticks=[], title=m.replace(" (", "\n(") if r == 0 else "")
            ax.set_xlabel(label, fontsize=6)
            ax.title.set_fontsize(7)
        axes[r, 0].set_ylabel(f"{s}\n'{p.word}'", fontsize=7)
    fig.tight_layout(pad=0.3)
    return fig


def fig4_bars(per_image: pd.DataFrame, seed: int = 0) -> Figure:
    """Mean PSNR and OCR accuracy per method, a bar per set, with the 95 % percentile-bootstrap interval of the mean."""
    def mean_ci(v: pd.Series) -> tuple[float, float, float]:
        if len(v) < 2 or np.ptp(v) == 0:
            return (float(v.mean()),) * 3
        ci = stats.bootstrap((v.to_numpy(),), np.mean, n_resamples=2000, method="percentile",
                             random_state=np.random.default_rng(seed)).confidence_interval
        return float(v.mean()), float(ci.low), float(ci.high)

    methods, set_names = list(dict.fromkeys(per_image.method)), list(dict.fromkeys(per_image.set))
    fig, axes = plt.subplots(1, 2, figsize=(2 * max(4.0, 0.8 * len(methods)), 3.4))
    for ax, metric, label in zip(axes, ("psnr", "ocr"), ("PSNR (dB)", "OCR character accuracy")):
        for j, s in enumerate(set_names):
            mean, lo, hi = (np.array(v) for v in zip(*[
                mean_ci(per_image[(per_image.set == s) & (per_image.method == m)][metric]) for m in methods]))
            ax.bar(np.arange(len(methods)) + (j - (len(set_names) - 1) / 2) * 0.8 / len(set_names), mean,
                   0.8 / len(set_names), label=s, yerr=np.stack([mean - lo, hi - mean]), capsize=2)
        ax.set_xticks(np.arange(len(methods)), methods, rotation=30, ha="right", fontsize=7)
        ax.set_ylabel(label)
    axes[0].legend(fontsize=7, title="test blur", title_fontsize=7)
    fig.tight_layout()
    return fig


def fig6_figure(traces: pd.DataFrame) -> Figure:
    """Fig. 6: loss and PSNR against the step for each kernel prior: the mean over images, the band their range."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for prior, g in traces[traces.phase == "solve"].groupby("kernel_prior", sort=False):
        for ax, col in zip(axes, ("loss", "psnr")):
            s = g.groupby("step")[col].agg(["mean", "min", "max"])
            (line,) = ax.plot(s.index, s["mean"], label=prior)
            ax.fill_between(s.index, s["min"], s["max"], color=line.get_color(), alpha=0.2)
    axes[0].set(yscale="log", ylabel="loss", xlabel="step")
    axes[1].set(ylabel="PSNR vs sharp (dB)", xlabel="step")
    axes[0].legend(title="kernel prior", fontsize=8)
    fig.tight_layout()
    return fig


__all__ = ["MANIFOLD_PROFILES", "PRIORS", "ManifoldConfig", "TextBlurSets", "TextPair", "fig4_bars",
           "fig4_baselines", "fig4_grid", "fig4_methods", "fig4_rows", "fig4_summary", "fig6_figure", "fig6_summary",
           "fig6_traces", "load_text_pairs", "manifold_config", "manifold_generator", "method_generator",
           "motion_sizes", "text_blur_sets"]
