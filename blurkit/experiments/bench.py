"""Benchmarks (run by ``blurkit bench ...``; not timed tests). Ratios are against a baseline measured in the same run.

``bench_train``: seconds per training step of F and G (forward, Charbonnier loss, backward, Adam) for each
profile's network preset at 128^2 and 256^2, in fp32, fp32 + channels-last, and bf16 autocast (+ channels-last);
the baseline is plain fp32 of the same network and size.

``bench_baseline_train``: seconds per real training step (:meth:`BaselineTrainer.train_step`) of SRN-Deblur and
DeblurGAN-v2 at each baseline profile's network, crop and batch, in fp32 and in bf16 (which trains channels-last);
the baseline is fp32 of the same profile.

``bench_lsq_store``: seconds to compute a ``g_lsq`` kernel space's code for the ladder's images with the tile store
off (the baseline), into an empty store, and again from it (:mod:`blurkit.space.lsq_store`).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import pandas as pd
import torch

from blurkit.baselines.baseline_config import BASELINE_PROFILES
from blurkit.baselines.baseline_train import BaselineTrainer
from blurkit.precision import SlowPrecisionWarning
from blurkit.profiles import PROFILES
from blurkit.progress import progress_bar
from blurkit.provenance import provenance, save_result
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.netconfig import net_preset
from blurkit.space.train import charbonnier

VARIANTS: tuple[tuple[str, bool, bool], ...] = (("fp32", False, False), ("fp32+channels_last", False, True),
                                                ("bf16", True, False), ("bf16+channels_last", True, True))


def time_train_step(net: str, size: int, batch: int, bf16: bool, channels_last: bool, repeats: int = 3,
                    max_seconds: float = 60.0, device: str = "cpu") -> tuple[float, int]:
    """Best-of-``repeats`` seconds per training step after one warm-up step; stops early past ``max_seconds``."""
    torch.manual_seed(0)
    model = KernelSpace(net_preset(net)).to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.99))
    x = torch.rand(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
    y = torch.rand(batch, 3, size, size, device=device).contiguous(memory_format=fmt)

    def step(_: int) -> None:
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            pred = model(x, y)
        loss = charbonnier(pred, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return best_time(step, repeats, max_seconds, device)


def best_time(step: Callable[[int], None], repeats: int, max_seconds: float, device: str) -> tuple[float, int]:
    """(best seconds, steps timed) of ``step(i)`` over ``repeats`` calls after one warm-up call; stops early once
    ``max_seconds`` are spent (then the warm-up call counts)."""
    times: list[float] = []
    spent = 0.0
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        step(i)
        if device == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        spent += dt
        if i > 0 or spent > max_seconds:
            times.append(dt)
        if spent > max_seconds:
            break
    return min(times), len(times)


def bench_train(out_dir: Path, sizes: tuple[int, ...] = (128, 256), batch: int = 2, repeats: int = 3,
                max_seconds: float = 60.0, threads: int | None = None) -> pd.DataFrame:
    """Time every profile's network at every size and variant; write ``train.csv`` + meta into ``out_dir``."""
    if threads:
        torch.set_num_threads(threads)
    rows = []
    jobs = [(p, s, v) for p in PROFILES for s in sizes for v in VARIANTS]
    start = time.perf_counter()
    for prof, size, (variant, bf16, cl) in progress_bar(jobs, desc="bench train", unit="case"):
        net = PROFILES[prof].train.net
        secs, n = time_train_step(net, size, batch, bf16, cl, repeats, max_seconds)
        rows.append({"profile": prof, "net": net, "size": size, "batch": batch, "variant": variant,
                     "s_per_step": secs, "it_per_s": 1.0 / secs, "timed_steps": n})
    df = pd.DataFrame(rows)
    base = df[df.variant == "fp32"].set_index(["profile", "size"])["s_per_step"]
    df["speedup_vs_fp32"] = [base[(r.profile, r.size)] / r.s_per_step for r in df.itertuples()]
    record = provenance(config={"sizes": list(sizes), "batch": batch, "repeats": repeats, "max_seconds": max_seconds,
                                "threads": torch.get_num_threads()}, seed=0,
                        wall_time_s=time.perf_counter() - start)
    save_result(df, "train", out_dir, record)
    return df


