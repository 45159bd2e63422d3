"""Joint training of F and G (paper Eq. 4): minimise the Charbonnier loss rho(y, F(x, G(x, y))).

Adam (0.9, 0.99), cosine annealing with warm restarts, random crops / flips / 90-degree rotations. Batch ``s`` is
drawn from a generator seeded by (seed, s, rank) alone, so a run killed mid-way and resumed from its checkpoint ends
with exactly the weights of a run straight through. Under ``torchrun`` the same command trains with
DistributedDataParallel (gloo on CPU, nccl on CUDA). Files in the run folder (all written atomically):

* ``last.pt``: the training state (model, optimiser, scheduler, step, history), for ``--resume``;
* ``model.pt``: the :class:`~blurkit.space.kernel_space.KernelSpace` with its provenance;
* ``history.csv`` + ``history.meta.json``: loss and validation PSNR per logged step.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist

from blurkit.data.datasets import has_test_split, resolve_pairs
from blurkit.data.images import check_same_size, read_image
from blurkit.data.pairs import Pair, pairs_sha256
from blurkit.data.true_kernels import augment_kernels, folder_kernels
from blurkit.errors import BlurkitError, ImageSizeError, StaleError
from blurkit.files import atomic_path, sha256_file
from blurkit.precision import warn_if_slow_bf16
from blurkit.profiles import Profile, TrainConfig, get_profile
from blurkit.progress import progress_bar
from blurkit.provenance import provenance, save_result
from blurkit.space.blocks import DOWNSCALE
from blurkit.space.kernel_space import KernelSpace, checkpoint_path
from blurkit.space.lsq_cache import pair_lsq_kernels
from blurkit.space.losses import charbonnier, kernel_error, psnr
from blurkit.space.netconfig import net_preset
from blurkit.space.train_loop import run_steps

_ADDED_FIELDS = ("kernel_weight",)  # TrainConfig fields newer than some saved runs


class PairBank:
    """Training pairs held in memory as uint8 tensors; draws seeded, augmented crop batches.

    Shape: :meth:`batch` returns x, y ``(B, 3, crop, crop)`` float32 in [0, 1].
    """

    def __init__(self, pairs: list[Pair], crop: int, kernels: list[torch.Tensor] | None = None,
                 lsq: list[torch.Tensor] | None = None) -> None:
        if not pairs:
            raise BlurkitError("no training pairs")
        self.crop = crop
        self.kernels = kernels  # true cell kernels per pair (blurkit.data.true_kernels), for kernel_batch
        self.lsq = lsq  # least-squares tile kernels per pair (blurkit.space.lsq_cache), for draw
        self.x: list[torch.Tensor] = []
        self.y: list[torch.Tensor] = []
        for s, b in progress_bar(pairs, desc="loading pairs", unit="pair", leave=False, disable=len(pairs) < 200):
            xs, ys = read_image(s), read_image(b)
            check_same_size(xs, ys, s, b)
            if min(xs.shape[:2]) < crop:
                raise ImageSizeError(f"training image '{s}' is {xs.shape[0]}x{xs.shape[1]} px, smaller than the "
                                     f"{crop} px training crop")
            self.x.append(_to_u8(xs))
            self.y.append(_to_u8(ys))

    def __len__(self) -> int:
        return len(self.x)

    def batch(self, seed: int, step: int, rank: int, size: int, select: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """``size`` seeded crops; with ``select > 1`` each is the most blurred of ``select`` random candidates.

        "Most blurred" is the largest mean squared difference between the blurry and the sharp crop, so training
        sees fewer crops where the blur left nothing to undo (flat regions, near-still camera). ``select=1`` draws
        exactly as before the option existed.
        """
        x, y, _, _ = self._draw(seed, step, rank, size, with_kernels=False, select=select)
        return x, y

    def kernel_batch(self, seed: int, step: int, rank: int,
                     size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`batch` (the same draws) with each crop's true cell kernels, flipped and turned as it was.

        Shape:
            x, y ``(B, 3, crop, crop)``, kernels ``(B, cells, cells, S, S)``.
        """
        if self.kernels is None:
            raise BlurkitError("this PairBank holds no true kernels")
        return self._draw(seed, step, rank, size, with_kernels=True)[:3]

    def draw(self, seed: int, step: int, rank: int, size: int) -> tuple[torch.Tensor, torch.Tensor,
                                                                         torch.Tensor | None, torch.Tensor | None]:
        """:meth:`batch` (the same draws) with the true cell kernels and the least-squares kernels where the bank
        holds them (else ``None``), each flipped and turned as its crop was. A pair's least-squares kernel is the
        mean of its tiles', repeated on every 128 px tile of the crop.

        Shape:
            x, y ``(B, 3, crop, crop)``, kernels ``(B, cells, cells, S, S)``, lsq ``(B, t, t, S, S)`` with
            ``t = ceil(crop / 128)``.
        """
        return self._draw(seed, step, rank, size, with_kernels=self.kernels is not None)

    def _draw(self, seed: int, step: int, rank: int, size: int, with_kernels: bool, select: int = 1) -> tuple:
        if select < 1:
            raise ValueError(f"select must be >= 1, got {select}")
        g = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0]))
        xs, ys, ks, ls = [], [], [], []
        c = self.crop
        tiles = -(-c // DOWNSCALE)
        for _ in range(size):
            best, best_energy = None, -1.0
            for _ in range(select):
                i = int(torch.randint(len(self.x), (1,), generator=g))
                h, w = self.x[i].shape[-2:]
                top = int(torch.randint(h - c + 1, (1,), generator=g))
                left = int(torch.randint(w - c + 1, (1,), generator=g))
                cand = torch.stack([self.x[i], self.y[i]])[..., top:top + c, left:left + c]
                energy = float((cand[1].float() - cand[0].float()).square().mean()) if select > 1 else 0.0
                if energy > best_energy:
                    best, best_energy = (i, cand), energy
            i, pair = best
            flip_h, flip_v, rot = (int(v) for v in torch.randint(2, (3,), generator=g))
            if flip_h:
                pair = pair.flip(-1)
            if flip_v:
                pair = pair.flip(-2)
            if rot:
                pair = pair.rot90(1, (-2, -1))
            xs.append(pair[0])
            ys.append(pair[1])
            if with_kernels:
                ks.append(augment_kernels(self.kernels[i], bool(flip_h), bool(flip_v), bool(rot)))
            if self.lsq is not None:
                mean = self.lsq[i].mean(dim=(0, 1))[None, None]
                ls.append(augment_kernels(mean, bool(flip_h), bool(flip_v), bool(rot)).expand(tiles, tiles, -1, -1))
        kernels = torch.stack(ks) if with_kernels else None
        lsq = torch.stack(ls) if self.lsq is not None else None
        return torch.stack(xs).float() / 255.0, torch.stack(ys).float() / 255.0, kernels, lsq


def _to_u8(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)).permute(2, 0, 1).contiguous()


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    val_psnr: float | None
    wall_time_s: float
    history: pd.DataFrame


