"""Helpers shared by the per-image solvers (deblurring, SelfDeblur, kernel retrieval): a frozen model and a loop
that solves each image of a batch on its own under one progress bar."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, TypeVar

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
