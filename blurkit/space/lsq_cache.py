"""The least-squares kernels of a list of pairs, computed once and kept on disk: what a ``g_lsq`` G reads in training.

:func:`blurkit.space.lsq_extractor.tile_lsq_kernels` costs about 3.5 s per 128 px tile on one core, far too slow
inside a training step, so training computes every pair's estimate before its first step and hands it to G with
the batch (flipped and turned with the crop). The file is keyed by the pairs' bytes, F's tone curve (the estimate
is made in its domain), the kernel size and the estimate's settings, lives under ``$BLURKIT_DATA/lsq-cache/`` and is
rewritten atomically after every chunk of pairs, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn as nn

from blurkit.data.images import read_image
from blurkit.data.pairs import Pair, pairs_sha256
from blurkit.files import atomic_path
from blurkit.paths import data_root
from blurkit.progress import progress_bar
from blurkit.space.blocks import pad_to_multiple
from blurkit.space.kernel_lsq import LSQ_ITERS, LSQ_REJECT, LSQ_ROBUST, LSQ_RIDGE, LSQ_WEIGHTS
from blurkit.space.lsq_extractor import tile_lsq_kernels
from blurkit.space.lsq_store import tone_digest

CHUNK = 8  # pairs per batched estimate (and per rewrite of the file)


def cache_file(pairs: Sequence[Pair], size: int, tone: nn.Module | None) -> Path:
    """Where the estimates of ``pairs`` for this tone curve and kernel size are kept."""
    key = json.dumps({"pairs": pairs_sha256(pairs), "tone": tone_digest(tone), "size": size, "iters": LSQ_ITERS,
                      "ridge": LSQ_RIDGE, "robust": LSQ_ROBUST, "weights": LSQ_WEIGHTS, "reject": LSQ_REJECT})
    return data_root() / "lsq-cache" / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.pt"


def _batch(pairs: Sequence[Pair]) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.stack([torch.from_numpy(read_image(s)).permute(2, 0, 1) for s, _ in pairs]).float()
    y = torch.stack([torch.from_numpy(read_image(b)).permute(2, 0, 1) for _, b in pairs]).float()
    return pad_to_multiple(x)[0], pad_to_multiple(y)[0]


def pair_lsq_kernels(pairs: Sequence[Pair], size: int, tone: nn.Module | None,
                     progress: bool = True) -> list[torch.Tensor]:
    """The least-squares kernel of every 128 px tile of every pair (padded to multiples of 128), from the cache
    file where it has them; the rest are computed (in chunks of pairs of one size) and added to it.

    Shape:
        one ``(H/128, W/128, size, size)`` tensor per pair.
    """
    path = cache_file(pairs, size, tone)
    done: dict[int, torch.Tensor] = torch.load(path, weights_only=True) if path.is_file() else {}
    todo = [i for i in range(len(pairs)) if i not in done]
    by_size: dict[tuple[int, ...], list[int]] = {}
    for i in todo:
        by_size.setdefault(read_image(pairs[i][0]).shape, []).append(i)
    chunks = [group[j:j + CHUNK] for group in by_size.values() for j in range(0, len(group), CHUNK)]
    bar = progress_bar(total=len(todo), desc="least-squares kernels", unit="pair", disable=not progress or not todo)
    path.parent.mkdir(parents=True, exist_ok=True)
    for chunk in chunks:
        x, y = _batch([pairs[i] for i in chunk])
        with torch.no_grad():
            kernels = tile_lsq_kernels(x, y, size, tone)
        done.update({i: k.clone() for i, k in zip(chunk, kernels)})
        with atomic_path(path) as tmp:
            torch.save(done, tmp)
        bar.update(len(chunk))
    bar.close()
    return [done[i] for i in range(len(pairs))]


__all__ = ["CHUNK", "cache_file", "pair_lsq_kernels", "tone_digest"]
