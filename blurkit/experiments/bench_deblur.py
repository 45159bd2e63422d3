"""``blurkit bench deblur``: PSNR versus wall time of the paper-faithful schedule and the fast path, same images.

Both runs deblur the same held-out test pairs with the same kernel space in the same process, one after the
other, and log PSNR against the sharp image over time. The summary gives, per image, the paper schedule's final
PSNR and wall time, the fast path's, and the fast path's time to come within ``tolerance_db`` of the paper
schedule's final PSNR (NaN when it never does), as a ratio of the paper schedule's time, and the fast path's gains
over the blurry input and over SelfDeblur (run on the same images).

Outputs in ``out_dir``: ``deblur.csv`` (summary), ``deblur_trace.csv`` (the PSNR/time curves), each with a
``.meta.json``, and ``deblur_psnr_vs_time.png``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch

from blurkit.baselines.selfdeblur import selfdeblur
from blurkit.deblur.deblur_config import DEBLUR_PRESETS, DeblurConfig
from blurkit.deblur.solver import deblur
from blurkit.experiments.deblur_report import load_pairs, to_tensor
from blurkit.files import write_text
from blurkit.profiles import get_profile
from blurkit.provenance import provenance, save_figure, save_result
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import psnr


def bench_configs(profile: str, paper_steps: int | None = None) -> dict[str, DeblurConfig]:
    """The schedules compared: ``paper`` and the official code's variant ``official`` (both capped at
    ``paper_steps``), and ``fast``; tiny ones at ``smoke``."""
    paper, official, fast = DEBLUR_PRESETS["paper"], DEBLUR_PRESETS["official"], DEBLUR_PRESETS["fast"]
    if profile == "smoke":
        smoke = DEBLUR_PRESETS["smoke"]
        paper, official = (cfg.replace(steps=paper_steps or 6, warmup_steps=2, log_every=2, dip=smoke.dip)
                           for cfg in (paper, official))
        fast = fast.replace(steps=6, log_every=2)
    elif paper_steps is not None:
        paper, official = (cfg.replace(steps=paper_steps, log_every=max(1, min(cfg.log_every, paper_steps // 20)))
                           for cfg in (paper, official))
    return {"paper": paper, "official": official, "fast": fast}


def time_to_reach(trace: pd.DataFrame, target: float) -> float:
    """First logged time after the start at which the trace's PSNR is ``>= target`` (NaN if never).

    The ``start`` row (the initial estimate, before any work) does not count: an input already near the target
    would otherwise "reach" it at no cost.
    """
    trace = trace[trace.phase != "start"] if "phase" in trace else trace
    hit = trace[trace.psnr >= target]
    return float(hit.time_s.iloc[0]) if len(hit) else math.nan


def model_file_hashes(model: str, with_estimator: bool) -> dict[str, str | None]:
    """``model_sha256`` of the kernel space's file and, ``with_estimator``, ``estimator_sha256`` of its code
    estimator's file (None where it has none) and ``refiner_sha256`` of its x-step refiner's (where it has one):
    what a stored result made with them is keyed on."""
    from blurkit.deblur.refiner import refiner_path
    from blurkit.files import sha256_file
    from blurkit.space.code_estimator import estimator_path
    from blurkit.space.kernel_space import checkpoint_path

    files = {"model_sha256": sha256_file(checkpoint_path(model))}
    if with_estimator:
        est = estimator_path(model)
        files["estimator_sha256"] = sha256_file(est) if est.is_file() else None
        refiner = refiner_path(model)
        if refiner.is_file():  # only where there is one, so that earlier results' keys stay valid
            files["refiner_sha256"] = sha256_file(refiner)
    return files


def _cell_path(out_dir: str | Path, image: str, schedule: str, cfg: DeblurConfig, model: str, seed: int,
               space: KernelSpace) -> Path:
    """Where one finished (image, schedule) run is kept, keyed on its settings, the kernel space's file, for a
    schedule that starts from the blind code estimator the estimator's file, and for one with a fallback the
    fallback's settings (:func:`blurkit.deblur.tv_fallback.fallback_record`), so a re-run resumes and a changed
    model, estimator or fallback is run again. ``space`` is the kernel space ``model`` names, as the bench holds it."""
    files = model_file_hashes(model, cfg.k_init == "estimate")
    parts = [cfg.to_dict(), str(model), seed, files]
    if cfg.fallback != "none":
        from blurkit.deblur.tv_fallback import fallback_record

        parts.append(fallback_record(space, cfg.fallback_iters))
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]
    return Path(out_dir) / "deblur_cells" / f"{image}.{schedule}.{key}.json"


def bench_deblur(out_dir: str | Path, profile: str = "cpu", model: str = "default", domain: str = "gopro-like",
                 n_images: int = 3, paper_steps: int | None = None, tolerance_db: float = 0.3,
                 threads: int | None = None, seed: int = 0, with_selfdeblur: bool = True) -> pd.DataFrame:
    """Run both schedules on ``n_images`` held-out pairs of ``domain``; write the tables and figure; return the summary.

    Every finished (image, schedule) run is kept under ``out_dir/deblur_cells/`` (keyed on its settings), so an
    interrupted bench resumes where it stopped.

    With ``with_selfdeblur`` SelfDeblur (its ``fast`` preset; ``smoke`` at the smoke profile) runs on the same
    images too, for the fast path's gain over it.
    """
    if threads:
        torch.set_num_threads(threads)
    prof = get_profile(profile)
    configs = bench_configs(prof.name, paper_steps)
    ks = KernelSpace.load(model)
    pairs = load_pairs(domain, prof, limit=n_images)
    start = time.perf_counter()
    traces, rows = [], []
    for name, x, y in pairs:
        xt, yt = to_tensor(x), to_tensor(y)
        blurry = float(psnr(yt, xt)[0])
        runs = {}
        for sched in ("paper", "fast"):  # the bench times these two (the ladder also runs ``official``)
            cfg = configs[sched]
            cell = _cell_path(out_dir, name, sched, cfg, model, seed, ks)
            if cell.exists():  # resume: this (image, schedule) finished in an earlier run
                done = json.loads(cell.read_text())
                tr, out_psnr, wall = pd.DataFrame(done["trace"]), done["psnr"], done["wall_s"]
            else:
                res = deblur(ks, yt, cfg, seed=seed, reference=xt, progress=True)
                tr = res.trace.assign(schedule=sched, image=name)
                out_psnr, wall = float(psnr(res.x, xt)[0]), res.wall_s[0]
                write_text(cell, json.dumps({"psnr": out_psnr, "wall_s": wall,
                                             "trace": tr.to_dict(orient="list")}))
            traces.append(tr)
            runs[sched] = (tr, out_psnr, wall)
        paper_tr, paper_psnr, paper_wall = runs["paper"]
        fast_tr, fast_psnr, fast_wall = runs["fast"]
        t_reach = time_to_reach(fast_tr, paper_psnr - tolerance_db)
        extra = {}
        if with_selfdeblur:
            sd = selfdeblur(yt, "smoke" if prof.name == "smoke" else "fast", seed=seed, progress=True)
            sd_psnr = float(psnr(sd.x, xt)[0])
            extra = {"selfdeblur_psnr": sd_psnr, "selfdeblur_wall_s": sd.wall_s[0],
                     "fast_gain_vs_selfdeblur_db": fast_psnr - sd_psnr}
        rows.append({"image": name, "psnr_blurry": blurry, "paper_psnr": paper_psnr, "paper_wall_s": paper_wall,
                     "paper_steps": configs["paper"].steps, "fast_psnr": fast_psnr, "fast_wall_s": fast_wall,
                     "fast_steps": configs["fast"].steps, "fast_time_to_paper_psnr_s": t_reach,
                     "time_ratio_fast_to_paper": t_reach / paper_wall if paper_wall > 0 else math.nan,
                     "fast_minus_paper_db": fast_psnr - paper_psnr, "fast_gain_vs_blurry_db": fast_psnr - blurry,
                     **extra})
    summary = pd.DataFrame(rows)
    mean = summary.drop(columns="image").mean(numeric_only=True).to_dict()
    summary = pd.concat([summary, pd.DataFrame([{"image": "mean", **mean}])], ignore_index=True)
    trace = pd.concat(traces, ignore_index=True)
    record = provenance(config={"profile": prof.name, "domain": domain, "n_images": n_images,
                                "tolerance_db": tolerance_db, "threads": torch.get_num_threads(),
                                "with_selfdeblur": with_selfdeblur,
                                "schedules": {k: v.to_dict() for k, v in configs.items()}},
                        seed=seed, wall_time_s=time.perf_counter() - start, model=model,
                        model_provenance=ks.provenance)
    save_result(summary, "deblur", out_dir, record)
    save_result(trace, "deblur_trace", out_dir, record)
    save_figure(psnr_vs_time_figure(trace, summary), "deblur_psnr_vs_time", out_dir, record)
    plt.close("all")
    return summary


def psnr_vs_time_figure(trace: pd.DataFrame, summary: pd.DataFrame):  # type: ignore[no-untyped-def]
    """PSNR against wall time, one panel per image, both schedules, the blurry input dashed."""
    images = [i for i in summary.image if i != "mean"]
    fig, axes = plt.subplots(1, len(images), figsize=(3.6 * len(images), 3.0), squeeze=False)
    for ax, name in zip(axes[0], images):
        for sched, colour in (("paper", "tab:blue"), ("fast", "tab:orange")):
            tr = trace[(trace.image == name) & (trace.schedule == sched)]
            ax.plot(tr.time_s, tr.psnr, color=colour, label=sched)
        ax.axhline(float(summary.loc[summary.image == name, "psnr_blurry"].iloc[0]), color="gray", ls="--",
                   label="blurry")
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlabel("wall time (s)")
        ax.set_title(str(name), fontsize=9)
    axes[0, 0].set_ylabel("PSNR vs sharp (dB)")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig
