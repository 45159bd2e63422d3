"""The deblurring ladder: every method on the same textured test images of each (model > test data) set.

Rows, per set: ``blurry``; ``true_code`` (the non-blind ceiling: the x-step with k = G(x, y), by the linearised
deconvolution of :mod:`blurkit.deblur.linear_xstep`); ``true_code_x8`` (the same, averaged over the 8 flips and
turns of (x, y), each with its own code: :mod:`blurkit.deblur.self_ensemble`); ``retrieved_code`` (the same
x-step with the code kernel retrieval finds for (x, y), started at G(x, y): how much of the gap is G's); the blind
presets: ``fast``, ``fast_noguard`` (the same without the guard), ``fast_adam`` (the earlier gradient fast path)
and ``paper`` (capped); ``tv_code`` and ``tv_code_noguard`` (a blind total-variation kernel of y through the set's
x-step, with and without the guard: :mod:`blurkit.experiments.tv_rows`); ``tv_kernel`` and ``tv_kernel_noguard``
(the same kind of kernel deconvolving y directly in the linear domain, with and without the blob check:
:mod:`blurkit.experiments.tv_kernel_rows`); SelfDeblur, ``classical``, SRN-Deblur
and DeblurGANv2 when asked for; ``oracle`` (the same x-step solver with the true blur,
:func:`blurkit.baselines.oracle.cell_kernel_deconvolution`: ``uniform-8``'s recorded kernel, or the camera PSF of
every 32 px cell of a GOPRO/REDS-like pair in its linear domain; skipped for data without blur records);
``kernel_code`` (the x-step with the code whose cell kernels best match the recorded ones: G's ceiling within F;
kernel-head models on data with blur records); ``lsq_code`` (the x-step with the code fitted to the non-negative
least-squares kernel of (x, y), :mod:`blurkit.space.kernel_lsq`: a non-blind extraction that uses no network and no
truth; kernel-head models); ``true_code_blend``, ``kernel_code_blend`` and ``lsq_code_blend`` (the same codes
through the blended x-step, :mod:`blurkit.deblur.blended_xstep`: the hyper-Laplacian and plug-and-play solves
averaged);
``oracle_exact`` (the same solver through the synthesis' own blur of a GOPRO/REDS-like pair, moving objects
included, :func:`blurkit.baselines.oracle.exact_blur_deconvolution`: the bound of any kernel model there); and
``no_blur_margin``: the true explanation's fit of y minus the no-blur
explanation's, ``PSNR(F(x, G(x, y)), y) - PSNR(F(y, G(y, y)), y)`` in dB (negative: Eq. 6 prefers to leave the
image blurry).

Images: the ``n`` test pairs of the data domain whose sharp ``size`` px crop has the largest gradient energy (mean
squared finite difference), the same for every method. Every (set, method, image) cell is written to the per-image
CSV as soon as it is done, and a re-run computes only the missing cells. The gains with their intervals are drawn
beside the tables (``<name>_plot.png``, :mod:`blurkit.experiments.ladder_figure`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from blurkit.baselines.oracle import cell_kernel_deconvolution, exact_blur_deconvolution
from blurkit.data.domains import get_domain
from blurkit.data.images import gradient_energy
from blurkit.deblur import tv_fallback
from blurkit.deblur.blended_xstep import LADDER_BLEND
from blurkit.deblur.deblur_config import DEBLUR_PRESETS
from blurkit.deblur.nonblind_calibration import nonblind_xstep_for
from blurkit.deblur.metrics import psnr as np_psnr
from blurkit.deblur.metrics import ssim as np_ssim
from blurkit.errors import UnknownNameError
from blurkit.experiments.deblur_report import (
    Method,
    load_pairs,
    method_blurry,
    method_classical,
    method_ours,
    method_selfdeblur,
    to_image,
    to_tensor,
)
from blurkit.experiments.ladder_figure import NOT_DEBLURRED, ladder_figure
from blurkit.experiments.ladder_files import save_cells, save_summary, summary_cells
from blurkit.experiments.ladder_keys import MODEL_FREE, method_key, row_blend
from blurkit.experiments.nonblind_rows import (
    RETRIEVED_CODE,
    TRUE_CODE_VIEWS,
    TRUE_CODE_XSTEP,
    has_cell_kernels,
    kernel_code_deblur,
    lsq_code_deblur,
    method_true_code,
    retrieval_config,
    set_xstep,
)
from blurkit.experiments.recorded_truth import known_kernels, recorded_blur
from blurkit.experiments.tv_kernel_rows import method_tv_kernel, tv_kernel_row_settings
from blurkit.experiments.tv_rows import TV_METHODS, method_tv_code, tv_guard, tv_row_settings
from blurkit.profiles import get_profile
from blurkit.progress import progress_bar
from blurkit.provenance import provenance, save_figure
from blurkit.space.code_estimator import estimator_path
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import psnr

# uniform-8 is itself a kernel-head model with supervised cell kernels (TrainConfig.kernel_weight), trained from the
# basis-head uniform-8-basis; reds-like-kernel is the same for reds-like, trained from the basis-head
# reds-like-basis; reds-like, whose G starts from each tile's least-squares kernel (KernelSpaceConfig.g_lsq), takes
# its tone curve from reds-like-kernel (until 2026-12-06 it was named reds-like-lsq, and reds-like-basis reds-like)
DEFAULT_SETS = ("reds-like>reds-like", "reds-like>gopro-like", "uniform-8>uniform-8",
                "reds-like-kernel>reds-like", "reds-like-kernel>gopro-like",
                "reds-like-basis>reds-like", "reds-like-basis>gopro-like")
DEFAULT_METHODS = ("blurry", "true_code", "fast", "classical", "no_blur_margin")
# The cap of the ``paper`` and ``official`` rows' outer steps (after their 300 warm-up steps): about 5 min an image on
# one thread of a 2-core machine, so 16 images a set fit a session. A cell's key holds the cap, so a run with another
# cap computes its cells again and drops these.
LADDER_PAPER_STEPS = 100
WORSE_DB = 0.3  # an image counts as made worse when it loses more than this against the blurry input
LADDER_COLUMNS = ["set", "method", "psnr", "ssim", "gain_db", "worse_frac", "sec_per_image", "n"]
NEEDS_ESTIMATOR = ("fast", "fast_noguard")  # rows skipped for a kernel space without a code estimator file
# rows the ladder computes itself, not through a Method
EXTRA = ("oracle", "oracle_exact", "kernel_code", "kernel_code_blend", "lsq_code", "lsq_code_blend", "no_blur_margin")
# every row the ladder can compute, in the order the CLI's help lists them
LADDER_METHODS = ("blurry", "true_code", "true_code_x8", "true_code_blend", "retrieved_code", "kernel_code",
                  "kernel_code_blend", "lsq_code", "lsq_code_blend", "oracle", "oracle_exact", "fast", "fast_noguard",
                  "fast_adam", "tv_code", "tv_code_noguard", "tv_kernel", "tv_kernel_noguard", "paper", "official",
                  "selfdeblur", "classical", "srn", "deblurganv2", "no_blur_margin")


def parse_set(name: str) -> tuple[str, str]:
    """``"reds-like>gopro-like"`` -> (model, test domain)."""
    model, sep, data = name.partition(">")
    if not sep or not model or not data:
        raise UnknownNameError(f"a ladder set is written MODEL>DATA (e.g. reds-like>gopro-like), got '{name}'")
    return model, data


def textured_pairs(domain: str, profile: str, n: int, size: int = 128) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The ``n`` test pairs whose sharp ``size`` px crop has the largest gradient energy, in name order."""
    pairs = load_pairs(domain, profile, size=size)
    ranked = sorted(pairs, key=lambda p: -gradient_energy(p[1]))[:n]
    return sorted(ranked, key=lambda p: p[0])


