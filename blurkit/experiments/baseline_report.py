"""The experiments of Tables 2 and 4 and supplement Table 5: data built with the kernel space, baselines trained on it.

Every step is resumable and skipped when its output is complete, so a notebook killed mid-way and run again
continues: kernel-space data (:mod:`blurkit.space.blur_swap`, :mod:`blurkit.space.blur_augment`) skips finished images,
baseline runs (:func:`blurkit.baselines.baseline_train.train_baseline`) resume from ``last.pt`` and are skipped once
``model.pt`` exists. All of it lives under one work folder, ``<work>/data/...`` and ``<work>/runs/...``.

Claims tested, each on per-image PSNRs of the same test images for both sides (``*_rows`` build them, the table
builders take them): ``diff_db`` is the mean of the paired differences, ``ci_low`` / ``ci_high`` its 95 % bootstrap
interval and ``n`` the images (:mod:`blurkit.experiments.paired`); ``verdict`` is ``holds`` when the interval lies on
the paper's side of zero, ``fails`` on the other side, ``inconclusive`` when it contains zero. ``claim`` names the
comparison (``A > B``: ``diff_db`` is A minus B); the verdict sits on A's row, and rows that test no claim have None.

* Table 2: SRN-Deblur trained on the original set beats the one trained on its blur-swapped copy, by a small
  margin (paper: 1.27 dB on REDS, 1.71 dB on GOPRO): the blur-swapped data is nearly as good as real.
* Table 4: adding transferred REDS kernels to motion-blur augmentation helps on the kernels motion blur alone does
  not cover (the REDS and GOPRO test sets; the paper's cost of 0.34 dB on motion blur itself is shown, not tested).
* Supplement Table 5: across datasets, kernel-space deblurring beats SRN-Deblur, which beats DeblurGANv2: one
  verdict per adjacent pair of that ranking, per test set.
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
from blurkit.baselines.baseline_deblur import predict_views
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
from blurkit.experiments.paired import VERDICT_COLUMNS, paired_by_image, verdict_columns
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


def _image_names(pairs: Sequence[tuple[Path, Path]]) -> list[str]:
    """The name of each test pair (its sharp file's stem): the key that pairs two methods' PSNRs image by image."""
    names = [Path(sharp).stem for sharp, _ in pairs]
    if len(set(names)) != len(names):
        raise BlurkitError(f"test pairs share a name, so they cannot be paired image by image: {names}")
    return names


@torch.no_grad()
def baseline_per_image(run: Path, pairs: Sequence[tuple[Path, Path]], views: int = 1) -> pd.DataFrame:
    """PSNR (dB) per test pair of a trained baseline's output and of the blurry input, against the sharp image
    (with ``views`` > 1, the output of the geometric self-ensemble,
    :func:`blurkit.baselines.baseline_deblur.predict_views`).

    Columns: ``image`` (the sharp file's stem), ``psnr``, ``blurry_psnr``.
    """
    net = load_baseline(run)
    rows = []
    for name, (s, b) in zip(_image_names(pairs), pairs):
        x, y = _tensor(s), _tensor(b)
        rows.append({"image": name, "psnr": float(psnr(predict_views(net, y, views), x)),
                     "blurry_psnr": float(psnr(y, x))})
    return pd.DataFrame(rows, columns=["image", "psnr", "blurry_psnr"])


def baseline_psnr(run: Path, pairs: Sequence[tuple[Path, Path]]) -> dict[str, float]:
    """Mean PSNR (dB) of a trained baseline's output and of the blurry input against the sharp images."""
    per = baseline_per_image(run, pairs)
    return {"psnr": float(per.psnr.mean()), "blurry_psnr": float(per.blurry_psnr.mean()), "n_test": len(per)}


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


ROW_COLUMNS = ["entry", "image", "psnr", "blurry_psnr", "data_ours"]
CLAIM_COLUMNS = ["claim", *VERDICT_COLUMNS]


def _rows(entry: str, per_image: pd.DataFrame, data_ours: str) -> pd.DataFrame:
    return per_image.assign(entry=entry, data_ours=data_ours)[ROW_COLUMNS]


def _entries(name: str, rows: pd.DataFrame) -> pd.DataFrame:
    """The paper's table ``name`` with ``ours`` (mean PSNR of each entry's rows) for the entries ours has, and
    ``blurry_psnr`` (mean), ``n_test`` (images) and ``data_ours`` per entry; the claim columns empty."""
    by = rows.groupby("entry", sort=False)
    df = compare(name, by.psnr.mean().to_dict())
    df = df[df.ours.notna()].reset_index(drop=True)
    for col in CLAIM_COLUMNS:
        df[col] = None
    df["blurry_psnr"] = df.entry.map(by.blurry_psnr.mean())
    df["n_test"] = df.entry.map(by.size()).astype("Int64")
    df["data_ours"] = df.entry.map(by.data_ours.first())
    return df


def _test_claim(df: pd.DataFrame, rows: pd.DataFrame, entry: str, other: str, claim: str, seed: int) -> None:
    """Set the claim columns of ``entry``'s row: "``entry`` beats ``other``" on their shared images, in the
    direction of the paper's numbers; no claim where the paper has no number for either, or where ``entry`` has
    no row or ``other`` no rows."""
    by = df.set_index("entry")
    if entry not in by.index or not (rows.entry == other).any():
        return
    paper_a, paper_b = by.paper.get(entry), by.paper.get(other)
    if paper_a is None or paper_b is None or pd.isna(paper_a) or pd.isna(paper_b) or paper_a == paper_b:
        return
    psnr_of = {e: rows[rows.entry == e].set_index("image").psnr for e in (entry, other)}
    d = paired_by_image(psnr_of[entry], psnr_of[other], "greater" if paper_a > paper_b else "less", seed=seed)
    i = df.index[df.entry == entry][0]
    for col, value in {"claim": claim, **verdict_columns(d)}.items():
        df.at[i, col] = value


def _finish(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    df["n"] = df["n"].astype("Int64")
    for col in ("diff_db", "ci_low", "ci_high"):
        df[col] = df[col].astype(float)
    return df[columns + CLAIM_COLUMNS + ["blurry_psnr", "n_test", "data_ours"]]


def table2_rows(profile: str, work: Path, models: dict[str, str], seed: int = 0, n_test: int | None = None,
                threads: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Table 2's per-image PSNRs: SRN-Deblur trained on each domain's original and on its blur-swapped training
    set, both tested on the domain's test pairs.

    ``models`` maps a domain (``reds-like``, ``gopro-like``) to the kernel space that swaps it.
    Columns: ``entry`` (``original/REDS``, ``blur-swapped/REDS``, ...), ``image``, ``psnr``, ``blurry_psnr``,
    ``data_ours``.
    """
    work = Path(work)
    frames = []
    for domain, ks in models.items():
        out = work / "data" / f"swap-{domain}"
        swapped = rebuilt(lambda: swap_dataset(ks, domain, out, seed=seed, profile=profile, progress=progress), out)
        test = _test(domain, profile, n_test)
        for kind, data in (("original", domain), ("blur-swapped", swapped)):
            run = ensure_baseline("srn", profile, data, work / "runs" / f"srn-{kind}-{domain}", threads, progress)
            desc = f"{profile} {domain} train" + (f", swapped by {ks}" if kind != "original" else "") + \
                f"; test {domain}"
            frames.append(_rows(f"{kind}/{PAPER_NAMES[domain]}", baseline_per_image(run, test), desc))
    return pd.concat(frames, ignore_index=True)


def table2(rows: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Table 2 beside the paper, from :func:`table2_rows`.

    Columns: ``entry, paper, ours, gap_paper, gap_ours`` (original minus blur-swapped mean PSNR, per dataset), the
    claim columns (on ``original/*``: original > blur-swapped, per test image), ``blurry_psnr, n_test, data_ours``.
    """
    df = _entries("table2_blur_swapped_training", rows)
    by = df.set_index("entry")
    names = [e.split("/")[1] for e in df.entry]
    for col in ("paper", "ours"):
        df[f"gap_{col}"] = [by[col].get(f"original/{n}", np.nan) - by[col].get(f"blur-swapped/{n}", np.nan)
                            for n in names]
    for name in dict.fromkeys(names):
        _test_claim(df, rows, f"original/{name}", f"blur-swapped/{name}", "original > blur-swapped", seed)
    return _finish(df, ["entry", "paper", "ours", "gap_paper", "gap_ours"])


TABLE4_CLAIMED = ("REDS", "GOPRO")  # the test sets of kernels motion blur alone does not cover


def table4_rows(profile: str, work: Path, models: dict[str, str], seed: int = 0, n_test: int | None = None,
                threads: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Table 4's per-image PSNRs: SRN-Deblur trained on motion-blur augmentation alone (``imgaug``) and combined with
    transferred REDS kernels (``comb.``), each tested on every test set.

    ``models`` maps ``reds-like`` (and ``gopro-like`` for the third test set, if given) to kernel spaces. Training
    and test images are the default photos' sharp crops (train / test split). Columns as :func:`table2_rows`.
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
    frames = []
    train_desc = {"imgaug": "motion blur", "comb.": "motion blur and transferred reds-like kernels"}
    for kind, train_data in (("imgaug", motion), ("comb.", combined)):
        run = ensure_baseline("srn", profile, train_data, work / "runs" / f"srn-{kind.rstrip('.')}", threads,
                              progress)
        for test_name, folder in tests.items():
            frames.append(_rows(f"{kind}/test {test_name}", baseline_per_image(run, _test(folder, profile, n_test)),
                                f"train: photos + {train_desc[kind]}; test: {folder.name}"))
    return pd.concat(frames, ignore_index=True)


def table4(rows: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Table 4 beside the paper, from :func:`table4_rows`.

    Columns as :func:`table2`, with ``gap_*`` the combined minus the motion-only PSNR. The claim (on
    ``comb./test REDS`` and ``comb./test GOPRO``): comb. > imgaug on the same test images.
    """
    df = _entries("table4_blur_augmentation", rows)
    by = df.set_index("entry")
    tests_of = [e.split("/")[1] for e in df.entry]
    for col in ("paper", "ours"):
        df[f"gap_{col}"] = [by[col].get(f"comb./{t}", np.nan) - by[col].get(f"imgaug/{t}", np.nan) for t in tests_of]
    for test in dict.fromkeys(tests_of):
        if test.removeprefix("test ") in TABLE4_CLAIMED:
            _test_claim(df, rows, f"comb./{test}", f"imgaug/{test}", "comb. > imgaug", seed)
    return _finish(df, ["entry", "paper", "ours", "gap_paper", "gap_ours"])


def kernel_space_per_image(model: str | KernelSpace, pairs: Sequence[tuple[Path, Path]], config: str = "fast",
                           seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """PSNR (dB) per test pair of kernel-space blind deblurring (:func:`blurkit.deblur.solver.deblur`, seed
    ``seed + i`` for the i-th pair) and of the blurry input, against the sharp image. Columns as
    :func:`baseline_per_image`."""
    ks = KernelSpace.load(model) if not isinstance(model, KernelSpace) else model
    cfg = deblur_config(config)
    rows = []
    names = _image_names(pairs)
    for i, (s, b) in enumerate(progress_bar(pairs, desc="kernel-space deblur", disable=not progress, leave=False)):
        x, y = _tensor(s), _tensor(b)
        out = deblur(ks, y, cfg, seed=seed + i, progress=False).x.clamp(0, 1)
        rows.append({"image": names[i], "psnr": float(psnr(out, x)), "blurry_psnr": float(psnr(y, x))})
    return pd.DataFrame(rows, columns=["image", "psnr", "blurry_psnr"])


def kernel_space_psnr(model: str | KernelSpace, pairs: Sequence[tuple[Path, Path]], config: str = "fast",
                      seed: int = 0, progress: bool = True) -> dict[str, float]:
    """Mean PSNR (dB) of kernel-space blind deblurring (:func:`blurkit.deblur.solver.deblur`) against the sharp images."""
    per = kernel_space_per_image(model, pairs, config, seed, progress)
    return {"psnr": float(per.psnr.mean()), "n_test": len(per)}


SUPP5_RANKING = ("ours", "SRN-Deblur", "DeblurGANv2")  # the paper's, best first


def supp_table5_rows(profile: str, work: Path, models: dict[str, str | None], seed: int = 0,
                     n_test: int | None = None, n_test_ours: int | None = 16, deblur: str = "fast",
                     threads: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Supplement Table 5's per-image PSNRs: train on gopro-like and test on hide-like, and the reverse.

    The paper's row label names one dataset without saying whether it is the training or test set; here
    ``GOPRO/...`` is trained on gopro-like and tested on hide-like (and ``HIDE/...`` the reverse). ``models``
    maps each training domain to its kernel space for the ``ours`` rows (on the first ``n_test_ours`` test pairs,
    which the baselines are tested on too); a domain mapped to None gets no ``ours`` rows. SRN-Deblur runs are
    shared with :func:`table2_rows` when the work folder is. Columns as :func:`table2_rows`.
    """
    work = Path(work)
    frames = []
    for train_dom, test_dom in (("gopro-like", "hide-like"), ("hide-like", "gopro-like")):
        test = _test(test_dom, profile, n_test)
        name = PAPER_NAMES[train_dom]
        desc = f"{profile}: train {train_dom}, test {test_dom}"
        for label, model in (("SRN-Deblur", "srn"), ("DeblurGANv2", "deblurganv2")):
            prefix = "srn-original" if model == "srn" else model
            run = ensure_baseline(model, profile, train_dom, work / "runs" / f"{prefix}-{train_dom}", threads,
                                  progress)
            frames.append(_rows(f"{name}/{label}", baseline_per_image(run, test), desc))
        if models.get(train_dom):
            sub = test[:n_test_ours] if n_test_ours else test
            frames.append(_rows(f"{name}/ours", kernel_space_per_image(models[train_dom], sub, deblur, seed, progress),
                                desc + f", kernel space {models[train_dom]} ({deblur} solver)"))
    return pd.concat(frames, ignore_index=True)


def supp_table5(rows: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Supplement Table 5 beside the paper, from :func:`supp_table5_rows`.

    The claim, ours > SRN-Deblur > DeblurGANv2, is tested per adjacent pair of that ranking and per test set, on
    the images both have (``ours`` may have fewer): on ``*/ours`` ours > SRN-Deblur, on ``*/SRN-Deblur``
    SRN-Deblur > DeblurGANv2, each only where the paper ranks the pair that way.
    """
    df = _entries("supp_table5_cross_dataset", rows)
    for name in dict.fromkeys(e.split("/")[0] for e in df.entry):
        for hi, lo in zip(SUPP5_RANKING, SUPP5_RANKING[1:]):
            a, b = f"{name}/{hi}", f"{name}/{lo}"
            paper = df.set_index("entry").paper
            if a in paper.index and b in paper.index and paper[a] > paper[b]:  # a claim the paper makes
                _test_claim(df, rows, a, b, f"{hi} > {lo}", seed)
    return _finish(df, ["entry", "paper", "ours"])


def method_baseline(run: Path) -> Callable:
    """A trained baseline as a method of :func:`blurkit.experiments.deblur_report.deblur_methods`."""
    net = load_baseline(run)

    @torch.no_grad()
    def run_one(y: torch.Tensor, model: KernelSpace, seed: int, reference: torch.Tensor) -> tuple[torch.Tensor, float]:
        t0 = time.perf_counter()
        out = predict(net, y)
        return out, time.perf_counter() - t0
    return run_one


__all__ = ["baseline_per_image", "baseline_psnr", "combine_folders", "ensure_baseline", "kernel_space_per_image",
           "kernel_space_psnr", "method_baseline", "supp_table5", "supp_table5_rows", "table2", "table2_rows",
           "table4", "table4_rows"]
