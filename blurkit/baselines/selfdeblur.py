"""SelfDeblur baseline (Ren, Zhang, Wang, Hu, Zuo, "Neural Blind Deconvolution Using Deep Priors", CVPR 2020).

Two untrained generators are fitted jointly to one blurry image ``y``:

* the image prior ``x = G_x(z_x)``: :class:`blurkit.deblur.dip.ImageDIP` producing an image larger than ``y`` by
  ``ks - 1`` in each dimension, so that ``y = k ⊛ x`` is a *valid* convolution with no boundary artefacts;
* the kernel prior ``k = G_k(z_k)``: a fully-connected net ``200 -> 1000 (ReLU6) -> ks*ks`` with a softmax, so the
  kernel is non-negative and sums to 1.

Loss: ``MSE(y, k ⊛ x)`` for the first ``ssim_after`` steps, then ``1 - SSIM(y, k ⊛ x)`` (a Gaussian-window SSIM
implemented here, 11x11, sigma 1.5, valid window positions), as in the original. One Adam with two parameter
groups (lr 1e-2 for G_x, 1e-4 for G_k), halved at the milestones; small Gaussian noise (``reg_noise_std``) is
added to both inputs at every step.

Deviations from the original, chosen for simplicity: colour images are not converted to YCbCr (the original
deblurs the Y channel); instead G_x has as many output channels as ``y`` (1 or 3) and a single kernel is shared
by all channels. ``⊛`` is a true convolution (the kernel is flipped), so a result kernel can be compared with a
ground-truth kernel used through :func:`conv_valid`. Each image of a batch is solved on its own with seed
``seed + index`` (weights via :func:`blurkit.deblur.dip.seeded`, noise via a ``torch.Generator``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as Fnn
from tqdm.auto import tqdm

from blurkit.deblur.dip import DIPConfig, ImageDIP, image_noise, seeded
from blurkit.deblur.per_image import solve_each
from blurkit.space.blocks import as_rgb
from blurkit.space.losses import psnr, ssim

Callback = Callable[[dict], None]
TRACE_COLUMNS = ["image", "step", "loss", "mse", "time_s", "psnr"]


@dataclass(frozen=True)
class SelfDeblurConfig:
    """Settings of :func:`selfdeblur` (defaults: the original code's).

    Attributes:
        kernel_size: odd side ``ks >= 3`` of the estimated kernel.
        steps: Adam iterations.
        x_lr, k_lr: learning rates of the image prior and of the kernel net.
        milestones: steps at which both learning rates are multiplied by ``lr_gamma``.
        lr_gamma: the learning-rate decay factor.
        ssim_after: MSE loss up to this step, ``1 - SSIM`` afterwards; ``None`` keeps MSE throughout.
        reg_noise_std: std of the Gaussian noise added to both inputs at every step (0: none).
        log_every: a trace row every this many steps (plus step 0 and the last step).
        k_input, k_hidden: sizes of the kernel net's input noise and hidden layer.
        dip: the image prior's sizes.
    """

    kernel_size: int = 31
    steps: int = 5000
    x_lr: float = 1e-2
    k_lr: float = 1e-4
    milestones: tuple[int, ...] = (2000, 3000, 4000)
    lr_gamma: float = 0.5
    ssim_after: int | None = 1000
    reg_noise_std: float = 1e-3
    log_every: int = 50
    k_input: int = 200
    k_hidden: int = 1000
    dip: DIPConfig = field(default_factory=lambda: DIPConfig(z_channels=8, widths=(128,) * 5, skip=16))

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", tuple(self.milestones))

        def is_int(v: object) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        if not is_int(self.kernel_size) or self.kernel_size < 3 or self.kernel_size % 2 == 0:
            raise ValueError(f"SelfDeblurConfig.kernel_size must be an odd integer >= 3, got {self.kernel_size!r}")
        for name in ("steps", "log_every", "k_input", "k_hidden"):
            if not is_int(getattr(self, name)) or getattr(self, name) < 1:
                raise ValueError(f"SelfDeblurConfig.{name} must be an integer >= 1, got {getattr(self, name)!r}")
        for name in ("x_lr", "k_lr", "lr_gamma"):
            if not isinstance(getattr(self, name), (int, float)) or not getattr(self, name) > 0:
                raise ValueError(f"SelfDeblurConfig.{name} must be a number > 0, got {getattr(self, name)!r}")
        if any(not is_int(m) or m < 1 for m in self.milestones) or list(self.milestones) != sorted(
                set(self.milestones)):
            raise ValueError(f"SelfDeblurConfig.milestones must be increasing integers >= 1, got {self.milestones!r}")
        if self.ssim_after is not None and (not is_int(self.ssim_after) or self.ssim_after < 0):
            raise ValueError(f"SelfDeblurConfig.ssim_after must be None or an integer >= 0, got {self.ssim_after!r}")
        if not isinstance(self.reg_noise_std, (int, float)) or not self.reg_noise_std >= 0:
            raise ValueError(f"SelfDeblurConfig.reg_noise_std must be a number >= 0, got {self.reg_noise_std!r}")
        if not isinstance(self.dip, DIPConfig):
            raise ValueError(f"SelfDeblurConfig.dip must be a DIPConfig, got {type(self.dip).__name__}")


SELFDEBLUR_PRESETS: dict[str, SelfDeblurConfig] = {
    "paper": SelfDeblurConfig(),
    "fast": SelfDeblurConfig(steps=500, milestones=(200, 300, 400), ssim_after=100, log_every=25,
                             dip=DIPConfig(z_channels=8, widths=(64,) * 4, skip=8)),
    "smoke": SelfDeblurConfig(kernel_size=7, steps=10, milestones=(6,), ssim_after=5, log_every=5, k_hidden=64,
                              dip=DIPConfig(z_channels=4, widths=(8, 8, 8), skip=4)),
}


def selfdeblur_config(config: str | SelfDeblurConfig) -> SelfDeblurConfig:
    """Resolve a preset name (``paper``, ``fast``, ``smoke``) or pass a :class:`SelfDeblurConfig` through."""
    if isinstance(config, SelfDeblurConfig):
        return config
    if isinstance(config, str):
        if config not in SELFDEBLUR_PRESETS:
            raise ValueError(f"unknown SelfDeblur preset {config!r}; choose one of {sorted(SELFDEBLUR_PRESETS)}")
        return SELFDEBLUR_PRESETS[config]
    raise TypeError(f"config must be a preset name or a SelfDeblurConfig, got {type(config).__name__}")


def conv_valid(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Valid (true, flipped-kernel) convolution of every channel with one kernel per image.

    Shape:
        x ``(B, C, H + ks - 1, W + ks - 1)``, k ``(B, ks, ks)`` or ``(ks, ks)`` -> ``(B, C, H, W)``.
    """
    b, c = x.shape[:2]
    k = k.expand(b, -1, -1) if k.dim() == 2 else k
    weight = k.flip(-1, -2).repeat_interleave(c, dim=0).unsqueeze(1)  # (B*C, 1, ks, ks)
    out = Fnn.conv2d(x.reshape(1, b * c, *x.shape[-2:]), weight, groups=b * c)
    return out.reshape(b, c, *out.shape[-2:])


class KernelFC(nn.Module):
    """The kernel prior ``k = G_k(z_k)``: ``Linear -> ReLU6 -> Linear -> softmax``, reshaped to ``ks x ks``.

    Shape:
        z ``(B, k_input)`` -> k ``(B, ks, ks)``, non-negative, each summing to 1.
    """

    def __init__(self, k_input: int, k_hidden: int, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.net = nn.Sequential(nn.Linear(k_input, k_hidden), nn.ReLU6(), nn.Linear(k_hidden, kernel_size ** 2))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(z), dim=-1).reshape(-1, self.kernel_size, self.kernel_size)


@dataclass
class SelfDeblurResult:
    """What :func:`selfdeblur` returns.

    Attributes:
        x: the sharp estimates ``(B, C, H, W)`` in [0, 1] (central crop of the larger prior output).
        kernel: the kernels ``(B, ks, ks)``, non-negative, each summing to 1.
        trace: one row per logged step and image: ``image, step, loss, mse, time_s, psnr`` (``loss`` is the
            optimised one, MSE or 1 - SSIM; ``mse`` is always ``MSE(y, k ⊛ x)``; ``psnr`` against the reference
            when one is given, else NaN).
        wall_s: seconds per image.
    """

    x: torch.Tensor
    kernel: torch.Tensor
    trace: pd.DataFrame
    wall_s: list[float]


def _solve_one(y: torch.Tensor, cfg: SelfDeblurConfig, seed: int, index: int, reference: torch.Tensor | None,
               bar: tqdm | None, callback: Callback | None) -> tuple[torch.Tensor, torch.Tensor, list[dict], float]:
    t0 = time.perf_counter()
    dev, ks = y.device, cfg.kernel_size
    h, w = y.shape[-2:]
    hx, wx, p = h + ks - 1, w + ks - 1, (ks - 1) // 2
    m = cfg.dip.multiple
    gen = torch.Generator().manual_seed(seed)
    with seeded(seed):
        x_net = ImageDIP(cfg.dip, out_channels=y.shape[1]).to(dev)
        k_net = KernelFC(cfg.k_input, cfg.k_hidden, ks).to(dev)
    # At least 2 * multiple so the deepest U-Net level is >= 2x2 (reflect padding, batch norm).
    zx = image_noise(cfg.dip, 1, max(hx, 2 * m), max(wx, 2 * m), gen).to(dev)
    zk = (torch.rand((1, cfg.k_input), generator=gen) * 0.1).to(dev)
    opt = torch.optim.Adam([{"params": x_net.parameters(), "lr": cfg.x_lr},
                            {"params": k_net.parameters(), "lr": cfg.k_lr}])
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(cfg.milestones), gamma=cfg.lr_gamma)

    def jitter(z: torch.Tensor, on: bool) -> torch.Tensor:
        if not on or cfg.reg_noise_std == 0:
            return z
        return z + cfg.reg_noise_std * torch.randn(z.shape, generator=gen).to(dev)

    def forward(on: bool) -> tuple[torch.Tensor, torch.Tensor]:
        return x_net(jitter(zx, on))[..., :hx, :wx], k_net(jitter(zk, on))

    def losses(step: int, x_big: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y_hat = conv_valid(x_big, k)
        mse = Fnn.mse_loss(y_hat, y)
        use_ssim = cfg.ssim_after is not None and step > cfg.ssim_after
        return (1 - ssim(y_hat, y) if use_ssim else mse), mse

    rows: list[dict] = []

    def log(step: int, loss: torch.Tensor, mse: torch.Tensor) -> None:
        with torch.no_grad():
            x_big, k = forward(False)
            x_now = x_big[..., p:p + h, p:p + w]
            ref_psnr = float(psnr(x_now, reference)[0]) if reference is not None else float("nan")
        row = {"image": index, "step": step, "loss": float(loss), "mse": float(mse),
               "time_s": time.perf_counter() - t0, "psnr": ref_psnr}
        rows.append(row)
        if bar is not None:
            bar.set_postfix(img=index, loss=f"{row['loss']:.4g}", psnr=f"{ref_psnr:.2f}")
        if callback is not None:
            callback({"row": row, "x": x_now.detach(), "k": k.detach()})

    with torch.no_grad():
        log(0, *losses(0, *forward(False)))
    for step in range(1, cfg.steps + 1):
        opt.zero_grad(set_to_none=True)
        loss, mse = losses(step, *forward(True))
        loss.backward()
        opt.step()
        sched.step()
        if bar is not None:
            bar.update(1)
        if step % cfg.log_every == 0 or step == cfg.steps:
            log(step, loss.detach(), mse.detach())
    with torch.no_grad():
        x_big, k = forward(False)
    return x_big[..., p:p + h, p:p + w].detach(), k.detach(), rows, time.perf_counter() - t0


def selfdeblur(y: torch.Tensor, config: str | SelfDeblurConfig = "fast", seed: int = 0,
               reference: torch.Tensor | None = None, progress: bool = True,
               callback: Callback | None = None) -> SelfDeblurResult:
    """Blind deblurring of a batch of blurry images with SelfDeblur (no training data, no pretrained model).

    Args:
        y: blurry images in [0, 1].
        config: a preset name (``smoke``, ``fast``, ``paper``) or a :class:`SelfDeblurConfig`.
        seed: image ``i`` is solved with seed ``seed + i`` (priors' weights and noise); results are deterministic.
        reference: sharp images for the PSNR column of the trace (never used by the solver itself).
        progress: show a tqdm bar with the loss and PSNR.
        callback: called at each logged step with ``{"row", "x" (1, C, H, W), "k" (1, ks, ks)}``.

    Shape:
        y ``(B, C, H, W)`` with C in {1, 3}, H, W >= 1, reference like y -> x like y, kernel ``(B, ks, ks)``.
    """
    cfg = selfdeblur_config(config)
    as_rgb(y, "y")  # type, 4-D and channel checks
    if y.shape[0] < 1 or y.shape[-2] < 1 or y.shape[-1] < 1:
        raise ValueError(f"y must have B, H, W >= 1, got shape {tuple(y.shape)}")
    if reference is not None and (not isinstance(reference, torch.Tensor) or reference.shape != y.shape):
        shape = tuple(reference.shape) if isinstance(reference, torch.Tensor) else type(reference).__name__
        raise ValueError(f"reference shape {shape} differs from y shape {tuple(y.shape)}")
    outs = solve_each(y.shape[0], lambda i, bar: _solve_one(
        y[i:i + 1].float(), cfg, seed + i, i, None if reference is None else reference[i:i + 1].float(), bar,
        callback), cfg.steps, "selfdeblur", progress)
    xs, ks, rows, walls = (list(v) for v in zip(*outs))
    rows = [row for per_image in rows for row in per_image]
    return SelfDeblurResult(x=torch.cat(xs), kernel=torch.cat(ks), trace=pd.DataFrame(rows, columns=TRACE_COLUMNS),
                            wall_s=walls)