def no_blur_margin(model: KernelSpace, x: torch.Tensor, y: torch.Tensor) -> float:
    """``PSNR(F(x, G(x, y)), y) - PSNR(F(y, G(y, y)), y)`` in dB.

    Shape:
        x, y ``(1, C, H, W)``.
    """
    with torch.no_grad():
        true_fit = psnr(model(x, y).clamp(0, 1), y)
        blur_fit = psnr(model(y, y).clamp(0, 1), y)
    return float(true_fit - blur_fit)


def ladder_methods(names: Sequence[str], profile: str, model_name: str, baseline_runs: dict[str, Path] | None = None,
                   paper_steps: int = LADDER_PAPER_STEPS) -> dict[str, Method]:
    """Methods by name: ``blurry, true_code, true_code_x8, true_code_blend, retrieved_code, fast, fast_noguard,
    fast_adam, paper, official, selfdeblur, classical, srn, deblurganv2`` (at ``smoke`` the blind presets are the smoke
    preset; ``paper`` and ``official`` are capped at ``paper_steps``)."""
    from blurkit.experiments.bench_deblur import bench_configs

    smoke = get_profile(profile).name == "smoke"
    xstep, blend = nonblind_xstep_for(model_name, TRUE_CODE_XSTEP)  # the set's non-blind x-step, read once
    factories: dict[str, Callable[[], Method]] = {
        "blurry": method_blurry,
        "true_code": lambda: method_true_code(xstep, blend=blend),
        "true_code_x8": lambda: method_true_code(xstep, views=TRUE_CODE_VIEWS, blend=blend),
        "true_code_blend": lambda: method_true_code(xstep, blend=LADDER_BLEND),
        "retrieved_code": lambda: method_true_code(xstep, retrieval_config(smoke), blend=blend),
        "fast": lambda: method_ours("smoke" if smoke else "fast"),
        "fast_noguard": lambda: method_ours("smoke" if smoke else DEBLUR_PRESETS["fast"].replace(guard=False,
                                                                                                  fallback="none")),
        "fast_adam": lambda: method_ours("smoke" if smoke else "fast-adam"),
        "paper": lambda: method_ours(bench_configs(get_profile(profile).name, paper_steps)["paper"]),
        "official": lambda: method_ours(bench_configs(get_profile(profile).name, paper_steps)["official"], profile),
        "tv_code": lambda: method_tv_code(xstep, blend, tv_guard(model_name), *tv_row_settings(model_name, profile)),
        "tv_code_noguard": lambda: method_tv_code(xstep, blend, None, *tv_row_settings(model_name, profile)),
        "tv_kernel": lambda: method_tv_kernel(xstep, *tv_kernel_row_settings(model_name, profile),
                                              max_blobs=tv_fallback.TV_KERNEL_MAX_BLOBS),
        "tv_kernel_noguard": lambda: method_tv_kernel(xstep, *tv_kernel_row_settings(model_name, profile),
                                                      max_blobs=None),
        "selfdeblur": lambda: method_selfdeblur("smoke" if smoke else "fast"),
        "classical": lambda: method_classical(**({"kernel_size": 7, "iterations": 1} if smoke else
                                                 {"kernel_size": 31})),
    }
    out = {}
    for name in names:
        if name in EXTRA:
            continue
        if name in ("srn", "deblurganv2"):
            from blurkit.experiments.baseline_report import method_baseline

            runs = baseline_runs or {}
            if name not in runs:
                raise UnknownNameError(f"method '{name}' needs a trained run: pass --baseline {name}=RUN_DIR")
            out[name] = method_baseline(runs[name])
        elif name in factories:
            out[name] = factories[name]()
        else:
            known = sorted(LADDER_METHODS)
            raise UnknownNameError(f"unknown ladder method '{name}'; choose from {', '.join(known)}")
    return out