def _dist_setup(device: torch.device) -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)


def _weights_digest(model: torch.nn.Module) -> float:
    return float(sum(p.detach().double().sum() * (i + 1) for i, p in enumerate(model.parameters())))


@torch.no_grad()
def validate(model: KernelSpace, pairs: list[Pair], device: torch.device,
             lsq: list[torch.Tensor] | None = None) -> float:
    """Mean PSNR (dB) of F(x, G(x, y)) against y over full-size held-out pairs (with ``lsq``, a ``g_lsq`` G's cached
    least-squares kernels of each pair)."""
    model.eval()
    vals = []
    for i, (s, b) in enumerate(pairs):
        x = torch.from_numpy(read_image(s)).permute(2, 0, 1)[None].to(device)
        y = torch.from_numpy(read_image(b)).permute(2, 0, 1)[None].to(device)
        pred = model(x, y) if lsq is None else model(x, y, lsq=lsq[i][None].to(device))
        vals.append(float(psnr(pred, y)))
    model.train()
    return float(np.mean(vals)) if vals else float("nan")


def _data_manifest_hash(pairs: list[Pair]) -> str | None:
    """sha256 of the ``manifest.json`` of the folder the pairs come from (default sets and synth folders have one)."""
    manifest = pairs[0][0].parent.parent / "manifest.json" if pairs else None
    return sha256_file(manifest) if manifest is not None and manifest.is_file() else None


def check_same_data(ckpt_path: Path, saved: str | None, now: str) -> None:
    """Refuse to resume a run whose training pairs changed since it started (:class:`StaleError`)."""
    if saved is not None and saved != now:
        raise StaleError(f"cannot resume '{ckpt_path}': its training data changed since the run started (data "
                         f"sha256 was {saved[:12]}, now {now[:12]}); train into another --out")


