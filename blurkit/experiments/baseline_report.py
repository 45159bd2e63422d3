"""The experiments of Tables 2 and 4 and supplement Table 5: data built with the kernel space, baselines trained on it.

Every step is resumable and skipped when its output is complete, so a notebook killed mid-way and run again
continues: kernel-space data (:mod:`blurkit.space.blur_swap`, :mod:`blurkit.space.blur_augment`) skips finished images,
baseline runs (:func:`blurkit.baselines.baseline_train.train_baseline`) resume from ``last.pt`` and are skipped once
``model.pt`` exists. All of it lives under one work folder, ``<work>/data/...`` and ``<work>/runs/...``.

Claims tested (``claim_holds``: the direction of the paper's difference, ours against ours):

* Table 2: SRN-Deblur trained on the original set beats the one trained on its blur-swapped copy, by a small
  margin (paper: 1.27 dB on REDS, 1.71 dB on GOPRO): the blur-swapped data is nearly as good as real.
* Table 4: adding transferred REDS kernels to motion-blur augmentation helps on REDS and GOPRO blur and costs a
  little on motion blur itself.
* Supplement Table 5: across datasets, kernel-space deblurring beats SRN-Deblur, which beats DeblurGANv2.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from blurkit.baselines.baseline_config import get_baseline_config
from blurkit.baselines.baseline_train import (
    RunBusyError,
    baseline_pairs,
    code_sha256,
    load_baseline,
    predict,
    run_code_sha256,
    run_data_sha256,
    train_baseline,
)
from blurkit.data.datasets import resolve_pairs
from blurkit.data.images import read_image
from blurkit.deblur.deblur_config import deblur_config
from blurkit.deblur.solver import deblur
from blurkit.errors import BlurkitError, StaleError
from blurkit.experiments.work_cache import rebuilt, run_is_stale, set_aside
from blurkit.paper import compare
from blurkit.progress import progress_bar
from blurkit.space.blur_augment import augment_dataset, motion_blur_dataset
from blurkit.space.blur_swap import swap_dataset
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import psnr

PAPER_NAMES = {"reds-like": "REDS", "gopro-like": "GOPRO", "hide-like": "HIDE"}
PHOTOS = "uniform-8"  # its sharp crops are plain crops of the default photos (the paper used FFHQ faces here)


def _tensor(path: str | os.PathLike) -> torch.Tensor:
    return torch.from_numpy(read_image(path)).permute(2, 0, 1)[None]


def ensure_baseline(model: str, profile: str, data: str | os.PathLike, run: Path, threads: int | None = None,
                    progress: bool = True) -> Path:
    """Train ``model`` on ``data`` into ``run`` unless it is finished there (resumes an interrupted run).

    When another process is training the same run (notebooks sharing a work folder), wait for it to finish. A run
    trained (or begun) on other data than ``data`` holds now, or by other code (:func:`code_sha256` of the
    network's and the training's modules), is set aside and trained again
    (:mod:`blurkit.experiments.work_cache`).
    """
    while True:
        done = run / "model.pt"
        if done.is_file():
            ckpt = torch.load(done, map_location="cpu", weights_only=True)
            pairs, _ = baseline_pairs(get_baseline_config(model, profile), data)
            if run_code_sha256(ckpt) != code_sha256(model):
                set_aside(run, f"baseline run '{run.name}' was made by other code of {model} (or its training)")
            elif not run_is_stale(done, run_data_sha256(ckpt), pairs):
                return run
            else:
                set_aside(run, f"baseline run '{run.name}' was trained on other data than '{data}' holds now")
        try:
            train_baseline(model, profile, data, run, resume=True, threads=threads, progress=progress)
        except RunBusyError:
            time.sleep(15)
        except StaleError as exc:
            set_aside(run, str(exc))


@torch.no_grad()
def baseline_psnr(run: Path, pairs: Sequence[tuple[Path, Path]]) -> dict[str, float]:
    """Mean PSNR (dB) of a trained baseline's output and of the blurry input against the sharp images."""
    net = load_baseline(run)
    outs, blurry = [], []
    for s, b in pairs:
        x, y = _tensor(s), _tensor(b)
        outs.append(float(psnr(predict(net, y), x)))
        blurry.append(float(psnr(y, x)))
    return {"psnr": float(np.mean(outs)), "blurry_psnr": float(np.mean(blurry)), "n_test": len(pairs)}


def _test(data: str | os.PathLike, profile: str, n_test: int | None) -> list:
    pairs = resolve_pairs(data, "test", profile) if not Path(str(data)).is_dir() else resolve_pairs(data)
    return pairs[:n_test] if n_test else pairs


