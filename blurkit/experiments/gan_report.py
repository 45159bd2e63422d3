"""What can be measured honestly about a text generator without an Inception network (no FID here).

* **Readability**: Tesseract reads each image (:func:`blurkit.deblur.ocr.read_text`) and the reading is scored
  against the *closest* word of the domain's vocabulary (train and test words): ``1 - edit distance / length``,
  0 for an empty reading. Generated crops have no true word, so the nearest word stands in for it; the same score on
  held-out real test crops is the reference a good generator should approach.
* **Memorisation**: the nearest-neighbour PSNR of each image to the training crops (the highest PSNR over all of
  them). Held-out real test crops give the reference: samples much closer to the training set than unseen real
  crops are would be copies.

Both measures are reported per image and as means with a 95 % bootstrap interval, for ``sample`` and
``real-test`` rows alike.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from blurkit.data.text_crops import split_words, text_crops_dir
from blurkit.deblur.ocr import edit_distance, read_text, tesseract_version
from blurkit.experiments.paired import paired_difference
from blurkit.progress import progress_bar

SAMPLE_COLUMNS = ["kind", "index", "read", "nearest_word", "readability", "nn_psnr", "nn_index"]


def readability(read: str, vocabulary: Sequence[str]) -> tuple[str, float]:
    """(closest vocabulary word, ``max(0, 1 - edit distance / len(word))``) of an OCR reading; ("", 0) if empty."""
    r = "".join(read.split()).lower()
    if not r:
        return "", 0.0
    best = min(vocabulary, key=lambda w: (edit_distance(r, w.lower()) / len(w), w))
    return best, max(0.0, 1.0 - edit_distance(r, best.lower()) / len(best))


@torch.no_grad()
def nearest_neighbour_psnr(images: torch.Tensor, train: torch.Tensor, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Highest PSNR (dB) of each image to any training image, and that image's index.

    Shape:
        images ``(N, 3, S, S)`` and train ``(M, 3, S, S)``, float in [0, 1] (or uint8) -> ``(N,)``, ``(N,)``.
    """
    a = images.float().flatten(1) / (255.0 if images.dtype == torch.uint8 else 1.0)
    best_mse = torch.full((a.shape[0],), float("inf"))
    best_idx = torch.zeros(a.shape[0], dtype=torch.long)
    for start in range(0, train.shape[0], chunk):
        b = train[start:start + chunk].float().flatten(1) / (255.0 if train.dtype == torch.uint8 else 1.0)
        mse = torch.cdist(a.double(), b.double()).pow(2) / a.shape[1]
        m, i = mse.min(1)
        better = m.float() < best_mse
        best_mse[better], best_idx[better] = m.float()[better], i[better] + start
    return (-10 * torch.log10(best_mse.clamp_min(1e-12))).numpy(), best_idx.numpy()


def score_images(kind: str, images: torch.Tensor, train: torch.Tensor, vocabulary: Sequence[str],
                 progress: bool = True) -> pd.DataFrame:
    """Per-image readability and nearest-neighbour PSNR. Columns: :data:`SAMPLE_COLUMNS`.

    Shape:
        images ``(N, 3, S, S)`` in [0, 1]; train ``(M, 3, S, S)`` (uint8 or [0, 1]).
    """
    nn_psnr, nn_idx = nearest_neighbour_psnr(images, train)
    rows = []
    for i, img in enumerate(progress_bar(images, desc=f"OCR {kind}", disable=not progress, leave=False)):
        read = read_text(img.permute(1, 2, 0).float().numpy())
        word, score = readability(read, vocabulary)
        rows.append({"kind": kind, "index": i, "read": read, "nearest_word": word, "readability": score,
                     "nn_psnr": float(nn_psnr[i]), "nn_index": int(nn_idx[i])})
    return pd.DataFrame(rows, columns=SAMPLE_COLUMNS)


def _mean_ci(values: np.ndarray, seed: int) -> tuple[float, float, float]:
    """Mean and 95 % bootstrap interval: :func:`blurkit.experiments.paired.paired_difference` against zero."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2:
        return float(v.mean()), float(v.mean()), float(v.mean())
    d = paired_difference(v, np.zeros_like(v), seed=seed)
    return d.diff_db, d.ci_low, d.ci_high


def summarise(per_image: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Mean and 95 % bootstrap interval of each measure per kind. Columns: ``kind, measure, mean, ci_low, ci_high, n``."""
    rows = []
    for kind, g in per_image.groupby("kind", sort=False):
        for measure in ("readability", "nn_psnr"):
            mean, lo, hi = _mean_ci(g[measure].to_numpy(), seed)
            rows.append({"kind": kind, "measure": measure, "mean": mean, "ci_low": lo, "ci_high": hi, "n": len(g)})
    return pd.DataFrame(rows)


def gan_text_report(model: str | os.PathLike, profile: str, results_dir: str | os.PathLike, n: int = 64,
                    seed: int = 0, truncation: float = 1.0, name: str = "gan_text",
                    progress: bool = True) -> pd.DataFrame:
    """Score ``n`` samples of a text generator and ``n`` held-out real test crops of the same profile; write
    ``<name>_per_image.csv``, ``<name>_summary.csv`` (:func:`summarise`) and ``<name>_samples.png`` (samples above,
    each sample's nearest training crop below) into ``results_dir`` with provenance. Returns the summary."""
    import matplotlib.pyplot as plt

    from blurkit.generator.gan_train import image_grid, load_image_folder, load_trained_generator, sample_images
    from blurkit.provenance import provenance, save_figure, save_result

    gen = load_trained_generator(model)
    size = gen.config.size
    train = load_image_folder(text_crops_dir(profile, "train"), size, progress=progress)
    test = load_image_folder(text_crops_dir(profile, "test"), size, progress=progress)[:n].float() / 255
    samples = sample_images(gen, n, seed, truncation)
    vocabulary = split_words("train") + split_words("test")
    per = pd.concat([score_images("sample", samples, train, vocabulary, progress),
                     score_images("real-test", test, train, vocabulary, progress)], ignore_index=True)
    summary = summarise(per, seed)
    record = provenance(config={"model": str(model), "profile": profile, "n": n, "truncation": truncation,
                                "generator": gen.config.to_dict(), "generator_provenance": gen.provenance,
                                "tesseract": tesseract_version(), "train_crops": int(train.shape[0])}, seed=seed)
    out = Path(results_dir)
    save_result(per, f"{name}_per_image", out, record)
    save_result(summary, f"{name}_summary", out, record)
    k = min(n, 16)
    nn_idx = per[per.kind == "sample"].nn_index.to_numpy()[:k]
    both = torch.cat([samples[:k], train[torch.from_numpy(nn_idx.copy())].float() / 255])
    fig, ax = plt.subplots(figsize=(8, 4.6))
    ax.imshow(image_grid(both[:k]).clip(0, 1), extent=None)
    ax.set_title(f"{k} samples of the generator (seed {seed}, truncation {truncation})")
    ax.axis("off")
    save_figure(fig, f"{name}_samples", out, record)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 4.6))
    ax.imshow(image_grid(both[k:]).clip(0, 1))
    ax.set_title("nearest training crop of each sample above (by PSNR)")
    ax.axis("off")
    save_figure(fig, f"{name}_nearest", out, record)
    plt.close(fig)
    return summary


__all__ = ["SAMPLE_COLUMNS", "gan_text_report", "nearest_neighbour_psnr", "readability", "score_images", "summarise"]