def time_baseline_step(model: str, profile: str, bf16: bool, repeats: int = 3, max_seconds: float = 60.0,
                       device: str = "cpu") -> tuple[float, int]:
    """Best-of-``repeats`` seconds of one baseline training step at ``profile``'s network, crop and batch size."""
    cfg = dataclasses.replace(BASELINE_PROFILES[model][profile], bf16=bf16)
    with warnings.catch_warnings():  # timing bf16 is the point here, slow or not
        warnings.simplefilter("ignore", SlowPrecisionWarning)
        trainer = BaselineTrainer(cfg, device)
    gen = torch.Generator().manual_seed(0)
    sharp, blur = (torch.rand(cfg.batch_size, 3, cfg.crop, cfg.crop, generator=gen) for _ in range(2))

    def step(i: int) -> None:
        trainer.train_step(sharp, blur, i)

    return best_time(step, repeats, max_seconds, device)


def bench_baseline_train(out_dir: Path, profiles: tuple[str, ...] = ("cpu", "paper"), repeats: int = 3,
                         max_seconds: float = 60.0, threads: int | None = None) -> pd.DataFrame:
    """Time both baselines' training steps at each profile in fp32 and bf16; write ``baseline_train.csv`` + meta."""
    if threads:
        torch.set_num_threads(threads)
    jobs = [(m, p, bf16) for m in BASELINE_PROFILES for p in profiles for bf16 in (False, True)]
    rows = []
    start = time.perf_counter()
    for model, prof, bf16 in progress_bar(jobs, desc="bench baseline train", unit="case"):
        cfg = BASELINE_PROFILES[model][prof]
        secs, n = time_baseline_step(model, prof, bf16, repeats, max_seconds)
        rows.append({"model": model, "profile": prof, "net": cfg.net, "crop": cfg.crop, "batch": cfg.batch_size,
                     "variant": "bf16+channels_last" if bf16 else "fp32", "s_per_step": secs,
                     "it_per_s": 1.0 / secs, "timed_steps": n})
    df = pd.DataFrame(rows)
    base = df[df.variant == "fp32"].set_index(["model", "profile"])["s_per_step"]
    df["speedup_vs_fp32"] = [base[(r.model, r.profile)] / r.s_per_step for r in df.itertuples()]
    record = provenance(config={"profiles": list(profiles), "repeats": repeats, "max_seconds": max_seconds,
                                "threads": torch.get_num_threads()}, seed=0,
                        wall_time_s=time.perf_counter() - start)
    save_result(df, "baseline_train", out_dir, record)
    return df


def bench_lsq_store(out_dir: Path, model: str = "reds-like", domain: str = "reds-like", profile: str = "cpu",
                    n: int = 16, threads: int | None = None) -> pd.DataFrame:
    """Time G(x, y) of ``model`` on the ``n`` ladder images of ``domain`` (one batch) with the tile store off, into
    an empty store (a temporary folder) and from it; write ``lsq_store.csv`` + meta. The first row is the baseline
    of the ``speedup`` column: the store off and the least-squares FFTs on the convolution's own grid (157 px for a
    128 px tile, a prime) instead of the next fast size, as before 2026-12-06. ``max_abs_diff``: each case's codes
    against that baseline's; ``same_codes``: bit for bit those of the store off."""
    from blurkit.experiments.ladder import textured_pairs, to_tensor
    from blurkit.space import kernel_lsq, lsq_store

    if threads:
        torch.set_num_threads(threads)
    ks = KernelSpace.load(model).eval()
    if not ks.config.g_lsq:
        raise ValueError(f"bench lsq-store needs a g_lsq kernel space; '{model}' is not one")
    pairs = textured_pairs(domain, profile, n)
    x, y = (torch.cat([to_tensor(p[i]) for p in pairs]) for i in (1, 2))
    start, rows, codes = time.perf_counter(), [], []
    with tempfile.TemporaryDirectory(prefix="lsq-store-") as folder:
        cases = (("store off, unpadded FFT grid", "0", lambda n: n), ("store off", "0", None),
                 ("empty store", folder, None), ("from the store", folder, None))
        for case, env, grid in cases:
            with mock.patch.dict(os.environ, {lsq_store.ENV: env}), \
                    mock.patch.object(kernel_lsq, "fast_fft_size", grid or kernel_lsq.fast_fft_size):
                t0 = time.perf_counter()
                with torch.no_grad():
                    codes.append(ks.encode(x, y))
            rows.append({"case": case, "tiles": len(pairs), "seconds": time.perf_counter() - t0})
    df = pd.DataFrame(rows)
    df["s_per_tile"] = df.seconds / df.tiles
    df["speedup"] = df.seconds.iloc[0] / df.seconds
    df["max_abs_diff"] = [float((c - codes[0]).abs().max()) for c in codes]
    df["same_codes"] = [bool(torch.equal(c, codes[1])) for c in codes]
    record = provenance(config={"model": model, "domain": domain, "profile": profile, "n": n,
                                "threads": torch.get_num_threads()}, seed=0, wall_time_s=time.perf_counter() - start)
    save_result(df, "lsq_store", out_dir, record)
    return df