def combine_folders(parts: dict[str, Path], out: Path) -> Path:
    """One paired folder made of several: ``out/{sharp,blur}/<part>-<name>`` symlinks.

    Re-running brings the links up to date: links to files a part no longer has are removed.

    Shape: not applicable (files only).
    """
    links = {(sub, f"{prefix}-{src.name}"): Path(src).resolve() for prefix, folder in parts.items()
             for s, b in resolve_pairs(folder) for src, sub in ((s, "sharp"), (b, "blur"))}
    for sub in ("sharp", "blur"):
        (out / sub).mkdir(parents=True, exist_ok=True)
        for old in (out / sub).iterdir():  # links of parts that no longer have that file
            if old.is_symlink() and (sub, old.name) not in links:
                old.unlink()
    for (sub, name), target in links.items():
        link = out / sub / name
        if link.is_symlink() and link.resolve() != target:
            link.unlink()
        if not link.is_symlink():
            link.symlink_to(target)
    return out


def table2(profile: str, work: Path, models: dict[str, str], seed: int = 0, n_test: int | None = None,
           threads: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Table 2: SRN-Deblur trained on each domain's original vs blur-swapped training set, tested on its test set.

    ``models`` maps a domain (``reds-like``, ``gopro-like``) to the kernel space that swaps it.
    Columns: ``entry, paper, ours, claim_holds, blurry_psnr, gap_paper, gap_ours, data_ours, n_test``.
    """
    work = Path(work)
    ours, extra = {}, {}
    for domain, ks in models.items():
        out = work / "data" / f"swap-{domain}"
        swapped = rebuilt(lambda: swap_dataset(ks, domain, out, seed=seed, profile=profile, progress=progress), out)
        test = _test(domain, profile, n_test)
        for kind, data in (("original", domain), ("blur-swapped", swapped)):
            run = ensure_baseline("srn", profile, data, work / "runs" / f"srn-{kind}-{domain}", threads, progress)
            key = f"{kind}/{PAPER_NAMES[domain]}"
            res = baseline_psnr(run, test)
            ours[key] = res["psnr"]
            extra[key] = {"blurry_psnr": res["blurry_psnr"], "n_test": res["n_test"],
                          "data_ours": f"{profile} {domain} train" + (f", swapped by {ks}" if kind != "original"
                                                                      else "") + f"; test {domain}"}
    df = compare("table2_blur_swapped_training", ours)
    df = df[df.ours.notna()].reset_index(drop=True)
    gaps = {}
    for col in ("paper", "ours"):
        for name in {k.split("/")[1] for k in ours}:
            gaps[(col, name)] = df.set_index("entry")[col].get(f"original/{name}") - \
                df.set_index("entry")[col].get(f"blur-swapped/{name}")
    names = [e.split("/")[1] for e in df.entry]
    df["gap_paper"] = [gaps[("paper", n)] for n in names]
    df["gap_ours"] = [gaps[("ours", n)] for n in names]
    df["claim_holds"] = [bool(np.sign(gaps[("paper", n)]) == np.sign(gaps[("ours", n)])) for n in names]
    for col in ("blurry_psnr", "n_test", "data_ours"):
        df[col] = [extra[e][col] for e in df.entry]
    return df


def table4(profile: str, work: Path, models: dict[str, str], seed: int = 0, n_test: int | None = None,
           threads: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Table 4: SRN-Deblur trained on motion-blur augmentation alone vs combined with transferred REDS kernels.

    ``models`` maps ``reds-like`` (and ``gopro-like`` for the third test set, if given) to kernel spaces. Training
    and test images are the default photos' sharp crops (train / test split). Columns as :func:`table2`, with
    ``gap_*`` the combined minus the motion-only PSNR.
    """
    work, data = Path(work), Path(work) / "data"
    if "reds-like" not in models:
        raise BlurkitError("table4 needs a reds-like kernel space: models={'reds-like': ...}")

    def motion_set(name: str, split: str, s: int) -> Path:
        return rebuilt(lambda: motion_blur_dataset(PHOTOS, data / name, seed=s, split=split, profile=profile,
                                                   progress=progress), data / name)

    def kernels_set(domain: str, name: str, split: str, s: int) -> Path:
        return rebuilt(lambda: augment_dataset(models[domain], domain, PHOTOS, data / name, seed=s, split=split,
                                               profile=profile, progress=progress), data / name)

    motion = motion_set("motion-train", "train", seed)
    reds = kernels_set("reds-like", "reds-kernels-train", "train", seed)
    combined = combine_folders({"motion": motion, "reds": reds}, data / "combined-train")
    tests = {"imgaug": motion_set("motion-test", "test", seed + 1)}
    for domain in ("reds-like", "gopro-like"):
        if domain in models:
            tests[PAPER_NAMES[domain]] = kernels_set(domain, f"{domain}-kernels-test", "test", seed + 1)
    ours, extra = {}, {}
    train_desc = {"imgaug": "motion blur", "comb.": "motion blur and transferred reds-like kernels"}
    for kind, train_data in (("imgaug", motion), ("comb.", combined)):
        run = ensure_baseline("srn", profile, train_data, work / "runs" / f"srn-{kind.rstrip('.')}", threads,
                              progress)
        for test_name, folder in tests.items():
            key = f"{kind}/test {test_name}"
            res = baseline_psnr(run, _test(folder, profile, n_test))
            ours[key] = res["psnr"]
            extra[key] = {"blurry_psnr": res["blurry_psnr"], "n_test": res["n_test"],
                          "data_ours": f"train: photos + {train_desc[kind]}; test: {folder.name}"}
    df = compare("table4_blur_augmentation", ours)
    df = df[df.ours.notna()].reset_index(drop=True)
    by = df.set_index("entry")
    tests_of = [e.split("/")[1] for e in df.entry]
    df["gap_paper"] = [by.paper[f"comb./{t}"] - by.paper[f"imgaug/{t}"] for t in tests_of]
    df["gap_ours"] = [by.ours[f"comb./{t}"] - by.ours[f"imgaug/{t}"] for t in tests_of]
    df["claim_holds"] = [bool(np.sign(p) == np.sign(o)) for p, o in zip(df.gap_paper, df.gap_ours)]
    for col in ("blurry_psnr", "n_test", "data_ours"):
        df[col] = [extra[e][col] for e in df.entry]
    return df


def kernel_space_psnr(model: str | KernelSpace, pairs: Sequence[tuple[Path, Path]], config: str = "fast",
                      seed: int = 0, progress: bool = True) -> dict[str, float]:
    """Mean PSNR (dB) of kernel-space blind deblurring (:func:`blurkit.deblur.solver.deblur`) against the sharp images."""
    ks = KernelSpace.load(model) if not isinstance(model, KernelSpace) else model
    cfg = deblur_config(config)
    vals = []
    for i, (s, b) in enumerate(progress_bar(pairs, desc="kernel-space deblur", disable=not progress, leave=False)):
        x, y = _tensor(s), _tensor(b)
        vals.append(float(psnr(deblur(ks, y, cfg, seed=seed + i, progress=False).x.clamp(0, 1), x)))
    return {"psnr": float(np.mean(vals)), "n_test": len(pairs)}


def supp_table5(profile: str, work: Path, models: dict[str, str | None], seed: int = 0,
                n_test: int | None = None, n_test_ours: int | None = 8, deblur: str = "fast",
                threads: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Supplement Table 5: train on gopro-like and test on hide-like, and the reverse.

    The paper's row label names one dataset without saying whether it is the training or test set; here
    ``GOPRO/...`` is trained on gopro-like and tested on hide-like (and ``HIDE/...`` the reverse). ``models``
    maps each training domain to its kernel space for the ``ours`` rows; a domain mapped to None gets no ``ours``
    row. SRN-Deblur runs are shared with :func:`table2` when the work folder is.
    """
    work = Path(work)
    ours, extra = {}, {}
    for train_dom, test_dom in (("gopro-like", "hide-like"), ("hide-like", "gopro-like")):
        test = _test(test_dom, profile, n_test)
        name = PAPER_NAMES[train_dom]
        for label, model in (("SRN-Deblur", "srn"), ("DeblurGANv2", "deblurganv2")):
            prefix = "srn-original" if model == "srn" else model
            run = ensure_baseline(model, profile, train_dom, work / "runs" / f"{prefix}-{train_dom}", threads,
                                  progress)
            res = baseline_psnr(run, test)
            ours[f"{name}/{label}"] = res["psnr"]
            extra[f"{name}/{label}"] = {"blurry_psnr": res["blurry_psnr"], "n_test": res["n_test"]}
        if models.get(train_dom):
            sub = test[:n_test_ours] if n_test_ours else test
            res = kernel_space_psnr(models[train_dom], sub, deblur, seed, progress)
            ours[f"{name}/ours"] = res["psnr"]
            extra[f"{name}/ours"] = {"blurry_psnr": float(np.mean([float(psnr(_tensor(b), _tensor(s)))
                                                                   for s, b in sub])), "n_test": len(sub)}
    df = compare("supp_table5_cross_dataset", ours)
    df = df[df.ours.notna()].reset_index(drop=True)
    by = df.set_index("entry")

    def holds(entry: str, col: str) -> bool | None:
        name, method = entry.split("/")
        beaten = {"ours": ["SRN-Deblur", "DeblurGANv2"], "SRN-Deblur": ["DeblurGANv2"]}.get(method, [])
        vals = [by[col].get(f"{name}/{m}") for m in beaten]
        if not beaten or any(v is None or pd.isna(v) for v in vals):
            return None
        return bool(all(by[col][entry] > v for v in vals))

    df["claim_holds"] = [holds(e, "ours") if holds(e, "paper") else None for e in df.entry]
    for col in ("blurry_psnr", "n_test"):
        df[col] = [extra[e][col] for e in df.entry]
    df["data_ours"] = [f"{profile}: train {e.split('/')[0].lower()}-like, test the other" for e in df.entry]
    return df


def method_baseline(run: Path) -> Callable:
    """A trained baseline as a method of :func:`blurkit.experiments.deblur_report.deblur_methods`."""
    net = load_baseline(run)

    @torch.no_grad()
    def run_one(y: torch.Tensor, model: KernelSpace, seed: int, reference: torch.Tensor) -> tuple[torch.Tensor, float]:
        t0 = time.perf_counter()
        out = predict(net, y)
        return out, time.perf_counter() - t0
    return run_one


__all__ = ["baseline_psnr", "combine_folders", "ensure_baseline", "kernel_space_psnr", "method_baseline",
           "supp_table5", "table2", "table4"]
