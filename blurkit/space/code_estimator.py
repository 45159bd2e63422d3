"""A blind code estimator E(y): the kernel code of a blurry image, without its sharp image (blurkit's addition).

Eq. 6 cannot find the blur code on its own: the no-blur explanation ``x = y, k = G(y, y)`` fits y better than the
truth (the ladder's ``no_blur_margin``), so a blind search started at G(y, y) stays there. E is G's network fed the
blurry image twice, initialised from the trained G and trained, with F and G frozen, to regress the code that G
extracts from the training pair: ``min_E ||E(y) - G(x, y)||^2 / ||G(x, y)||^2``. Its estimate starts the blind solver
(:mod:`blurkit.deblur.blind_linear`) on the learned blur manifold instead of at the identity, as the official code's
warm-up towards a real training code does, but per image.

For a ``g_lsq`` space (G = the least-squares kernel of (x, y) as logits plus a learned correction), E is that G's
correction network fed (y, y) with the identity passed in as the least-squares kernel (which is what the estimate of
(y, y) is, at none of its cost), and it is taught the pairs' true kernels alone (``kernel_weight`` > 0): G(x, y) would
cost 1.4-3.5 s a 128 px tile to compute, and its kernels are themselves an estimate of those same PSFs.

An estimator is saved beside its kernel space as ``<model>.estimator.pt`` (config, weights, provenance).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from blurkit.data.images import read_image, to_batch
from blurkit.data.pairs import Pair
from blurkit.data.true_kernels import folder_kernels
from blurkit.errors import BlurkitError
from blurkit.files import atomic_path
from blurkit.progress import progress_bar
from blurkit.provenance import provenance
from blurkit.space.blocks import DOWNSCALE
from blurkit.space.extractor import KernelExtractor
from blurkit.space.kernel_space import KernelSpace, checkpoint_path
from blurkit.space.losses import kernel_error
from blurkit.space.lsq_extractor import LsqExtractor
from blurkit.space.netconfig import KernelSpaceConfig
from blurkit.space.train import PairBank

FORMAT = "blurkit-code-estimator-1"
LSQ_NEEDS_KERNELS = ("a g_lsq kernel space's estimator is taught the true kernels alone: it needs --kernel-weight "
                     "(> 0) and a synthetic default set whose blur is recorded")


@dataclass(frozen=True)
class EstimatorConfig:
    """How E is trained.

    Attributes:
        steps: Adam steps; batch_size: crops per step; crop: crop side (px); lr: Adam's rate; seed: batches and
            nothing else (E starts from G's weights).
        augment: flips and quarter turns of the training crops, as F and G were trained. Off by default: they
            turn the domain's blurs into eight times as many, most never met at test time (on uniform-8 an
            augmented E gave -0.1 dB against +2.2 dB without, same images and steps).
        hold_out: how many source photos of the training pairs are not trained on (the last ones, in the order
            of the pairs; a folder without a manifest counts each pair as its own photo). E's code error on
            ``hold_out_pairs`` of their pairs (evenly spread) is measured every ``steps // checks`` steps and at
            step 0 (where E is G(y, y)), and the weights with the lowest error are kept. Whole photos, because E
            learns the photos it sees: on reds-like, the last 24 pairs (one photo) fell from 1.00 to 0.62 while
            the test photos' error fell to 0.65 in 100 steps and then rose to 0.93 by step 2000. Never the test
            split: the ladder scores on it.
        hold_out_pairs: at most this many held-out pairs are checked.
        checks: how many held-out checks a run makes.
        kernel_weight: with a kernel-head space and synthetic pairs whose blur is recorded, adds
            ``kernel_weight * kernel_error(F's cell kernels of E(y), the pairs' true kernels)`` to the loss (and to
            the held-out error that picks the kept weights): E is taught the true blur, not only G's estimate of
            it (G's kernels are 0.5 off on reds-like test photos). 0: off, as in every profile.
    """

    steps: int = 1000
    batch_size: int = 4
    crop: int = 128
    lr: float = 1e-4
    seed: int = 0
    augment: bool = False
    hold_out: int = 0
    hold_out_pairs: int = 24
    checks: int = 5
    kernel_weight: float = 0.0


def _plain_batch(bank: PairBank, seed: int, step: int,
                 size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """A seeded batch of crops without flips or turns, with their true cell kernels where the bank holds them.

    Shape:
        x, y ``(size, 3, crop, crop)`` in [0, 1]; kernels ``(size, cells, cells, S, S)`` or None.
    """
    g = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, step]).generate_state(1)[0]))
    xs, ys, ks, c = [], [], [], bank.crop
    for _ in range(size):
        i = int(torch.randint(len(bank.x), (1,), generator=g))
        h, w = bank.x[i].shape[-2:]
        top, left = int(torch.randint(h - c + 1, (1,), generator=g)), int(torch.randint(w - c + 1, (1,), generator=g))
        xs.append(bank.x[i][..., top:top + c, left:left + c])
        ys.append(bank.y[i][..., top:top + c, left:left + c])
        if bank.kernels is not None:  # whole pairs (dynamic) or one kernel per pair (uniform): no crop offset
            ks.append(bank.kernels[i])
    kernels = torch.stack(ks) if ks else None
    return torch.stack(xs).float() / 255.0, torch.stack(ys).float() / 255.0, kernels


ESTIMATOR_PROFILES: dict[str, EstimatorConfig] = {
    "smoke": EstimatorConfig(steps=6, batch_size=2, crop=32),
    "cpu": EstimatorConfig(steps=2000, hold_out=4, checks=20),
    "paper": EstimatorConfig(steps=20000, batch_size=16, crop=256),
}


class CodeEstimator(nn.Module):
    """E(y) = G'(y, y) for a copy G' of the kernel space's G; for a ``g_lsq`` G, with the identity kernel as the
    least-squares estimate of (y, y).

    Shape:
        y ``(B, C, H, W)`` -> k ``(B, kdim, *model.kernel_size(H, W))``.
    """

    def __init__(self, config: KernelSpaceConfig) -> None:
        super().__init__()
        self.config = config
        self.g: KernelExtractor | LsqExtractor = LsqExtractor(config, None) if config.g_lsq else KernelExtractor(config)
        self.provenance: dict | None = None

    @classmethod
    def from_kernel_space(cls, model: KernelSpace) -> CodeEstimator:
        """An estimator initialised with ``model``'s G (so it starts at the no-blur code G(y, y))."""
        est = cls(model.config)
        est.g = copy.deepcopy(model.G)
        if isinstance(est.g, LsqExtractor):
            est.g.__dict__["tone"] = None  # the copied tone curve is never read: E passes the identity estimate in
        for p in est.parameters():
            p.requires_grad_(True)
        return est

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if isinstance(self.g, LsqExtractor):
            return self.g(y, y, lsq=identity_tiles(y, self.config.basis_size))
        return self.g(y, y)

    def save(self, path: str | os.PathLike, record: dict | None = None) -> Path:
        """Write atomically; return the path."""
        path = Path(path)
        obj = {"format": FORMAT, "config": self.config.to_dict(),
               "state_dict": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()},
               "provenance": record}
        with atomic_path(path) as tmp:
            torch.save(obj, tmp)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> CodeEstimator:
        """Read a file written by :meth:`save`; a missing or foreign file raises one line naming it."""
        path = Path(path)
        if not path.is_file():
            raise BlurkitError(f"no blind code estimator at '{path}'; train one with "
                               f"`blurkit train-estimator --model MODEL --data DATA --out {path}`")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many kinds for a bad file
            raise BlurkitError(f"cannot read code estimator '{path}': {str(exc).splitlines()[0]}") from None
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise BlurkitError(f"'{path}' is not a blurkit code estimator (format {FORMAT})")
        est = cls(KernelSpaceConfig.from_dict(obj["config"]))
        est.load_state_dict(obj["state_dict"])
        est.provenance = obj["provenance"]
        return est.eval()


