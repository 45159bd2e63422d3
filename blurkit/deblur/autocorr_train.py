"""Training the autocorrelation kernel network (:mod:`blurkit.deblur.autocorr_kernel`) on a stream of blurred crops.

Each batch mixes two sources, drawn from a seeded generator:
- **the stream**: a random crop of a training photo, blurred by one kernel of the domain's own camera motion (its
  PSF at the crop's centre, :func:`blurkit.data.true_kernels.camera_psfs`) in the camera's linear domain, with the
  domain's sensor noise and camera curve. It never repeats, so the network sees far more scenes and kernels than
  the default sets hold;
- **the recorded pairs**: the default training pairs of the domain (spatially varying blur, moving objects), each
  taught its camera PSF at the crop's centre, flipped and turned with its kernel.

The pairs of the last ``hold_out`` source photos are held out (as the code estimator's are) and neither source
uses their photos; the held-out error (:func:`blurkit.deblur.autocorr_kernel.shift_error`) is recorded every
``val_every`` steps. A run writes ``net.pt`` (the weights of the lowest held-out error so far, as the code
estimator keeps its best; the latest without held-out pairs), ``state.pt`` (to resume, with the latest weights) and
``history.csv`` into its folder. A network that collapses late in a run (to a one-tap kernel, the no-blur answer,
as one probe's did) therefore never replaces the weights it had before.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from blurkit.data.crf import CRF
from blurkit.data.domains import get_domain
from blurkit.data.images import read_image
from blurkit.data.pairs import Pair
from blurkit.data.sensor_noise import linear_noise
from blurkit.data.synthesis import sample_motion
from blurkit.data.true_kernels import camera_psfs, recorded_params
from blurkit.deblur.autocorr_kernel import AutocorrKernelNet, AutocorrNetConfig, shift_error
from blurkit.errors import BlurkitError
from blurkit.files import atomic_path
from blurkit.progress import progress_bar
from blurkit.provenance import provenance


@dataclass(frozen=True)
class KernelNetTrainConfig:
    """How the network is trained.

    Attributes:
        steps: AdamW steps (one-cycle rate, peak ``lr``); batch_size: crops per step; crop: their side (px);
        real_share: the share of each batch taken from the recorded pairs; max_shift, mirror: the loss's
        forgiveness (:func:`shift_error`); hold_out: source photos held out; val_pairs: at most this many of their
        pairs are scored; val_every: steps between scores; seed: every draw.
    """

    steps: int = 8000
    batch_size: int = 16
    crop: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    real_share: float = 0.5
    max_shift: int = 4
    mirror: bool = True
    hold_out: int = 4
    val_pairs: int = 48
    val_every: int = 250
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 2 or self.crop < 16 or self.lr <= 0 or self.val_every < 1:
            raise ValueError(f"bad KernelNetTrainConfig: {self}")
        if not 0.0 <= self.real_share <= 1.0:
            raise ValueError(f"real_share is a share in [0, 1], got {self.real_share}")


PROFILES = {
    "smoke": KernelNetTrainConfig(steps=6, batch_size=4, crop=64, val_pairs=4, val_every=3),
    "cpu": KernelNetTrainConfig(),
    "paper": KernelNetTrainConfig(steps=100_000, batch_size=64),  # a GPU-sized budget; this trainer runs on the CPU
}
SMOKE_NET = AutocorrNetConfig(size=15, half=15, widths=(4, 8, 8, 8), hidden=32)


def linear_grey(rgb: torch.Tensor, crf: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The camera-linear grey image of an sRGB-like image, by the inverse camera curve ``crf``.

    Shape:
        rgb ``(..., 3, H, W)`` -> ``(..., 1, H, W)``.
    """
    return crf(rgb.clamp(0, 1)).mean(-3, keepdim=True)


def centre_psf(params: dict, domain: str, crop: int, size: int) -> torch.Tensor:
    """The camera's ``size`` px PSF at the centre of a ``crop`` px pair rendered with ``params``: the one cell of
    :func:`blurkit.data.true_kernels.camera_psfs` at a stride of the whole crop. Shape: ``(S, S)``."""
    return torch.from_numpy(camera_psfs(params, domain, crop, crop, size)[0, 0])


