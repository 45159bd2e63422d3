"""Summaries and figures of the embedded default data (used by ``notebooks/00_data``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from blurkit.data.default_data import DEFAULT_DOMAINS, default_set
from blurkit.data.images import read_image
from blurkit.data.synthesis import blur_amount
from blurkit.profiles import Profile, get_profile


def load_pairs(folder: Path, limit: int | None = None) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(sharp, blur, name) triples of a paired folder written by :func:`blurkit.data.default_data.synth_folder`."""
    m = json.loads((Path(folder) / "manifest.json").read_text())
    names = [p["name"] for p in m["pairs"]][:limit]
    return [(read_image(Path(folder) / "sharp" / n), read_image(Path(folder) / "blur" / n), n) for n in names]


def summarize_default(profile: str | Profile, domains: Sequence[str] = DEFAULT_DOMAINS) -> pd.DataFrame:
    """Per domain and split: pair count, size, photos used, and how blurry the pairs are (PSNR/SSIM of blur vs sharp)."""
    prof = get_profile(profile)
    rows = []
    for domain in domains:
        for split in ("train", "test"):
            folder = default_set(domain, split, prof)
            m = json.loads((folder / "manifest.json").read_text())
            pairs = load_pairs(folder)
            psnr = [peak_signal_noise_ratio(s, b, data_range=1.0) for s, b, _ in pairs]
            ssim = [structural_similarity(s, b, data_range=1.0, channel_axis=-1) for s, b, _ in pairs]
            rows.append({"domain": domain, "split": split, "pairs": len(pairs), "size": m["size"],
                         "photos": len({p["source"] for p in m["pairs"]}),
                         "psnr_blur_vs_sharp": float(np.mean(psnr)), "ssim_blur_vs_sharp": float(np.mean(ssim)),
                         "blur_amount": float(np.mean([blur_amount(s, b) for s, b, _ in pairs]))})
    return pd.DataFrame(rows)


def split_is_disjoint(profile: str | Profile, domains: Sequence[str] = DEFAULT_DOMAINS) -> bool:
    """True when no photo feeds both the train and the test set of any domain."""
    for domain in domains:
        srcs = {}
        for split in ("train", "test"):
            m = json.loads((default_set(domain, split, profile) / "manifest.json").read_text())
            srcs[split] = {p["source"] for p in m["pairs"]}
        if srcs["train"] & srcs["test"]:
            return False
    return True