def identity_tiles(y: torch.Tensor, size: int) -> torch.Tensor:
    """A centred delta kernel for every 128 px tile of ``y`` padded as F pads it: the least-squares kernel of (y, y).

    Shape:
        y ``(B, C, H, W)`` -> ``(B, ceil(H / 128), ceil(W / 128), size, size)``.
    """
    kernels = torch.zeros(y.shape[0], -(-y.shape[-2] // DOWNSCALE), -(-y.shape[-1] // DOWNSCALE), size, size,
                          device=y.device)
    kernels[..., size // 2, size // 2] = 1.0
    return kernels


def estimator_path(model_name_or_path: str | os.PathLike) -> Path:
    """Where the estimator of a kernel space lives: beside its checkpoint, ``<stem>.estimator.pt``."""
    ckpt = checkpoint_path(model_name_or_path)
    return ckpt.with_name(f"{ckpt.stem}.estimator.pt")


def code_error(est: CodeEstimator, model: KernelSpace, x: torch.Tensor, y: torch.Tensor,
               kernels: torch.Tensor | None = None, kernel_weight: float = 0.0) -> torch.Tensor:
    """The training loss: ``||E(y) - G(x, y)||^2 / ||G(x, y)||^2`` per batch (a scalar), plus
    ``kernel_weight * kernel_error`` of F's cell kernels of E(y) against ``kernels`` when both are given. For a
    ``g_lsq`` space only the kernel term (see the module docstring): it needs both.

    Shape:
        x, y ``(B, 3, H, W)``; kernels ``(B, cells, cells, S, S)`` (the true kernels of the first cells).
    """
    pred = est(y)
    if model.config.g_lsq:
        if kernels is None or not kernel_weight:
            raise BlurkitError(LSQ_NEEDS_KERNELS)
        loss = pred.new_zeros(())
    else:
        with torch.no_grad():
            target = model.encode(x, y)
        loss = (pred - target).pow(2).mean() / target.pow(2).mean().clamp_min(1e-12)
    if kernels is not None and kernel_weight:
        cells = kernels.shape[1:3]
        loss = loss + kernel_weight * kernel_error(model.cell_kernels(pred)[:, :cells[0], :cells[1]], kernels)
    return loss


def mean_code_error(est: CodeEstimator, model: KernelSpace, images: list[tuple[torch.Tensor, ...]],
                    kernel_weight: float = 0.0) -> float | None:
    """:func:`code_error` averaged over full images (None for none), with E in eval mode. Each item is
    ``(x, y)`` or ``(x, y, kernels)`` with kernels ``(cells, cells, S, S)``."""
    if not images:
        return None
    mode = est.training
    est.eval()
    with torch.no_grad():
        err = sum(float(code_error(est, model, item[0], item[1], item[2][None] if len(item) > 2 else None,
                                   kernel_weight)) for item in images) / len(images)
    est.train(mode)
    return err


def _with_kernels(pairs: list[Pair], config: EstimatorConfig, model: KernelSpace,
                  required: bool) -> list[tuple[torch.Tensor, ...]]:
    """The pairs' images ``(x, y)``, with each pair's true cell kernels appended when ``config.kernel_weight`` asks
    for them; a set without blur records raises one line when ``required``, else comes without them."""
    images: list[tuple[torch.Tensor, ...]] = [(to_batch(read_image(sp)), to_batch(read_image(bp)))
                                            for sp, bp in pairs]
    if not config.kernel_weight or not pairs:
        return images
    try:
        kernels = folder_kernels(pairs, config.crop, model.config.code_stride, model.config.basis_size)
    except BlurkitError:
        if required:
            raise
        return images
    return [(x, y, k) for (x, y), k in zip(images, kernels)]


def split_by_photo(pairs: list[Pair], photos: int, at_most: int) -> tuple[list[Pair], list[Pair]]:
    """(training pairs, held-out pairs): the pairs of the last ``photos`` source photos are held out, and at most
    ``at_most`` of them, evenly spread, are returned. Sources come from the ``manifest.json`` beside the pairs'
    ``sharp/`` folder (the default sets write one); without it every pair is its own photo."""
    if photos <= 0:
        return list(pairs), []
    sources: list[str] = []
    by_folder: dict[Path, dict[str, Any]] = {}  # each manifest read once (re-reading it per pair was quadratic)
    for sharp, _ in pairs:
        manifest = sharp.parent.parent / "manifest.json"
        if manifest not in by_folder:
            try:
                by_folder[manifest] = {e["name"]: e["source"] for e in json.loads(manifest.read_text())["pairs"]}
            except (OSError, KeyError, TypeError, ValueError):
                by_folder[manifest] = {}
        source = by_folder[manifest].get(sharp.name)
        sources.append(str(sharp) if source is None else str(source))
    order = list(dict.fromkeys(sources))
    if len(order) <= photos:
        raise BlurkitError(f"cannot hold out {photos} of {len(order)} source photos of the training pairs")
    held_sources = set(order[-photos:])
    train = [p for p, src in zip(pairs, sources) if src not in held_sources]
    held = [p for p, src in zip(pairs, sources) if src in held_sources]
    pick = np.unique(np.linspace(0, len(held) - 1, min(at_most, len(held))).round().astype(int))
    return train, [held[i] for i in pick]


def train_estimator(model: KernelSpace, pairs: list[Pair], config: EstimatorConfig = EstimatorConfig(),
                    val_pairs: list[Pair] | None = None, progress: bool = True) -> tuple[CodeEstimator, pd.DataFrame]:
    """Train E on ``pairs`` with ``model`` frozen; returns E (eval mode, with provenance) and the loss history.

    With ``config.hold_out``, the pairs of the last photos are set aside (:func:`split_by_photo`):
    ``hold_out_error`` is E's code error on them at step 0 and every ``steps // checks`` steps, and E keeps the
    weights of the lowest one (``best_step`` in the provenance).
    ``val_pairs`` (the test split) are only reported, never selected on: ``val_error`` at the same steps.
    The history has ``step, loss`` and those two columns (empty between checks); its step-0 row is the start.
    """
    start = time.perf_counter()
    model = model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if config.kernel_weight and (config.augment or model.F.dyn is None):  # F.dyn: what cell_kernels reads
        raise BlurkitError("EstimatorConfig.kernel_weight needs F to read a kernel off each code cell (head 'kernel') "
                           "and augment off")
    if model.config.g_lsq and not config.kernel_weight:
        raise BlurkitError(LSQ_NEEDS_KERNELS)
    w = config.kernel_weight
    train_pairs, held_pairs = split_by_photo(pairs, config.hold_out, config.hold_out_pairs)
    held = _with_kernels(held_pairs, config, model, required=True)
    val = _with_kernels(val_pairs or [], config, model, required=False)
    est = CodeEstimator.from_kernel_space(model).train()
    true_kernels = (folder_kernels(train_pairs, config.crop, model.config.code_stride, model.config.basis_size)
                    if w else None)
    bank = PairBank(train_pairs, config.crop, true_kernels)
    opt = torch.optim.Adam(est.parameters(), lr=config.lr, betas=(0.9, 0.99))
    rows = [{"step": 0, "loss": None, "hold_out_error": mean_code_error(est, model, held, w),
             "val_error": mean_code_error(est, model, val, w)}]
    best = (rows[0]["hold_out_error"], 0, copy.deepcopy(est.state_dict()))
    every = max(1, config.steps // max(1, config.checks))
    bar = progress_bar(range(config.steps), desc="train estimator", disable=not progress)
    for step in bar:
        if config.augment:
            (x, y), kernels = bank.batch(config.seed, step, 0, config.batch_size), None
        else:
            x, y, kernels = _plain_batch(bank, config.seed, step, config.batch_size)
        loss = code_error(est, model, x, y, kernels, w)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        row = {"step": step + 1, "loss": float(loss.detach())}
        if (step + 1) % every == 0 or step + 1 == config.steps:
            row.update(hold_out_error=mean_code_error(est, model, held, w),
                       val_error=mean_code_error(est, model, val, w))
            if row["hold_out_error"] is not None and row["hold_out_error"] < best[0]:
                best = (row["hold_out_error"], step + 1, copy.deepcopy(est.state_dict()))
        rows.append(row)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{row['loss']:.3f}", refresh=False)
    history = pd.DataFrame(rows, columns=["step", "loss", "hold_out_error", "val_error"])
    if held:
        est.load_state_dict(best[2])
    best_step = best[1] if held else config.steps
    at = history.set_index("step")

    def _at(step: int, col: str) -> float | None:
        v = at.loc[step, col]
        return None if pd.isna(v) else float(v)

    est.provenance = provenance(config=dataclasses.asdict(config), seed=config.seed,
                                wall_time_s=time.perf_counter() - start, train_pairs=len(train_pairs),
                                hold_out_pairs=len(held), hold_out_photos=config.hold_out,
                                kernel_space=model.provenance,
                                final_loss=rows[-1]["loss"], best_step=best_step,
                                start_hold_out_error=_at(0, "hold_out_error"),
                                hold_out_error=_at(best_step, "hold_out_error"),
                                start_val_error=_at(0, "val_error"), final_val_error=_at(best_step, "val_error"))
    return est.eval(), history


def train_estimator_for(model: str | os.PathLike, data: str | os.PathLike, profile: str = "cpu",
                        out: str | os.PathLike | None = None, steps: int | None = None,
                        progress: bool = True, kernel_weight: float | None = None,
                        lr: float | None = None) -> tuple[Path, pd.DataFrame]:
    """Train the estimator of a kernel space on a data set's training pairs and save it (default: beside the
    model's checkpoint, where ``fast`` looks for it); returns its path and the loss history."""
    from blurkit.data.datasets import has_test_split, resolve_pairs
    from blurkit.profiles import get_profile

    prof = get_profile(profile)
    cfg = ESTIMATOR_PROFILES[prof.name]
    if steps is not None:
        cfg = dataclasses.replace(cfg, steps=steps)
    if kernel_weight is not None:
        if not kernel_weight >= 0:
            raise ValueError(f"kernel_weight must be >= 0, got {kernel_weight}")
        cfg = dataclasses.replace(cfg, kernel_weight=float(kernel_weight))
    if lr is not None:
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        cfg = dataclasses.replace(cfg, lr=float(lr))
    ks = KernelSpace.load(model)
    val = []  # reported only; a folder has no test split (its "test" pairs would be its training pairs)
    if has_test_split(data):
        try:
            val = resolve_pairs(data, "test", prof)[:8]
        except BlurkitError:
            pass
    est, history = train_estimator(ks, resolve_pairs(data, "train", prof), cfg, val, progress)
    est.provenance.update(kernel_space_file=str(checkpoint_path(model)), data=str(data), profile=prof.name)
    path = Path(out) if out is not None else estimator_path(model)
    est.save(path, est.provenance)
    return path, history


__all__ = ["ESTIMATOR_PROFILES", "CodeEstimator", "EstimatorConfig", "code_error", "estimator_path",
           "identity_tiles", "mean_code_error", "split_by_photo", "train_estimator", "train_estimator_for"]
