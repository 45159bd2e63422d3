"""Kernel retrieval (paper Sec. 4.2.2, Table 3, Fig. 5): step (B) of Algorithm 1 alone.

Given a sharp/blurry pair (x, y) and a kernel space trained on some domain, find the code k that makes
``F(x, k)`` match y: minimise ``ρ(y, F(x, k)) + λ‖k‖₂`` (``‖k‖₂`` by :meth:`KernelSpace.code_norm`) over k with x
and F fixed. k is either a kernel Deep Image Prior from noise (``k_param="dip"``, as the paper) or a code started
from G's estimate ``G(x, y)`` (``k_param="code"``, the fast path). The quality of the retrieved kernel is the PSNR
between ``F(x, k*)`` and y.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
import torch
from tqdm.auto import tqdm

from blurkit.deblur.deblur_config import DeblurConfig, deblur_config
from blurkit.deblur.dip import KernelDIP, kernel_noise, seeded
from blurkit.deblur.per_image import frozen, solve_each
from blurkit.space.blocks import as_rgb
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import charbonnier, psnr

RETRIEVAL_COLUMNS = ["image", "step", "loss", "data", "k_norm", "psnr", "time_s"]


@dataclass
class RetrievalResult:
    """What :func:`retrieve_kernel` returns.

    Attributes:
        k: retrieved codes ``(B, kdim, *model.kernel_size(H, W))``.
        y_hat: ``F(x, k)`` ``(B, C, H, W)``.
        psnr: PSNR of ``y_hat`` against y per image ``(B,)`` (dB).
        psnr_start: the same for the starting code (G's estimate for ``k_param="code"``, the untrained prior's
            output for ``"dip"``).
        trace: ``image, step, loss, data, k_norm, psnr, time_s`` per logged step.
        wall_s: seconds per image.
    """

    k: torch.Tensor
    y_hat: torch.Tensor
    psnr: torch.Tensor
    psnr_start: torch.Tensor
    trace: pd.DataFrame
    wall_s: list[float]


def _one(model: KernelSpace, x: torch.Tensor, y: torch.Tensor, cfg: DeblurConfig, seed: int, index: int,
         bar: tqdm | None) -> tuple:
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    h, w = x.shape[-2:]
    if cfg.k_param == "dip":
        with seeded(seed):
            net = KernelDIP(cfg.dip, model.config).to(x.device)
        z = kernel_noise(cfg.dip, 1, h, w, gen, model.config.code_stride).to(x.device)
        params = list(net.parameters())

        def k_of(jitter: bool) -> torch.Tensor:
            noise = cfg.reg_noise_std * torch.randn(z.shape, generator=gen).to(z.device) if jitter else 0.0
            return net(z + noise)
    else:
        code = torch.nn.Parameter(model.encode(x, y).detach().clone())
        params = [code]

        def k_of(jitter: bool) -> torch.Tensor:
            return code

    opt = torch.optim.Adam(params, lr=cfg.k_lr, betas=cfg.betas)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, cfg.steps // 5), gamma=cfg.lr_decay)
    rows = []

    def log(step: int) -> float:
        with torch.no_grad():
            k = k_of(False)
            y_hat = model.apply(x, k)
            data = charbonnier(y_hat, y, cfg.charbonnier_eps)
            k_norm = model.code_norm(k)
            p = float(psnr(y_hat, y)[0])
        rows.append({"image": index, "step": step, "loss": float(data + cfg.lam * k_norm), "data": float(data),
                     "k_norm": float(k_norm), "psnr": p, "time_s": time.perf_counter() - t0})
        if bar is not None:
            bar.set_postfix(img=index, psnr=f"{p:.2f}")
        return p

    start = log(0)
    for step in range(1, cfg.steps + 1):
        opt.zero_grad(set_to_none=True)
        k = k_of(True)
        loss = charbonnier(model.apply(x, k), y, cfg.charbonnier_eps) + cfg.lam * model.code_norm(k)
        loss.backward()
        opt.step()
        sched.step()
        if bar is not None:
            bar.update(1)
        if step % cfg.log_every == 0 or step == cfg.steps:
            log(step)
    with torch.no_grad():
        k = k_of(False).detach()
        y_hat = model.apply(x, k)
    return k, y_hat, start, rows, time.perf_counter() - t0


def retrieve_kernel(model: KernelSpace, x: torch.Tensor, y: torch.Tensor,
                    config: str | DeblurConfig = "fast-adam",
                    seed: int = 0, progress: bool = True) -> RetrievalResult:
    """Optimise k so that ``F(x, k)`` matches y for each pair of a batch (step (B) of Algorithm 1).

    Uses ``k_param``, ``k_lr``, ``lam``, ``steps``, ``log_every``, ``dip`` and ``reg_noise_std`` of the config
    (the x-related fields are ignored). Image ``i`` uses seed ``seed + i``. The model is not changed.

    Shape:
        x, y ``(B, C, H, W)`` with C in {1, 3} -> k ``(B, kdim, *model.kernel_size(H, W))``, y_hat like y.
    """
    cfg = deblur_config(config)
    x3, grey = as_rgb(x, "x")
    y3, _ = as_rgb(y, "y")
    if x3.shape != y3.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    with frozen(model):
        outs = solve_each(x3.shape[0], lambda i, bar: _one(model, x3[i:i + 1].float(), y3[i:i + 1].float(), cfg,
                                                           seed + i, i, bar), cfg.steps, "retrieve k", progress)
    ks, yh, starts, rows, walls = (list(v) for v in zip(*outs))
    rows = [row for per_image in rows for row in per_image]
    y_hat = torch.cat(yh)
    final = psnr(y_hat, y3.float())
    if grey:
        y_hat = y_hat.mean(dim=1, keepdim=True)
    return RetrievalResult(k=torch.cat(ks), y_hat=y_hat, psnr=final, psnr_start=torch.tensor(starts),
                           trace=pd.DataFrame(rows, columns=RETRIEVAL_COLUMNS), wall_s=walls)