def summarise(per_image: pd.DataFrame) -> pd.DataFrame:
    """One row per (set, method): mean PSNR / SSIM, mean gain over blurry, share made worse, seconds, n."""
    rows = []
    for (set_name, method), g in per_image.groupby(["set", "method"], sort=False):
        if method == "no_blur_margin":
            rows.append({"set": set_name, "method": method, "psnr": np.nan, "ssim": np.nan,
                         "gain_db": g["margin_db"].mean(), "worse_frac": np.nan, "sec_per_image": np.nan,
                         "n": len(g)})
            continue
        blurry = per_image[(per_image["set"] == set_name) & (per_image["method"] == "blurry")].set_index("image")
        gain = g.set_index("image")["psnr"] - blurry["psnr"].reindex(g["image"]).to_numpy()
        rows.append({"set": set_name, "method": method, "psnr": g["psnr"].mean(), "ssim": g["ssim"].mean(),
                     "gain_db": gain.mean(), "worse_frac": float((gain < -WORSE_DB).mean()),
                     "sec_per_image": g["wall_s"].mean(), "n": len(g)})
    return pd.DataFrame(rows, columns=LADDER_COLUMNS)


BASELINE_PREFIX = {"srn": "srn-original", "deblurganv2": "deblurganv2"}  # run names shared with the notebooks


