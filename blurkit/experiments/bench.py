"""Benchmarks (run by ``blurkit bench ...``; not timed tests). Ratios are against a baseline measured in the same run.

``bench_train``: seconds per training step of F and G (forward, Charbonnier loss, backward, Adam) for each
profile's network preset at 128^2 and 256^2, in fp32, fp32 + channels-last, and bf16 autocast (+ channels-last);
the baseline is plain fp32 of the same network and size.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import torch

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
    times: list[float] = []
    spent = 0.0
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            pred = model(x, y)
        loss = charbonnier(pred, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
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
