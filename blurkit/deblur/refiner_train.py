"""Training the x-step refiner (:mod:`blurkit.deblur.refiner`) of a kernel space on its own training pairs.

1. The ``n_pairs`` most textured training pairs (largest gradient energy of the sharp image: the ladder's rule for
   its test images, applied to the training split; never a test photo).
2. For each, the linear x-step's output with each code of ``config.codes``: ``true`` = G(x, y) (what ``true_code``
   deconvolves with) and ``blind`` = E(y) (what ``fast`` starts from), with the kernel space's calibrated x-step
   (:func:`blurkit.experiments.nonblind_rows.set_xstep` reads the same). Each pair's outputs are written atomically
   into a cache folder keyed by the model, estimator and x-step, so an interrupted run computes only what is missing.
3. Adam on the L1 error of ``refiner(x_dec, y)`` against x over seeded random crops (flips and quarter turns),
   validated every ``val_every`` steps on the last ``val_frac`` of the pairs (whole 128 px images); the weights with
   the best validation PSNR are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as Fnn

from blurkit.data.images import gradient_energy, read_image, to_batch
from blurkit.deblur.deblur_config import DEBLUR_PRESETS
from blurkit.deblur.linear_xstep import LinearXStep, linear_xstep
from blurkit.deblur.refiner import Refiner, RefinerConfig
from blurkit.errors import BlurkitError
from blurkit.files import atomic_path, sha256_file
from blurkit.progress import progress_bar
from blurkit.space.code_estimator import CodeEstimator
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import psnr

REFINER_PRESETS: dict[str, RefinerConfig] = {
    "smoke": RefinerConfig(width=4, n_pairs=4, crop=32, batch_size=2, steps=4, val_frac=0.25),
    "cpu": RefinerConfig(),
}


def cache_key(model_file: str | os.PathLike, estimator_file: str | os.PathLike, xstep: LinearXStep) -> str:
    """A short hash of what the x-step outputs depend on: the kernel space's and the estimator's weights (file bytes)
    and the x-step's settings."""
    spec = {"model": sha256_file(model_file)[:16], "estimator": sha256_file(estimator_file)[:16],
            "xstep": xstep.__dict__}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def textured_training_pairs(pairs: Sequence[tuple[Path, Path]], n: int) -> list[tuple[Path, Path]]:
    """The ``n`` pairs whose sharp image has the largest gradient energy, in their original order."""
    energies = [gradient_energy(read_image(s)) for s, _ in pairs]
    keep = sorted(np.argsort(-np.asarray(energies), kind="stable")[:n])
    return [pairs[i] for i in keep]


def xstep_outputs(model: KernelSpace, estimator: CodeEstimator, pairs: Sequence[tuple[Path, Path]],
                  xstep: LinearXStep, codes: Sequence[str], cache: str | os.PathLike,
                  progress: bool = True) -> dict[str, torch.Tensor]:
    """The x-step's outputs of every pair for every code, computed where the cache lacks them.

    Shape:
        out ``x``, ``y`` ``(N, 3, H, W)``; ``dec_<code>`` ``(N, 3, H, W)`` for each code.
    """
    unknown = set(codes) - {"true", "blind"}
    if unknown:
        raise BlurkitError(f"unknown refiner code(s) {sorted(unknown)}: use 'true' (G(x, y)) and/or 'blind' (E(y))")
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[torch.Tensor]] = {"x": [], "y": [], **{f"dec_{c}": [] for c in codes}}
    for sharp, blur in progress_bar(list(pairs), desc="x-step outputs", disable=not progress):
        x, y = to_batch(read_image(sharp)), to_batch(read_image(blur))
        item: dict[str, torch.Tensor] = {}
        for code in codes:
            f = cache / f"{Path(sharp).stem}.{code}.pt"
            if f.is_file():
                item[code] = torch.load(f, weights_only=True)
                continue
            with torch.no_grad():
                k = model.encode(x, y) if code == "true" else estimator(y)
            item[code] = linear_xstep(model, y, k, config=xstep).detach()
            with atomic_path(f) as tmp:
                torch.save(item[code], tmp)
        out["x"].append(x)
        out["y"].append(y)
        for code in codes:
            out[f"dec_{code}"].append(item[code])
    return {k: torch.cat(v) for k, v in out.items()}