def training_domain(model_name: str) -> str:
    """The data domain a kernel space was trained on, from its provenance (``reds-like-kernel`` -> ``reds-like``)."""
    domain = KernelSpace.load(model_name).training_domain
    if domain is None:
        raise UnknownNameError(f"kernel space '{model_name}' records no training domain: pass --baseline NAME=RUN_DIR")
    return domain


def set_baseline_runs(sets: Sequence[str], methods: Sequence[str], profile: str, work: Path | None,
                      given: dict[str, Path] | None = None, threads: int | None = None,
                      progress: bool = True) -> dict[str, dict[str, Path]]:
    """The SRN-Deblur / DeblurGANv2 run of every set: ``given`` (one run for all sets) where named, else the run
    trained on the kernel space's own training domain in ``work/runs/<srn-original|deblurganv2>-<domain>``, the
    folder the notebooks share, trained there now if it is missing or stale
    (:func:`blurkit.experiments.baseline_report.ensure_baseline`)."""
    wanted = [m for m in BASELINE_PREFIX if m in methods]
    out: dict[str, dict[str, Path]] = {s: {} for s in sets}
    for set_name in sets:
        domain = None
        for m in wanted:
            if given and m in given:
                out[set_name][m] = Path(given[m])
                continue
            if work is None:
                raise UnknownNameError(f"method '{m}' needs a trained run: pass --baseline {m}=RUN_DIR or a work "
                                       "folder")
            from blurkit.experiments.baseline_report import ensure_baseline

            domain = domain or training_domain(parse_set(set_name)[0])
            out[set_name][m] = ensure_baseline(m, profile, domain, Path(work) / "runs" /
                                               f"{BASELINE_PREFIX[m]}-{domain}", threads, progress)
    return out


