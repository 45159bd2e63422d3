"""Helpers shared by the per-image solvers (deblurring, SelfDeblur, kernel retrieval): a frozen model and a loop
that solves each image of a batch on its own under one progress bar."""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterator, TypeVar

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from blurkit.progress import progress_bar

T = TypeVar("T")


@contextlib.contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no parameter gradients inside the block; both restored afterwards, even on error."""
    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
        model.train(was_training)


def solve_each(n: int, solve_one: Callable[[int, tqdm | None], T], steps_per_image: int, desc: str,
               progress: bool) -> list[T]:
    """``[solve_one(i, bar) for i in range(n)]`` with one tqdm bar of ``n * steps_per_image`` steps (or None)."""
    bar = progress_bar(total=n * steps_per_image, desc=desc, unit="step", leave=False) if progress else None
    try:
        return [solve_one(i, bar) for i in range(n)]
    finally:
        if bar is not None:
            bar.close()


def log_step(rows: list[dict], index: int, phase: str, step: int, terms: dict[str, torch.Tensor], t0: float,
             x: torch.Tensor, k: torch.Tensor, reference: torch.Tensor | None, bar: tqdm | None,
             callback: Callable[[dict], None] | None) -> None:
    """Append one trace row (loss terms, time since ``t0``, PSNR against ``reference`` or NaN), update the bar's
    postfix and call ``callback`` with ``{"row", "x", "k"}``: the logging both blind solvers share.

    Shape:
        x, reference ``(1, 3, H, W)``; k the current code or kernel.
    """
    from blurkit.space.losses import psnr

    with torch.no_grad():
        ref_psnr = float(psnr(x, reference)[0]) if reference is not None else float("nan")
    row = {"image": index, "phase": phase, "step": step, **{n: float(v) for n, v in terms.items()},
           "time_s": time.perf_counter() - t0, "psnr": ref_psnr}
    rows.append(row)
    if bar is not None:
        bar.set_postfix(img=index, loss=f"{row['loss']:.4f}", psnr=f"{ref_psnr:.2f}")
    if callback is not None:
        callback({"row": row, "x": x.detach(), "k": k.detach()})