def _held_out(data: str | Path, profile: Profile, n: int | None) -> tuple[list[Pair], list[Pair]]:
    """(training pairs, the first ``n`` validation pairs, all of them for ``None``): the test split of a named
    dataset, else the last 5% of a folder.

    A folder of one pair trains on it and validates on none (there is nothing to hold out).
    """
    train_pairs = resolve_pairs(data, "train", profile)
    if has_test_split(data):
        try:
            val = resolve_pairs(data, "test", profile)
        except BlurkitError:
            val = []
    elif len(train_pairs) > 1:
        k = max(1, len(train_pairs) // 20)
        train_pairs, val = train_pairs[:-k], train_pairs[-k:]
    else:
        val = []
    return train_pairs, val[:n]


def _init_weights(model: KernelSpace, init: str | Path) -> dict:
    """Load ``init`` into ``model`` (see :func:`train`); return what the run records of it."""
    base = KernelSpace.load(init)
    path = checkpoint_path(init)
    fresh = model.init_from(base.to(next(model.parameters()).device))
    prov = base.provenance or {}
    return {"path": str(init), "sha256": sha256_file(path), "fresh_weights": fresh,
            "steps": prov.get("steps"), "final_val_psnr": prov.get("final_val_psnr"),
            "command": prov.get("command"), "git_commit": prov.get("git_commit")}


def train(profile: str | Profile, data: str | Path, out: str | Path, resume: bool = False, steps: int | None = None,
          stop_after: int | None = None, device: str | None = None, progress: bool = True,
          threads: int | None = None, net: str | None = None, init: str | Path | None = None,
          kernel_weight: float | None = None) -> TrainResult:
    """Train a kernel space; see the module docstring. ``stop_after`` ends this call early (tests, time slices).

    ``net`` overrides the profile's network preset (e.g. ``cpu-residual``: the paper's heads at cpu widths).
    ``init`` starts a new run from a trained model (a ``model.pt`` or shipped name) instead of random weights:
    one with the same networks, or a 128 px-grid model for a fine-grid preset (:meth:`KernelSpace.init_from`).
    Its file hash and provenance are recorded in the run's. ``kernel_weight`` overrides the profile's
    (``TrainConfig.kernel_weight``: supervision of F's cell kernels by the pairs' true kernels).
    """
    prof = get_profile(profile)
    cfg: TrainConfig = dataclasses.replace(prof.train, steps=steps) if steps else prof.train
    if kernel_weight is not None:
        if not kernel_weight >= 0:
            raise ValueError(f"kernel_weight must be >= 0, got {kernel_weight}")
        cfg = dataclasses.replace(cfg, kernel_weight=float(kernel_weight))
    if net is not None:
        net_preset(net)  # an unknown name fails here, before any data is read
        cfg = dataclasses.replace(cfg, net=net)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    warn_if_slow_bf16(cfg.bf16, dev)
    if threads:
        torch.set_num_threads(threads)
    rank, world = _dist_setup(dev)
    out = Path(out)
    ckpt_path = out / "last.pt"
    if ckpt_path.exists() and not resume and rank == 0:
        raise BlurkitError(f"'{out}' already holds a run; pass --resume to continue it or choose another --out")
    train_pairs, val_pairs = _held_out(data, prof, cfg.val_pairs)
    net_cfg = net_preset(cfg.net)
    true_kernels = None
    if cfg.kernel_weight:
        if net_cfg.head != "kernel" and not net_cfg.dynamic_kernel:
            raise BlurkitError(f"--kernel-weight needs F to read a kernel off each code cell (a net with head "
                               f"'kernel', e.g. cpu-kernel); '{cfg.net}' has head '{net_cfg.head}'")
        true_kernels = folder_kernels(train_pairs, cfg.crop, net_cfg.code_stride, net_cfg.basis_size)
    bank = PairBank(train_pairs, cfg.crop, true_kernels)
    data_sha256 = pairs_sha256(train_pairs)
    torch.manual_seed(cfg.seed)
    model = KernelSpace(net_cfg).to(dev)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameter_groups(cfg.lr), lr=cfg.lr, betas=cfg.betas)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=cfg.restart_period, eta_min=cfg.eta_min)
    step, history, wall_before = 0, [], 0.0
    init_record = _init_weights(model, init) if init is not None else None
    if resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=dev, weights_only=False)
        defaults = dataclasses.asdict(TrainConfig())  # fields added since the run started take their defaults
        saved = {k: v for k, v in {**{f: defaults[f] for f in _ADDED_FIELDS}, **state["train_config"]}.items()
                 if k != "steps"}
        now = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "steps"}
        if saved != now:
            raise BlurkitError(f"cannot resume '{ckpt_path}': its training config differs from profile '{prof.name}'")
        check_same_data(ckpt_path, state.get("meta", {}).get("data_sha256"), data_sha256)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step, history, wall_before = state["step"], state["history"], state["wall_time_s"]
    val_lsq = None
    if net_cfg.g_lsq:  # G reads the pairs' least-squares kernels in F's tone domain, so F stays as it started
        for p in model.F.parameters():
            p.requires_grad_(False)
        bank.lsq = pair_lsq_kernels(train_pairs, net_cfg.basis_size, model.F.tone, progress and rank == 0)
        val_lsq = pair_lsq_kernels(val_pairs, net_cfg.basis_size, model.F.tone, progress and rank == 0)
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    per_rank = max(1, cfg.batch_size // world)
    meta = {"profile": prof.name, "data": str(data), "data_manifest_sha256": _data_manifest_hash(train_pairs),
            "data_sha256": data_sha256,
            "train_config": dataclasses.asdict(cfg),
            "net_config": model.config.to_dict(), "train_pairs": len(bank), "val_pairs": len(val_pairs),
            "world_size": world, "device": str(dev), "init": init_record}

    def save_state(step: int) -> None:
        if rank != 0:
            return
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                 "step": step, "history": history, "train_config": dataclasses.asdict(cfg),
                 "wall_time_s": wall_before + time.perf_counter() - start, "meta": meta}
        with atomic_path(ckpt_path) as tmp:
            torch.save(state, tmp)

    def train_step(step: int) -> dict[str, float]:
        x, y, k_true, lsq = bank.draw(cfg.seed, step, rank, per_rank)
        x, y = x.to(dev), y.to(dev)
        extra = {} if lsq is None else {"lsq": lsq.to(dev)}
        if cfg.channels_last:
            x, y = x.contiguous(memory_format=torch.channels_last), y.contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            if true_kernels is None:
                pred = net(x, y, **extra)
            else:
                pred, kernels = net(x, y, with_kernels=True, **extra)
        loss = charbonnier(pred, y, cfg.charbonnier_eps)
        row = {}
        if true_kernels is not None:
            cells = k_true.shape[1:3]  # the code cells that cover the crop (F pads on the bottom and right)
            k_err = kernel_error(kernels[:, :cells[0], :cells[1]], k_true.to(dev))
            loss = loss + cfg.kernel_weight * k_err
            row["kernel_error"] = float(k_err.detach())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        return {"loss": float(loss.detach()), "psnr": float(psnr(pred.detach().float(), y).mean()),
                "lr": opt.param_groups[0]["lr"], **row}

    start = time.perf_counter()
    end = cfg.steps if stop_after is None else min(cfg.steps, step + stop_after)
    model.train()
    step, last_val = run_steps(
        step, end, cfg.steps, history, train_step,
        (lambda: validate(model, val_pairs, dev, val_lsq)) if rank == 0 and val_pairs else None,
        cfg.val_every, cfg.ckpt_every, save_state, f"train {prof.name}", progress and rank == 0)
    wall = wall_before + time.perf_counter() - start
    agree = None
    if world > 1:
        digests = [None] * world
        dist.all_gather_object(digests, _weights_digest(model))
        agree = all(math.isclose(d, digests[0], rel_tol=0, abs_tol=0) for d in digests)
    hist = pd.DataFrame(history)
    if rank == 0:
        record = provenance(config=meta, seed=cfg.seed, wall_time_s=wall, steps=step, final_val_psnr=last_val,
                            ddp_weights_agree=agree)
        save_result(hist, "history", out, record)
        if step >= cfg.steps:
            model.save(out / "model.pt", provenance=record, extra={"steps": step, "val_psnr": last_val})
    if world > 1:
        dist.barrier()
    return TrainResult(out, step, last_val, wall, hist)
