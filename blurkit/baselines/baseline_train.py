"""Training and running the learned baselines SRN-Deblur (:mod:`blurkit.baselines.srn`) and DeblurGAN-v2
(:mod:`blurkit.baselines.deblurganv2`) on the same paired data as the kernel space.

Batches come from :class:`blurkit.space.train.PairBank`: batch ``s`` depends only on (seed, s), and so do the
discriminator's local crops, so a run stopped mid-way and resumed from ``last.pt`` ends with exactly the weights of
a run straight through. Files in the run folder (all written atomically):

* ``last.pt``: the training state (networks, optimisers incl. the discriminator's, schedulers, step, history,
  configs, provenance), for ``resume``;
* ``model.pt``: the deblurring network (config as a dict, weights, provenance), written when the run finishes;
* ``history.csv`` + ``history.meta.json``: loss, training PSNR and validation PSNR per step.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from blurkit.baselines.baseline_config import BaselineTrainConfig, get_baseline_config
from blurkit.baselines.deblurganv2 import (
    DeblurGANv2Config,
    DoubleScaleDiscriminator,
    FPNMobileNetGenerator,
    content_loss,
    double_d_loss,
    gan_preset,
    generator_loss,
    random_boxes,
)
from blurkit.baselines.srn import SRNConfig, SRNDeblur, srn_loss, srn_preset
from blurkit.data.images import read_image
from blurkit.data.pairs import Pair, pairs_sha256
from blurkit.errors import BlurkitError, StaleError
from blurkit.files import RunBusyError, atomic_path, lock_run  # noqa: F401 (RunBusyError re-exported)
from blurkit.precision import warn_if_slow_bf16
from blurkit.profiles import get_profile
from blurkit.provenance import provenance, save_result
from blurkit.space.losses import frequency_l1, psnr
from blurkit.space.train import PairBank, _data_manifest_hash, _held_out, check_same_data
from blurkit.space.train_loop import last_validation, run_steps

FORMAT = "blurkit-baseline"
FORMAT_VERSION = 1
#: The modules whose source defines each baseline and its training; their bytes key a run (:func:`code_sha256`).
CODE_FILES: dict[str, tuple[str, ...]] = {
    "srn": ("srn.py", "baseline_train.py", "baseline_config.py"),
    "deblurganv2": ("deblurganv2.py", "baseline_train.py", "baseline_config.py"),
}


def code_sha256(model: str) -> str:
    """SHA-256 of the code in the source files that define ``model`` and how it is trained (:data:`CODE_FILES`).

    Each file counts by :func:`code_fingerprint`: its statements, not its comments, docstrings or layout, so that
    editing the documentation does not make finished runs stale. A finished run whose recorded hash differs was made
    by other code: the work folder trains it again rather than reuse it
    (:func:`blurkit.experiments.baseline_report.ensure_baseline`).
    """
    import hashlib

    h = hashlib.sha256()
    for name in CODE_FILES[model]:
        h.update(name.encode())
        h.update(code_fingerprint((Path(__file__).parent / name).read_text()).encode())
    return h.hexdigest()


def code_fingerprint(source: str) -> str:
    """The syntax tree of Python ``source`` without its docstrings, as text (comments and layout never reach it)."""
    import ast

    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body and \
                isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and \
                isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def network_config(model: str, net: str | dict[str, Any]) -> SRNConfig | DeblurGANv2Config:
    """The network config of a baseline from a preset name or a config dict; an unknown name raises
    :class:`~blurkit.errors.UnknownNameError` naming the choices."""
    if model == "srn":
        return SRNConfig.from_dict(net) if isinstance(net, dict) else srn_preset(net)
    if model == "deblurganv2":
        return DeblurGANv2Config.from_dict(net) if isinstance(net, dict) else gan_preset(net)
    get_baseline_config(model, "smoke")  # raises UnknownNameError naming the choices
    raise AssertionError("unreachable")


def build_network(model: str, net: str | dict[str, Any]) -> nn.Module:
    """The deblurring network of a baseline from a preset name or a config dict."""
    cfg = network_config(model, net)
    return SRNDeblur(cfg) if isinstance(cfg, SRNConfig) else FPNMobileNetGenerator(cfg)


def _seeded(*key: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.random.SeedSequence(list(key)).generate_state(1)[0]))


class BaselineTrainer:
    """A baseline's networks, Adam optimisers and LR schedules; :meth:`train_step` is one optimisation step.

    ``net`` is the deblurring network (SRN, or the DeblurGAN-v2 generator); ``disc`` is DeblurGAN-v2's
    double-scale discriminator (``None`` for SRN). The initial weights depend only on ``cfg.seed``.
    """

    def __init__(self, cfg: BaselineTrainConfig, device: torch.device | str = "cpu") -> None:
        self.cfg, self.device = cfg, torch.device(device)
        warn_if_slow_bf16(cfg.bf16, self.device)
        torch.manual_seed(cfg.seed)
        self.net = build_network(cfg.model, cfg.net).to(self.device)
        self.disc = DoubleScaleDiscriminator(cfg.net).to(self.device) if cfg.model == "deblurganv2" else None
        # bf16 convolutions are fastest in channels-last layout (oneDNN on CPUs with AMX/AVX-512 BF16, cuDNN on GPUs)
        self.layout = torch.channels_last if cfg.bf16 else torch.contiguous_format
        for m in (self.net, self.disc):
            if m is not None:
                m.to(memory_format=self.layout)
        #: With adversarial weight 0 the discriminator cannot move the generator, so it is skipped (same updates).
        self.train_disc = self.disc is not None and self.net.config.adv_weight != 0
        mods = {"net": self.net} if self.disc is None else {"net": self.net, "disc": self.disc}
        self.opts = {k: torch.optim.Adam(m.parameters(), lr=cfg.lr, betas=cfg.betas) for k, m in mods.items()}
        self.scheds = {k: torch.optim.lr_scheduler.LambdaLR(o, lambda s: cfg.lr_factor(s))
                       for k, o in self.opts.items()}

    def train_step(self, sharp: torch.Tensor, blur: torch.Tensor, step: int) -> tuple[dict[str, float], torch.Tensor]:
        """One step on a batch; returns the losses and the (detached) full-size prediction.

        Shape:
            sharp, blur ``(B, 3, H, W)`` in [0, 1] -> prediction ``(B, 3, H, W)``.
        """
        cfg, dev = self.cfg, self.device
        sharp, blur = (t.to(dev).contiguous(memory_format=self.layout) for t in (sharp, blur))
        self.net.train()
        autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cfg.bf16)
        if self.disc is None:
            with autocast:
                outs = self.net(blur)
            loss = srn_loss(outs, sharp, cfg.loss, cfg.fft_weight)
            self._update("net", loss)
            return {"loss": float(loss.detach())}, outs[-1].detach().float()
        if not self.train_disc:
            with autocast:
                fake = self.net(blur)
            content = content_loss(self.net.config, sharp, fake)
            loss = self.net.config.pixel_weight * content + self._frequency(fake, sharp)
            self._update("net", loss)
            return {"loss": float(loss.detach()), "content": float(content.detach()), "adv": float("nan"),
                    "d_loss": float("nan")}, fake.detach().float()
        self.disc.train()
        boxes = random_boxes(sharp.shape[0], sharp.shape[-2], sharp.shape[-1], self.disc.config.local_crop,
                             _seeded(cfg.seed, step, 0, 1))
        with autocast:
            fake = self.net(blur)
            d_loss = double_d_loss(self.disc, sharp, fake, boxes)
        self._update("disc", d_loss)
        self.disc.requires_grad_(False)
        try:
            with autocast:
                g_loss, content, adv = generator_loss(self.disc, sharp, fake, boxes)
            g_loss = g_loss + self._frequency(fake, sharp)
            self._update("net", g_loss)
        finally:
            self.disc.requires_grad_(True)
        return ({"loss": float(g_loss.detach()), "content": float(content.detach()), "adv": float(adv.detach()),
                 "d_loss": float(d_loss.detach())}, fake.detach().float())

    def _frequency(self, fake: torch.Tensor, sharp: torch.Tensor) -> torch.Tensor | float:
        """DeblurGAN-v2's optional frequency-domain term (``cfg.fft_weight``); 0 when off."""
        return self.cfg.fft_weight * frequency_l1(fake, sharp) if self.cfg.fft_weight else 0.0

    def _update(self, name: str, loss: torch.Tensor) -> None:
        opt = self.opts[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        self.scheds[name].step()

    @property
    def lr(self) -> float:
        return float(self.opts["net"].param_groups[0]["lr"])

    @torch.no_grad()
    def predict(self, blur: torch.Tensor) -> torch.Tensor:
        """The network's sharp estimate in eval mode. Shape: ``(B, C, H, W) -> (B, C, H, W)``."""
        return predict(self.net, blur.to(self.device))

    def state_dict(self) -> dict[str, Any]:
        mods = {"net": self.net} if self.disc is None else {"net": self.net, "disc": self.disc}
        return {"modules": {k: m.state_dict() for k, m in mods.items()},
                "optimizers": {k: o.state_dict() for k, o in self.opts.items()},
                "schedulers": {k: s.state_dict() for k, s in self.scheds.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["modules"]["net"])
        if self.disc is not None:
            self.disc.load_state_dict(state["modules"]["disc"])
        for k, o in self.opts.items():
            o.load_state_dict(state["optimizers"][k])
            self.scheds[k].load_state_dict(state["schedulers"][k])


@torch.no_grad()
def predict(net: nn.Module, blur: torch.Tensor) -> torch.Tensor:
    """Run a baseline network in eval mode on any size; the final (full-scale) estimate, clamped to [0, 1].

    Shape:
        ``(B, 1 or 3, H, W) -> (B, same C, H, W)``.
    """
    was_training = net.training
    net.eval()
    try:
        out = net(blur)
    finally:
        net.train(was_training)
    return (out[-1] if isinstance(out, list) else out).float().clamp(0, 1)


@torch.no_grad()
def validate(net: nn.Module, pairs: Sequence[Pair], device: torch.device) -> float:
    """Mean PSNR (dB) of the network's estimate against the sharp image over full-size held-out pairs."""
    vals = []
    for s, b in pairs:
        x = torch.from_numpy(read_image(s)).permute(2, 0, 1)[None].to(device)
        y = torch.from_numpy(read_image(b)).permute(2, 0, 1)[None].to(device)
        vals.append(float(psnr(predict(net, y), x)))
    return float(np.mean(vals)) if vals else float("nan")


@dataclass
class BaselineResult:
    run_dir: Path
    model: str
    step: int
    val_psnr: float | None
    wall_time_s: float
    history: pd.DataFrame


def baseline_pairs(cfg: BaselineTrainConfig, data: str | Path,
                   every_held_out: bool = False) -> tuple[list[Pair], list[Pair]]:
    """(training pairs, validation pairs) a baseline with training config ``cfg`` uses from ``data``.

    A default set is read at the profile the network preset belongs to (``cpu-carry``: ``cpu``). With
    ``every_held_out`` the second list is every pair training leaves out, not only the first ``cfg.val_pairs``.
    """
    return _held_out(data, get_profile(run_profile(cfg)), None if every_held_out else cfg.val_pairs)


def run_profile(cfg: BaselineTrainConfig) -> str:
    """The profile whose default sets a run with training config ``cfg`` reads: its net preset's (``cpu-carry`` and
    ``cpu-l1``: ``cpu``)."""
    return cfg.net.split("-")[0]


def train_baseline(model: str, profile: str | BaselineTrainConfig, data: str | Path, out: str | Path,
                   resume: bool = False, steps: int | None = None, stop_after: int | None = None,
                   device: str | None = None, progress: bool = True, threads: int | None = None) -> BaselineResult:
    """Train ``srn`` or ``deblurganv2`` on paired data; see the module docstring.

    ``data`` is anything :func:`blurkit.data.datasets.resolve_pairs` takes; validation uses its test split, or the last
    5% of a folder. ``steps`` overrides the profile's step count; ``stop_after`` ends this call early (tests, time
    slices) and a later call with ``resume=True`` continues.
    """
    cfg = get_baseline_config(model, profile)
    network_config(model, cfg.net)  # an unknown preset is refused before the run folder is made
    if steps:
        cfg = dataclasses.replace(cfg, steps=steps)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if threads:
        torch.set_num_threads(threads)
    out = Path(out)
    _lock = lock_run(out)  # held until this call returns: one process trains a run folder at a time  # noqa: F841
    ckpt_path = out / "last.pt"
    if ckpt_path.exists() and not resume:
        raise BlurkitError(f"'{out}' already holds a run; pass --resume to continue it or choose another --out")
    train_pairs, val_pairs = baseline_pairs(cfg, data)
    bank = PairBank(train_pairs, cfg.crop)
    data_sha256 = pairs_sha256(train_pairs)
    trainer = BaselineTrainer(cfg, dev)
    step, history, wall_before = 0, [], 0.0
    if resume and ckpt_path.exists():
        state = _load(ckpt_path)
        # settings added since a run was saved take their defaults (the values it was trained with)
        saved = {k: v for k, v in {**BaselineTrainConfig().to_dict(), **state.get("train_config", {})}.items()
                 if k != "steps"}
        if state.get("model") != model or saved != {k: v for k, v in cfg.to_dict().items() if k != "steps"}:
            raise BlurkitError(f"cannot resume '{ckpt_path}': it was trained with another model or training config "
                               f"(saved: {state.get('model')}, {saved})")
        check_same_data(ckpt_path, run_data_sha256(state), data_sha256)
        if run_code_sha256(state) != code_sha256(model):
            raise StaleError(f"cannot resume '{ckpt_path}': the code of {model} or its training changed since the run "
                             "started")
        trainer.load_state_dict(state["trainer"])
        step, history, wall_before = state["step"], state["history"], state["wall_time_s"]
    meta = {"model": model, "data": str(data), "data_manifest_sha256": _data_manifest_hash(train_pairs),
            "data_sha256": data_sha256, "code_sha256": code_sha256(model),
            "train_config": cfg.to_dict(), "net_config": trainer.net.config.to_dict(),
            "net_parameters": sum(p.numel() for p in trainer.net.parameters()), "train_pairs": len(bank),
            "val_pairs": len(val_pairs), "device": str(dev)}
    start = time.perf_counter()

    def record(step: int) -> dict:
        return provenance(config=meta, seed=cfg.seed, wall_time_s=wall_before + time.perf_counter() - start,
                          steps=step, final_val_psnr=last_validation(history))

    def save_state(step: int) -> None:
        state = {"format": FORMAT + "-train", "model": model, "train_config": cfg.to_dict(),
                 "net_config": trainer.net.config.to_dict(), "trainer": trainer.state_dict(), "step": step,
                 "history": history, "wall_time_s": wall_before + time.perf_counter() - start,
                 "provenance": record(step)}
        with atomic_path(ckpt_path) as tmp:
            torch.save(state, tmp)

    def train_step(step: int) -> dict[str, float]:
        sharp, blur = bank.batch(cfg.seed, step, 0, cfg.batch_size, cfg.crop_select)
        losses, pred = trainer.train_step(sharp, blur, step)
        return {**losses, "psnr": float(psnr(pred, sharp.to(dev)).mean()), "lr": trainer.lr,
                "wall_s": wall_before + time.perf_counter() - start}

    end = cfg.steps if stop_after is None else min(cfg.steps, step + stop_after)
    step, last_val = run_steps(step, end, cfg.steps, history, train_step,
                               (lambda: validate(trainer.net, val_pairs, dev)) if val_pairs else None,
                               cfg.val_every, cfg.ckpt_every, save_state, f"train {model} {cfg.net}", progress)
    hist = pd.DataFrame(history)
    rec_final = record(step)
    save_result(hist, "history", out, rec_final)
    if step >= cfg.steps:
        obj = {"format": FORMAT, "format_version": FORMAT_VERSION, "model": model,
               "config": trainer.net.config.to_dict(), "train_config": cfg.to_dict(),
               "state_dict": {k: v.detach().cpu().clone() for k, v in trainer.net.state_dict().items()},
               "provenance": rec_final, "extra": {"steps": step, "val_psnr": last_val}}
        with atomic_path(out / "model.pt") as tmp:
            torch.save(obj, tmp)
    return BaselineResult(out, model, step, last_val, wall_before + time.perf_counter() - start, hist)


def run_code_sha256(checkpoint: dict[str, Any]) -> str | None:
    """The code fingerprint (:func:`code_sha256`) a baseline checkpoint records, if any."""
    config = (checkpoint.get("provenance") or {}).get("config") or {}
    return config.get("code_sha256") if isinstance(config, dict) else None


def run_data_sha256(checkpoint: dict[str, Any]) -> str | None:
    """The training-data fingerprint a baseline checkpoint (``last.pt`` or ``model.pt``) records, if any."""
    config = (checkpoint.get("provenance") or {}).get("config") or {}
    return config.get("data_sha256") if isinstance(config, dict) else None


def _load(path: Path) -> dict[str, Any]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BlurkitError(f"cannot read baseline checkpoint '{path}': corrupt or not a checkpoint ({first})") \
            from None
    if not isinstance(obj, dict) or not str(obj.get("format", "")).startswith(FORMAT):
        raise BlurkitError(f"'{path}' is not a blurkit baseline checkpoint (SRN or DeblurGAN-v2)")
    return obj


def load_baseline(run_or_checkpoint: str | os.PathLike, map_location: str | torch.device = "cpu") -> nn.Module:
    """The deblurring network of a run folder (its ``model.pt``, else ``last.pt``) or of a checkpoint file.

    The network is returned in eval mode with ``model_name`` and ``provenance`` attributes.
    """
    path = Path(run_or_checkpoint).expanduser()
    if path.is_dir():
        path = next((p for p in (path / "model.pt", path / "last.pt") if p.is_file()), path / "model.pt")
    if not path.is_file():
        raise BlurkitError(f"no trained baseline at '{path}'; train one with `blurkit baseline train srn "
                           f"--profile cpu --data gopro-like --out RUN`")
    obj = _load(path)
    config = obj.get("config", obj.get("net_config"))
    weights = obj["state_dict"] if "state_dict" in obj else obj["trainer"]["modules"]["net"]
    try:
        net = build_network(obj["model"], config)
        net.load_state_dict(weights)
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise BlurkitError(f"'{path}' does not match its config: {exc}") from None
    net.model_name = obj["model"]
    net.provenance = obj.get("provenance")
    return net.to(map_location).eval()