class BlurStream:
    """Blurred crops of photos with the domain's camera motion, one PSF a crop (see the module's docstring).

    Shape:
        :meth:`draw` -> linear grey ``(n, 1, crop, crop)``, kernels ``(n, size, size)``.
    """

    def __init__(self, photos: list[np.ndarray], domain: str, crop: int, size: int, seed: int) -> None:
        self.domain, self.crop, self.size = domain, crop, size
        self.dom = get_domain(domain)
        self.curve = CRF(self.dom.crf)
        side = crop + size - 1
        grey = [linear_grey(torch.from_numpy(np.ascontiguousarray(p[..., :3])).float().permute(2, 0, 1),
                            self.curve.inverse)[0] for p in photos]
        self.photos = [p for p in grey if min(p.shape) >= side]
        if not self.photos:
            raise BlurkitError(f"no photo is at least {side} px on its short side for the kernel network's stream")
        self.rng = np.random.default_rng([seed, 1])
        self.gen = torch.Generator().manual_seed(seed)

    def draw(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        side = self.crop + self.size - 1
        ys, ks = [], []
        for _ in range(n):
            lin = self.photos[int(self.rng.integers(len(self.photos)))]
            k = centre_psf(sample_motion(self.dom, self.rng).to_dict(), self.domain, self.crop, self.size)
            y0, x0 = (int(self.rng.integers(0, s - side + 1)) for s in lin.shape)
            region = lin[y0:y0 + side, x0:x0 + side]
            blur = F.conv2d(region[None, None], k.flip(0, 1)[None, None])[0, 0]  # a true convolution, valid part
            noisy = linear_noise(blur, self.dom, self.gen).clamp(0, 1)
            ys.append(self.curve.inverse(self.curve.forward(noisy)))  # the camera curve's rounding trip
            ks.append(k)
        return torch.stack(ys)[:, None], torch.stack(ks)


def recorded_pairs(pairs: list[Pair], domain: str, crop: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The pairs' blurry images (linear grey, their centre ``crop`` px) and their camera PSFs there, from the
    ``manifest.json`` beside their ``blur/`` folder (the default sets write one).

    Shape:
        -> ``(n, 1, crop, crop)``, ``(n, size, size)``.
    """
    curve = CRF(get_domain(domain).crf)
    ys, ks, manifests = [], [], {}
    for _, blur in pairs:
        blur = Path(blur)
        mpath = blur.parent.parent / "manifest.json"
        if mpath not in manifests:
            record, params = recorded_params(mpath.parent)
            manifests[mpath] = (int(record.get("size", 0)), params)
        full, params = manifests[mpath]
        if blur.name not in params or full < crop:
            raise BlurkitError(f"'{blur}' has no recorded blur of at least {crop} px in '{mpath}'")
        img = torch.from_numpy(np.ascontiguousarray(read_image(blur, mode="rgb"))).permute(2, 0, 1)
        top, left = (img.shape[-2] - crop) // 2, (img.shape[-1] - crop) // 2
        ys.append(linear_grey(img[:, top:top + crop, left:left + crop], curve.inverse))
        ks.append(centre_psf(params[blur.name], domain, full, size))
    return torch.stack(ys), torch.stack(ks)


def _real_batch(ys: torch.Tensor, ks: torch.Tensor, n: int, rng: np.random.Generator
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` recorded pairs, flipped and turned together with their kernels."""
    idx = torch.from_numpy(rng.integers(0, len(ys), n))
    y, k = ys[idx], ks[idx]
    if rng.random() < 0.5:
        y, k = y.flip(-1), k.flip(-1)
    turns = int(rng.integers(4))
    return torch.rot90(y, turns, (-2, -1)), torch.rot90(k, turns, (-2, -1))


def train_kernel_net(stream: BlurStream, train: tuple[torch.Tensor, torch.Tensor],
                     held: tuple[torch.Tensor, torch.Tensor], out: str | Path,
                     config: KernelNetTrainConfig = KernelNetTrainConfig(),
                     net_config: AutocorrNetConfig = AutocorrNetConfig(), record: dict | None = None,
                     progress: bool = True) -> tuple[Path, pd.DataFrame]:
    """Train (or resume, from ``out/state.pt``) and return ``(out/net.pt, history)``; ``net.pt`` holds the weights of
    the lowest held-out error. ``train`` and ``held`` are recorded pairs as :func:`recorded_pairs` returns them;
    ``held`` may be empty (then ``net.pt`` holds the latest weights).

    Shape:
        train, held ``((n, 1, crop, crop), (n, size, size))``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if stream.size != net_config.size:
        raise ValueError(f"the stream's kernels are {stream.size} px, the network's {net_config.size} px")
    torch.manual_seed(config.seed)
    net = AutocorrKernelNet(net_config)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, config.lr, total_steps=config.steps + 1, pct_start=0.05)
    rng = np.random.default_rng([config.seed, 2])
    rows: list[dict] = []
    start, wall = 0, 0.0
    state_path = out / "state.pt"
    if state_path.is_file():
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        if state["config"] != dataclasses.asdict(config) or state["net_config"] != net_config.to_dict():
            raise BlurkitError(f"'{state_path}' was written with other settings; use a new --out to start afresh")
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        rng.bit_generator.state = state["rng"]
        stream.rng.bit_generator.state = state["stream_rng"]
        stream.gen.set_state(state["stream_gen"])
        start, wall, rows = state["step"], state["wall_s"], state["history"]
    n_real = int(round(config.batch_size * config.real_share)) if len(train[0]) else 0
    t0 = time.perf_counter() - wall
    bar = progress_bar(total=config.steps, initial=start, desc="kernel net", disable=not progress)
    for step in range(start + 1, config.steps + 1):
        y, k = stream.draw(config.batch_size - n_real)
        if n_real:
            ry, rk = _real_batch(*train, n_real, rng)
            y, k = torch.cat([y, ry]), torch.cat([k, rk])
        loss = shift_error(net(y), k, config.max_shift, config.mirror).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        bar.update(1)
        if step % config.val_every == 0 or step == config.steps:
            rows.append({"step": step, "loss": loss.item(), "held_error": held_error(net, held, config),
                         "wall_s": time.perf_counter() - t0})
            if _is_best(rows):
                net.provenance = {**(record or {}), **provenance(
                    {"train": dataclasses.asdict(config), "net": net_config.to_dict()}, seed=config.seed,
                    wall_time_s=rows[-1]["wall_s"], steps=step, held_error=rows[-1]["held_error"])}
                net.save(out / "net.pt", net.provenance)
            with atomic_path(out / "history.csv") as tmp:
                pd.DataFrame(rows).to_csv(tmp, index=False)
            with atomic_path(state_path) as tmp:
                torch.save({"config": dataclasses.asdict(config), "net_config": net_config.to_dict(),
                            "net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                            "rng": rng.bit_generator.state, "stream_rng": stream.rng.bit_generator.state,
                            "stream_gen": stream.gen.get_state(), "step": step, "wall_s": rows[-1]["wall_s"],
                            "history": rows}, tmp)
    bar.close()
    return out / "net.pt", pd.DataFrame(rows)


def train_kernel_net_for(data: str, profile: str, out: str | Path, steps: int | None = None,
                         progress: bool = True, command: str | None = None) -> tuple[Path, pd.DataFrame]:
    """Train on a default set (``reds-like``, ``gopro-like``, ...) at a profile (:data:`PROFILES`): its training
    pairs, less those of the last ``hold_out`` photos, and a stream of the other training photos."""
    from blurkit.data.datasets import resolve_pairs
    from blurkit.data.default_data import photo_sources
    from blurkit.profiles import get_profile
    from blurkit.space.code_estimator import split_by_photo

    prof = get_profile(profile)
    config = PROFILES[prof.name]
    if steps is not None:
        config = dataclasses.replace(config, steps=steps)
    net_config = SMOKE_NET if prof.name == "smoke" else AutocorrNetConfig()
    dom = get_domain(data)
    if dom.kind != "dynamic":
        raise BlurkitError(f"the kernel network is trained on a camera-motion domain; '{data}' is {dom.kind}")
    pairs = resolve_pairs(data, "train", prof)
    train, held = split_by_photo(pairs, config.hold_out, config.val_pairs)
    manifest, _ = recorded_params(Path(pairs[0][1]).parent.parent)
    held_photos = set(list(dict.fromkeys(e["source"] for e in manifest["pairs"]))[-config.hold_out:])
    config = dataclasses.replace(config, crop=min(config.crop, int(manifest["size"])))
    photos = [src.load() for src in photo_sources("train") if src.id not in held_photos]
    stream = BlurStream(photos, data, config.crop, net_config.size, config.seed)
    record = {"data": data, "profile": prof.name, "train_pairs": len(train), "held_pairs": len(held),
              "held_photos": sorted(held_photos), "stream_photos": len(stream.photos), "command": command}
    return train_kernel_net(stream, recorded_pairs(train, data, config.crop, net_config.size),
                            recorded_pairs(held, data, config.crop, net_config.size), out, config, net_config, record,
                            progress)


def _is_best(rows: list[dict]) -> bool:
    """Whether the last history row's held-out error is below every earlier one (a tie keeps the earlier weights,
    a non-finite error never wins); always, where no error is finite (no held-out pairs)."""
    errors = [r["held_error"] for r in rows]
    if not any(np.isfinite(e) for e in errors):
        return True
    earlier = [e for e in errors[:-1] if np.isfinite(e)]
    return bool(np.isfinite(errors[-1])) and (not earlier or errors[-1] < min(earlier))


def held_error(net: AutocorrKernelNet, held: tuple[torch.Tensor, torch.Tensor],
               config: KernelNetTrainConfig) -> float:
    """The mean :func:`shift_error` of the network on held-out pairs (NaN for none)."""
    if not len(held[0]):
        return float("nan")
    was = net.training
    net.eval()
    with torch.no_grad():
        err = shift_error(net(held[0]), held[1], config.max_shift, config.mirror).mean().item()
    net.train(was)
    return err


__all__ = ["PROFILES", "SMOKE_NET", "BlurStream", "KernelNetTrainConfig", "centre_psf", "held_error", "linear_grey",
           "recorded_pairs", "train_kernel_net", "train_kernel_net_for"]