def run_ladder(out_dir: str | Path, sets: Sequence[str] = DEFAULT_SETS, methods: Sequence[str] = DEFAULT_METHODS,
               profile: str = "cpu", n: int = 16, size: int = 128, seed: int = 0,
               baseline_runs: dict[str, Path] | None = None, paper_steps: int = LADDER_PAPER_STEPS,
               progress: bool = True,
               name: str = "deblur_ladder", work: Path | None = None, threads: int | None = None) -> pd.DataFrame:
    """Run the ladder, resuming from ``out_dir/<name>_per_image.csv``; write both CSVs with provenance. The summary
    returned covers the sets asked for: the methods asked for, computed now where their cells are out of date, then
    every other method the per-image file holds for those sets, as stored (``carried_methods`` in the record; gains
    need the ``blurry`` cells, so asking for one method alone no longer leaves them out). The summary file and its
    figure keep the rows of every other set as the file held them (``kept_sets`` in the record:
    :func:`~blurkit.experiments.ladder_files.save_summary`), and the per-image file keeps every other cell it held
    too, including those another ladder process writes meanwhile (:func:`save_cells`).

    SRN-Deblur and DeblurGANv2 use ``baseline_runs`` where given, else the runs trained on each kernel space's
    training domain in ``work`` (:func:`set_baseline_runs`). A cell already made for another set on the same test
    data with the same key (:func:`method_key`: the method's settings and the files of the kernel space, never its
    name) is copied instead of computed again, so a model under a new name, or a model-free method
    (:data:`MODEL_FREE`), costs nothing twice. A carried cell whose key is no longer current (another model file
    under the set's name, other settings) is left out of the summary and removed from the per-image file; the
    baselines' cells are carried as stored (their runs are keyed only when asked for)."""
    out_dir = Path(out_dir)
    per_path = out_dir / f"{name}_per_image.csv"
    done = pd.read_csv(per_path, dtype={"image": str}) if per_path.exists() else pd.DataFrame()
    start = time.perf_counter()
    runs = set_baseline_runs(sets, methods, profile, work, baseline_runs, threads, progress)
    keys = {(set_name, m): method_key(m, parse_set(set_name)[0], profile, paper_steps, runs[set_name])
            for set_name in sets for m in methods}
    shared = {}  # (data domain, method, image, key) -> a stored cell, from any set
    if len(done) and "key" in done:
        for r in done.to_dict("records"):
            shared[(parse_set(r["set"])[1], r["method"], r["image"], r["key"])] = r
    carried = done[done["set"].isin(list(sets)) & ~done["method"].isin(list(methods))] if len(done) else done
    stale = carried.iloc[:0]
    if len(carried) and "key" in carried:
        current = {(st, m): method_key(m, parse_set(st)[0], profile, paper_steps)
                   for st, m in set(zip(carried["set"], carried["method"])) if m not in BASELINE_PREFIX}
        fresh = np.array([current.get((r.set, r.method), r.key) == r.key for r in carried.itertuples()], dtype=bool)
        carried, stale = carried[fresh], carried[~fresh]
    if len(done):  # cells of other sets stay in the per-image file only; other methods' are summarised as stored
        done = done[done["set"].isin(list(sets)) & done["method"].isin(list(methods))]
    if len(done):  # cells made with other settings, models or estimators than now are computed again
        current = [keys.get((r.set, r.method)) == r.key if "key" in done else False for r in done.itertuples()]
        done = done[current]
    rows = done.to_dict("records")
    have = {(r["set"], r["method"], r["image"]) for r in rows}
    record = provenance(config={"sets": list(sets), "methods": list(methods), "profile": profile, "n": n,
                                "size": size, "true_code_xstep": TRUE_CODE_XSTEP.__dict__,
                                "paper_steps": paper_steps,
                                "xstep_by_set": {sn: set_xstep(parse_set(sn)[0]).__dict__ for sn in sets},
                                "oracle": "cell_kernel_deconvolution (true kernel, or camera PSF per 32 px cell, "
                                          "in the linear domain) with the set's true_code x-step",
                                "image_rule": "largest gradient energy of the sharp crop",
                                "carried_methods": list(dict.fromkeys(carried["method"])) if len(carried) else []},
                        seed=seed)
    for set_name in sets:
        model_name, domain = parse_set(set_name)
        model = KernelSpace.load(model_name).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        pairs = textured_pairs(domain, profile, n, size)
        fns = ladder_methods(methods, profile, model_name, runs[set_name], paper_steps)
        if not get_profile(profile).name == "smoke" and not estimator_path(model_name).is_file():
            fns = {m: f for m, f in fns.items() if m not in NEEDS_ESTIMATOR}  # no blind code to start from
        if model.config.head != "kernel":  # F reads no kernel off a code cell to fit the blind kernel to
            fns = {m: f for m, f in fns.items() if m not in TV_METHODS}
        needs_kernels = {"oracle", "kernel_code", "kernel_code_blend"} & set(methods)
        kernels = known_kernels(domain, profile, size) if needs_kernels else {}
        blur_params = recorded_blur(domain, profile, size) if "oracle_exact" in methods else {}
        xstep, crf = set_xstep(model_name), get_domain(domain).crf  # read once: the estimator file holds the weight
        cell_kernels = bool(kernels) and has_cell_kernels(model, torch.from_numpy(next(iter(kernels.values()))), size)
        available = {"oracle": bool(kernels), "oracle_exact": bool(blur_params), "no_blur_margin": True,
                     "kernel_code": cell_kernels, "kernel_code_blend": cell_kernels,
                     "lsq_code": model.config.head == "kernel", "lsq_code_blend": model.config.head == "kernel"}
        extra = [m for m in EXTRA if m in methods and available[m]]
        blends = {m: row_blend(m, model_name) for m in extra}  # read once per set, not per image
        todo = [(m, i) for m in [*fns, *extra] for i in range(len(pairs)) if (set_name, m, pairs[i][0]) not in have]
        for method, i in progress_bar(todo, desc=f"ladder {set_name}", disable=not progress):
            image, x, y = pairs[i]
            xt, yt = to_tensor(x), to_tensor(y)
            row = {"set": set_name, "method": method, "image": image, "key": keys[(set_name, method)]}
            copy = shared.get((domain, method, image, row["key"]))
            if copy is not None:
                row = {**copy, "set": set_name}
            elif method == "no_blur_margin":
                row["margin_db"] = no_blur_margin(model, xt, yt)
            else:
                t0 = time.perf_counter()
                if method == "oracle":
                    out, wall = cell_kernel_deconvolution(yt, kernels[image], crf, xstep), None
                elif method == "oracle_exact":
                    out, wall = exact_blur_deconvolution(yt, blur_params[image], domain, xstep), None
                elif method in ("kernel_code", "kernel_code_blend"):
                    out = kernel_code_deblur(model, yt, xt, torch.from_numpy(kernels[image]), xstep, blends[method])
                    wall = None
                elif method in ("lsq_code", "lsq_code_blend"):
                    out, wall = lsq_code_deblur(model, yt, xt, xstep, blends[method]), None
                else:
                    out, wall = fns[method](yt, model, seed + i, xt)
                img = to_image(out.clamp(0, 1))
                row.update(psnr=np_psnr(img, x), ssim=np_ssim(img, x), wall_s=wall or time.perf_counter() - t0)
            rows.append(row)
            shared[(domain, method, image, row["key"])] = row
            save_cells(per_path, rows, {**record, "partial": True}, stale)
    per_image = pd.concat([pd.DataFrame(rows), carried], ignore_index=True) if len(carried) else pd.DataFrame(rows)
    if len(per_image):  # the summary in the order the sets and methods were asked for, carried methods last
        order = [(st, m) for st in sets
                 for m in dict.fromkeys([*methods, *(carried["method"] if len(carried) else []), *EXTRA])]
        rank = {cell: i for i, cell in enumerate(order)}
        per_image = per_image.iloc[np.argsort([rank.get((r.set, r.method), len(rank))
                                               for r in per_image.itertuples()], kind="stable")]
    summary = summarise(per_image)
    record["wall_time_s"] = time.perf_counter() - start
    held = save_cells(per_path, rows, record, stale)
    table, record = save_summary(out_dir, name, summary, sets, record)  # other sets' rows kept as the file held them
    kept = held[held["set"].isin(list(record["kept_sets"]))] if len(held) else held
    drawn = summary_cells(pd.concat([per_image, kept], ignore_index=True), table) if len(table) else per_image
    if len(drawn) and (drawn["method"] == "blurry").any() and not drawn["method"].isin(NOT_DEBLURRED).all():
        save_figure(ladder_figure(drawn), f"{name}_plot", out_dir, record)
    return summary


__all__ = ["BASELINE_PREFIX", "DEFAULT_METHODS", "DEFAULT_SETS", "EXTRA", "LADDER_COLUMNS", "LADDER_METHODS",
           "LADDER_PAPER_STEPS", "MODEL_FREE", "gradient_energy", "ladder_methods", "method_key", "method_true_code",
           "no_blur_margin", "parse_set", "run_ladder", "save_cells", "set_baseline_runs", "set_xstep", "summarise",
           "textured_pairs", "training_domain", "TRUE_CODE_XSTEP", "RETRIEVED_CODE"]