def refiner_batch(data: dict[str, torch.Tensor], idx: Sequence[int], config: RefinerConfig,
                  step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The batch of step ``step``: random crops of random (pair, code) inputs with flips and quarter turns, every
    draw keyed by (seed, step).

    Shape:
        data as from :func:`xstep_outputs`; out x_dec, y, x ``(B, 3, c, c)``.
    """
    g = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    codes = list(config.codes)
    _, _, h, w = data["x"].shape
    c = min(config.crop, h, w)
    b = config.batch_size
    which = torch.randint(len(idx), (b,), generator=g)
    code = torch.randint(len(codes), (b,), generator=g)
    ys, xs = torch.randint(h - c + 1, (b,), generator=g), torch.randint(w - c + 1, (b,), generator=g)
    turns, flips = torch.randint(4, (b,), generator=g), torch.randint(2, (b,), generator=g)
    crops: list[list[torch.Tensor]] = [[], [], []]
    for i in range(b):
        n = idx[int(which[i])]
        for j, src in enumerate((data[f"dec_{codes[int(code[i])]}"], data["y"], data["x"])):
            t = torch.rot90(src[n, :, ys[i]:ys[i] + c, xs[i]:xs[i] + c], int(turns[i]), (1, 2))
            crops[j].append(t.flip(2) if flips[i] else t)
    dec, y, x = (torch.stack(t) for t in crops)
    return dec, y, x


def split_pairs(n: int, val_frac: float) -> tuple[list[int], list[int]]:
    """Training and validation indices of ``n`` pairs: the last ``val_frac`` of them (at least one) validate."""
    n_val = max(1, int(round(n * val_frac)))
    if n - n_val < 1:
        raise BlurkitError(f"training a refiner needs at least 2 pairs, got {n}")
    return list(range(n - n_val)), list(range(n - n_val, n))


def validate(net: Refiner, data: dict[str, torch.Tensor], idx: Sequence[int], codes: Sequence[str]) -> dict:
    """Mean PSNR gain over blurry of the x-step output and of the refined output, per code, on pairs ``idx``."""
    x, y = data["x"][list(idx)], data["y"][list(idx)]
    base = psnr(y, x)
    row = {}
    with torch.no_grad():
        for code in codes:
            dec = data[f"dec_{code}"][list(idx)]
            row[f"xstep_gain_{code}"] = float((psnr(dec, x) - base).mean())
            row[f"refined_gain_{code}"] = float((psnr(net(dec, y), x) - base).mean())
    return row


def train_refiner(data: dict[str, torch.Tensor], config: RefinerConfig, val_every: int = 250,
                  progress: bool = True) -> tuple[Refiner, pd.DataFrame]:
    """Train a refiner on x-step outputs; returns the weights with the best mean validation gain and the history
    (step, wall time, training L1, validation gains per code).

    Shape:
        data as from :func:`xstep_outputs` with a ``dec_<code>`` entry for every code of ``config.codes``.
    """
    if config.steps < 1:
        raise BlurkitError(f"a refiner needs at least one training step, got {config.steps}")
    train_idx, val_idx = split_pairs(int(data["x"].shape[0]), config.val_frac)
    torch.manual_seed(config.seed)
    net = Refiner(config)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.steps)
    start, losses, history = time.perf_counter(), [], []
    best, best_state = -float("inf"), {k: v.clone() for k, v in net.state_dict().items()}

    def check(step: int) -> None:
        nonlocal best, best_state
        net.eval()
        row = {"step": step, "wall_s": time.perf_counter() - start,
               "train_l1": float(np.mean(losses[-val_every:])) if losses else float("nan"),
               **validate(net, data, val_idx, config.codes)}
        net.train()
        history.append(row)
        score = float(np.mean([row[f"refined_gain_{c}"] for c in config.codes]))
        if score > best:
            best, best_state = score, {k: v.clone() for k, v in net.state_dict().items()}

    bar = progress_bar(range(config.steps), desc="train refiner", disable=not progress)
    check(0)
    for step in bar:
        dec, y, x = refiner_batch(data, train_idx, config, step)
        loss = Fnn.l1_loss(net(dec, y), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if (step + 1) % val_every == 0 or step + 1 == config.steps:
            check(step + 1)
            if progress:
                bar.set_postfix(val=f"{history[-1]['refined_gain_' + config.codes[0]]:+.2f}dB")
    net.load_state_dict(best_state)
    return net.eval(), pd.DataFrame(history)


def train_refiner_for(model: str | os.PathLike, data: str | os.PathLike, profile: str = "cpu",
                      out: str | os.PathLike | None = None, steps: int | None = None,
                      cache_dir: str | os.PathLike | None = None,
                      progress: bool = True) -> tuple[Path, pd.DataFrame]:
    """Train the refiner of a kernel space on a data set's training pairs and save it (default: beside the model's
    checkpoint, where ``fast`` and ``true_code`` look for it); returns its path and the validation history.

    The x-step outputs are cached in ``cache_dir`` (default ``runs/<profile>/refiner-cache/<key>``), so that an
    interrupted run resumes them.
    """
    import dataclasses

    from blurkit.data.datasets import resolve_pairs
    from blurkit.deblur.refiner import refiner_path
    from blurkit.deblur.xstep_calibration import calibrated_xstep
    from blurkit.paths import REPO_DIR
    from blurkit.profiles import get_profile
    from blurkit.provenance import provenance
    from blurkit.space.code_estimator import estimator_path
    from blurkit.space.kernel_space import checkpoint_path

    prof = get_profile(profile)
    if prof.name not in REFINER_PRESETS:
        raise BlurkitError(f"no refiner preset for profile '{prof.name}'; choose from {', '.join(REFINER_PRESETS)}")
    config = REFINER_PRESETS[prof.name]
    if steps is not None:
        config = dataclasses.replace(config, steps=steps)
    est_file = estimator_path(model)
    if not est_file.is_file():
        raise BlurkitError(f"no code estimator at '{est_file}'; train it first with "
                           f"`blurkit train-estimator --model {model} --data {data} --profile {prof.name}`")
    start = time.perf_counter()
    ks = KernelSpace.load(model).eval()
    for p in ks.parameters():
        p.requires_grad_(False)
    est = CodeEstimator.load(est_file).eval()
    xstep = calibrated_xstep(DEBLUR_PRESETS["fast"].linear, est)  # the x-step of fast and of true_code
    pairs = textured_training_pairs(resolve_pairs(data, "train", prof), config.n_pairs)
    key = cache_key(checkpoint_path(model), est_file, xstep)
    cache = Path(cache_dir) if cache_dir is not None else REPO_DIR / "runs" / prof.name / "refiner-cache" / key
    tensors = xstep_outputs(ks, est, pairs, xstep, config.codes, cache, progress)
    net, history = train_refiner(tensors, config, progress=progress)
    best = history.iloc[int(np.argmax(history[[f"refined_gain_{c}" for c in config.codes]].mean(1)))]
    record = provenance(config=config.to_dict(), seed=config.seed, wall_time_s=time.perf_counter() - start,
                        profile=prof.name, kernel_space_file=str(checkpoint_path(model)),
                        estimator_file=str(est_file), data=str(data), xstep=xstep.__dict__, cache_key=key,
                        train_pairs=len(split_pairs(len(pairs), config.val_frac)[0]),
                        best_step=int(best["step"]), **{k: float(best[k]) for k in history.columns if "gain" in k})
    path = Path(out) if out is not None else refiner_path(model)
    net.save(path, record)
    return path, history
__all__ = ["REFINER_PRESETS", "cache_key", "refiner_batch", "split_pairs", "textured_training_pairs", "train_refiner",
           "train_refiner_for", "validate", "xstep_outputs"]
