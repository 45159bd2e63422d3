"""Training a StyleGAN2 generator on a folder of sharp images (the scene-text crops), as StyleGAN2 does, at small scale.

One step (:meth:`GanTrainer.train_step`; settings in :class:`~blurkit.generator.gan_config.GanTrainConfig`):

1. discriminator: non-saturating logistic loss ``softplus(D(fake)) + softplus(-D(real))``; every ``r1_every`` steps
   also the lazy R1 penalty ``gamma / 2 * |grad_x D(x)|^2 * r1_every`` on the reals;
2. generator: ``softplus(-D(G(z)))``; every ``path_every`` steps (when ``path_weight > 0``) also the lazy
   path-length penalty;
3. ``g_ema`` moves towards the generator with the decay of the ``ema_half_life`` (in images).

Latents come from one z, or from two with probability ``mixing`` (style mixing at a random layer); noise maps are
drawn per sample. Every draw (the batch, flips, z, the mixing layer, noise) comes from a generator seeded by
``(seed, step, purpose)``, and the real batches walk a seeded permutation per epoch, so a run stopped and resumed
from ``last.pt`` ends with exactly the weights of a straight run.

Files in the run folder (all written atomically): ``last.pt`` (G, D, g_ema, both Adams, path-length mean, step,
history, config, provenance); ``model.pt`` (g_ema via :func:`~blurkit.generator.checkpoints.save_generator`, with
``latent_avg``, written when the run finishes); ``history.csv`` + ``history.meta.json`` (step, d_loss, g_loss, r1,
path_loss, wall_s); ``samples/step_XXXXXX.png`` (g_ema on fixed latents) and ``samples/samples.meta.json``.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as Fnn

from blurkit.data.images import read_image, write_image
from blurkit.errors import BlurkitError, ImageSizeError, StaleError
from blurkit.files import atomic_path, lock_run
from blurkit.generator.checkpoints import load_generator, save_generator
from blurkit.generator.discriminator import StyleGAN2Discriminator
from blurkit.generator.gan_config import GanTrainConfig, gan_train_config
from blurkit.generator.stylegan2 import StyleGAN2Config, StyleGAN2Generator, to_unit
from blurkit.progress import progress_bar
from blurkit.provenance import provenance, write_json

FORMAT = "blurkit-gan-train"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_BATCH, _FLIP, _D_LATENTS, _G_LATENTS, _PATH, _SAMPLES = range(6)  # purposes of the seeded draws


def seeded(*key: int) -> torch.Generator:
    """A CPU generator seeded by a tuple of integers (``np.random.SeedSequence`` mixes them)."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence(list(key)).generate_state(1)[0]))


def load_image_folder(folder: str | os.PathLike, size: int, progress: bool = True) -> torch.Tensor:
    """Every PNG/JPEG of ``folder`` (or of its ``sharp/`` subfolder, the text-crop layout), sorted by name.

    Images must be square with a side of ``size`` or an integer multiple of it (box-filtered down).
    Shape: ``(N, 3, size, size)`` uint8.
    """
    folder = Path(folder)
    if (folder / "sharp").is_dir():
        folder = folder / "sharp"
    if not folder.is_dir():
        raise BlurkitError(f"no image folder at '{folder}'")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise BlurkitError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in '{folder}'")
    out = torch.empty(len(files), 3, size, size, dtype=torch.uint8)
    for i, path in enumerate(progress_bar(files, desc="read images", unit="img", disable=not progress)):
        img = read_image(path)
        h, w = img.shape[:2]
        k = h // size
        if h != w or k < 1 or h != k * size:
            raise ImageSizeError(f"'{path}' is {h}x{w} px; this generator needs {size}x{size} px images (or a "
                                 f"square multiple of {size} px)")
        img = img.reshape(size, k, size, k, 3).mean(axis=(1, 3))
        out[i] = torch.from_numpy(np.rint(img * 255).astype(np.uint8)).permute(2, 0, 1)
    return out


class GanTrainer:
    """Generator, discriminator, ``g_ema`` and their Adam optimisers; :meth:`train_step` is one StyleGAN2 step.

    The initial weights depend only on ``cfg.seed`` (drawn under a forked RNG: torch's global state is untouched).
    """

    def __init__(self, cfg: GanTrainConfig, device: torch.device | str = "cpu") -> None:
        self.cfg, self.device = cfg, torch.device(device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.g = StyleGAN2Generator(cfg.generator_config)
            self.d = StyleGAN2Discriminator(cfg.generator_config)
        self.g, self.d = self.g.to(self.device), self.d.to(self.device)
        self.g_ema = copy.deepcopy(self.g).eval().requires_grad_(False)
        g_lr, g_betas = cfg.adam(cfg.path_every, cfg.path_weight > 0)
        d_lr, d_betas = cfg.adam(cfg.r1_every, cfg.r1_gamma > 0)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=g_lr, betas=g_betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=d_lr, betas=d_betas)
        self.mean_path_length = 0.0

    def latents(self, batch: int, gen: torch.Generator) -> dict[str, Any]:
        """Keyword arguments of a generator call: one or two z (style mixing), the mixing layer, per-sample noise."""
        g, dim = self.g, self.g.style_dim
        if self.cfg.mixing > 0 and float(torch.rand((), generator=gen)) < self.cfg.mixing:
            z = torch.randn(2, batch, dim, generator=gen)
            styles, inject = [z[0], z[1]], int(torch.randint(1, g.n_latent, (), generator=gen))
        else:
            styles, inject = [torch.randn(batch, dim, generator=gen)], None
        noise = [torch.randn(batch, 1, 2 ** ((j + 5) // 2), 2 ** ((j + 5) // 2), generator=gen)
                 for j in range(g.num_layers)]
        return {"styles": [s.to(self.device) for s in styles], "inject_index": inject,
                "noise": [n.to(self.device) for n in noise]}

    def train_step(self, real: torch.Tensor, step: int) -> dict[str, float | None]:
        """One discriminator and one generator update on reals in [-1, 1], then the g_ema update.

        Shape: real ``(B, 3, size, size)``.
        """
        cfg, seed = self.cfg, self.cfg.seed
        real = real.to(self.device)
        b = real.shape[0]
        with torch.no_grad():
            fake = self.g(**self.latents(b, seeded(seed, _D_LATENTS, step)))[0]
        d_loss = Fnn.softplus(self.d(fake)).mean() + Fnn.softplus(-self.d(real)).mean()
        self._update(self.opt_d, d_loss)
        r1 = None
        if cfg.r1_gamma > 0 and step % cfg.r1_every == 0:
            x = real.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.d(x).sum(), x, create_graph=True)
            penalty = grad.square().flatten(1).sum(1).mean()
            self._update(self.opt_d, cfg.r1_gamma / 2 * penalty * cfg.r1_every)
            r1 = float(penalty.detach())
        self.d.requires_grad_(False)
        try:
            fake = self.g(**self.latents(b, seeded(seed, _G_LATENTS, step)))[0]
            g_loss = Fnn.softplus(-self.d(fake)).mean()
            self._update(self.opt_g, g_loss)
            path = self._path_step(b, step) if cfg.path_weight > 0 and step % cfg.path_every == 0 else None
        finally:
            self.d.requires_grad_(True)
        decay = cfg.ema_decay(step)
        with torch.no_grad():
            for p_ema, p in zip(self.g_ema.parameters(), self.g.parameters()):
                p_ema.lerp_(p, 1 - decay)
        return {"d_loss": float(d_loss.detach()), "g_loss": float(g_loss.detach()), "r1": r1, "path_loss": path}

    def _path_step(self, batch: int, step: int) -> float:
        """The lazy path-length penalty: ``(|J_w^T y| - a)^2`` with y a unit-variance image-space direction."""
        cfg = self.cfg
        n = max(1, batch // cfg.path_batch_shrink)
        gen = seeded(cfg.seed, _PATH, step)
        fake, w_plus = self.g(**self.latents(n, gen), return_latents=True)
        y = torch.randn(fake.shape, generator=gen).to(self.device) / math.sqrt(fake.shape[2] * fake.shape[3])
        (grad,) = torch.autograd.grad((fake * y).sum(), w_plus, create_graph=True)
        lengths = grad.square().sum(2).mean(1).sqrt()
        target = self.mean_path_length + cfg.path_decay * (float(lengths.detach().mean()) - self.mean_path_length)
        penalty = (lengths - target).square().mean()
        self._update(self.opt_g, cfg.path_weight * cfg.path_every * penalty)
        self.mean_path_length = target
        return float(penalty.detach())

    @staticmethod
    def _update(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def state_dict(self) -> dict[str, Any]:
        return {"g": self.g.state_dict(), "d": self.d.state_dict(), "g_ema": self.g_ema.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "mean_path_length": self.mean_path_length}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("g", "d", "g_ema", "opt_g", "opt_d"):
            getattr(self, name).load_state_dict(state[name])
        self.mean_path_length = float(state["mean_path_length"])


@functools.lru_cache(maxsize=4)
def _permutation(seed: int, epoch: int, n: int) -> torch.Tensor:
    return torch.randperm(n, generator=seeded(seed, _BATCH, epoch))


def real_batch(images: torch.Tensor, cfg: GanTrainConfig, step: int) -> torch.Tensor:
    """The reals of ``step``: items ``step * B ... step * B + B - 1`` of one seeded permutation per epoch, flipped
    at random when ``cfg.flip``. Shape: uint8 ``(N, 3, S, S)`` -> float ``(B, 3, S, S)`` in [-1, 1]."""
    n, b = images.shape[0], cfg.batch_size
    idx = [int(_permutation(cfg.seed, i // n, n)[i % n]) for i in range(step * b, step * b + b)]
    x = images[idx].float() / 127.5 - 1
    if cfg.flip:
        flip = torch.rand(b, generator=seeded(cfg.seed, _FLIP, step)) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x


@torch.no_grad()
def sample_images(gen: StyleGAN2Generator, n: int, seed: int, truncation: float = 1.0) -> torch.Tensor:
    """``n`` images of ``gen`` in eval mode from z drawn with ``seed`` and the stored noise maps (deterministic).

    Truncation < 1 pulls w towards ``latent_avg`` (or the mean w of 4096 z when none is stored).
    Shape: ``(n, 3, size, size)`` in [0, 1].
    """
    was_training = gen.training
    gen.eval()
    try:
        centre = None if truncation >= 1 or gen.latent_avg is not None else gen.mean_latent(4096, seed)
        img = gen(gen.sample_z(n, seed), randomize_noise=False, truncation=truncation, truncation_latent=centre)[0]
    finally:
        gen.train(was_training)
    return to_unit(img).cpu()


def image_grid(images: torch.Tensor, pad: int = 2) -> np.ndarray:
    """Images side by side, ``ceil(sqrt(n))`` per row, ``pad`` px of white between them.

    Shape: ``(n, 3, S, S)`` in [0, 1] -> ``(rows * (S + pad) - pad, cols * (S + pad) - pad, 3)``.
    """
    n, _, s, _ = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.ones((rows * (s + pad) - pad, cols * (s + pad) - pad, 3), dtype=np.float32)
    for i, img in enumerate(images.permute(0, 2, 3, 1).numpy()):
        r, c = divmod(i, cols)
        grid[r * (s + pad): r * (s + pad) + s, c * (s + pad): c * (s + pad) + s] = img
    return grid


def _load_state(path: Path) -> dict[str, Any]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BlurkitError(f"cannot read GAN checkpoint '{path}': corrupt or not a checkpoint ({first})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise BlurkitError(f"'{path}' is not a blurkit GAN training checkpoint (no format '{FORMAT}')")
    return obj


def _config_difference(saved: dict[str, Any], cfg: GanTrainConfig) -> list[str]:
    """Keys (other than ``steps``) in which a saved run's config differs from ``cfg``."""
    now = cfg.to_dict()
    return sorted(k for k in set(saved) | set(now) if k != "steps" and saved.get(k) != now.get(k))


@dataclass
class GanResult:
    """What :func:`train_gan` returns: the run folder, the step reached, the total wall time, the history and g_ema."""

    run_dir: Path
    step: int
    wall_time_s: float
    history: pd.DataFrame
    g_ema: StyleGAN2Generator


def train_gan(profile: str | GanTrainConfig, data: str | os.PathLike, out: str | os.PathLike, resume: bool = False,
              steps: int | None = None, stop_after: int | None = None, device: str | None = None,
              progress: bool = True, threads: int | None = None) -> GanResult:
    """Train a StyleGAN2 generator on the images of ``data``; see the module docstring.

    ``steps`` overrides the profile's step count; ``stop_after`` ends this call early (tests, time slices) and a
    later call with ``resume=True`` continues exactly.
    """
    cfg = gan_train_config(profile)
    if steps is not None:
        if steps < 1:
            raise BlurkitError(f"--steps must be >= 1, got {steps}")
        cfg = dataclasses.replace(cfg, steps=steps)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if threads:
        torch.set_num_threads(threads)
    out = Path(out)
    lock = lock_run(out)  # one process trains a run folder at a time
    try:
        return _train(cfg, Path(data), out, resume, stop_after, dev, progress)
    finally:
        lock.close()


def _train(cfg: GanTrainConfig, data: Path, out: Path, resume: bool, stop_after: int | None, dev: torch.device,
           progress: bool) -> GanResult:
    ckpt_path = out / "last.pt"
    state = _load_state(ckpt_path) if ckpt_path.exists() else None
    if state is not None:
        diff = _config_difference(state.get("train_config", {}), cfg)
        if diff:
            raise BlurkitError(f"'{out}' holds a GAN run of another config (differs in {', '.join(diff)}); choose "
                               "another --out")
        if not resume:
            raise BlurkitError(f"'{out}' already holds a GAN run (step {state['step']}); pass --resume to continue "
                               "it or choose another --out")
    images = load_image_folder(data, cfg.size, progress)
    data_sha256 = hashlib.sha256(images.numpy().tobytes()).hexdigest()
    trainer = GanTrainer(cfg, dev)
    step, history, wall_before = 0, [], 0.0
    if state is not None:
        if state.get("data_sha256") != data_sha256:
            raise StaleError(f"cannot resume '{ckpt_path}': it was trained on other images than '{data}'")
        trainer.load_state_dict(state["trainer"])
        step, history, wall_before = state["step"], state["history"], state["wall_time_s"]
    meta = {"data": str(data), "data_sha256": data_sha256, "images": int(images.shape[0]),
            "train_config": cfg.to_dict(), "generator_config": cfg.generator_config.to_dict(),
            "g_parameters": trainer.g.num_parameters(),
            "d_parameters": sum(p.numel() for p in trainer.d.parameters()), "device": str(dev)}
    start = time.perf_counter()

    def wall() -> float:
        return wall_before + time.perf_counter() - start

    def record(at: int) -> dict:
        return provenance(config=meta, seed=cfg.seed, wall_time_s=wall(), steps=at)

    def save_state(at: int) -> None:
        rec = record(at)
        obj = {"format": FORMAT, "train_config": cfg.to_dict(), "generator_config": meta["generator_config"],
               "data_sha256": data_sha256, "trainer": trainer.state_dict(), "step": at, "history": history,
               "wall_time_s": wall(), "provenance": rec}
        with atomic_path(ckpt_path) as tmp:
            torch.save(obj, tmp)
        with atomic_path(out / "history.csv") as tmp:
            pd.DataFrame(history, columns=["step", "d_loss", "g_loss", "r1", "path_loss", "wall_s"]).to_csv(
                tmp, index=False, float_format="%.6g")
        write_json(out / "history.meta.json", rec)

    def save_samples(at: int) -> None:
        sample_seed = int(np.random.SeedSequence([cfg.seed, _SAMPLES]).generate_state(1)[0])
        grid = image_grid(sample_images(trainer.g_ema, cfg.n_samples, sample_seed))
        write_image(out / "samples" / f"step_{at:06d}.png", grid)
        write_json(out / "samples" / "samples.meta.json", {**record(at), "sample_seed": sample_seed,
                                                          "n_samples": cfg.n_samples, "last_step": at})

    end = cfg.steps if stop_after is None else min(cfg.steps, step + stop_after)
    bar = progress_bar(total=cfg.steps, initial=step, desc=f"train gan {cfg.name}", unit="step",
                       disable=not progress, dynamic_ncols=True)
    try:
        while step < end:
            logged = trainer.train_step(real_batch(images, cfg, step), step)
            step += 1
            history.append({"step": step, **logged, "wall_s": wall()})
            bar.update(1)
            bar.set_postfix(d=f"{logged['d_loss']:.3f}", g=f"{logged['g_loss']:.3f}")
            if step % cfg.sample_every == 0 or step == cfg.steps:
                save_samples(step)
            if step % cfg.ckpt_every == 0:
                save_state(step)
    except KeyboardInterrupt:
        save_state(step)  # nothing lost: --resume continues from here
        raise
    finally:
        bar.close()
    save_state(step)
    if step >= cfg.steps:
        trainer.g_ema.latent_avg = trainer.g_ema.mean_latent(4096, cfg.seed)
        save_generator(trainer.g_ema, out / "model.pt", record(step))
    return GanResult(out, step, wall(), pd.DataFrame(history), trainer.g_ema)


def load_trained_generator(run_or_checkpoint: str | os.PathLike,
                           map_location: str | torch.device = "cpu") -> StyleGAN2Generator:
    """The g_ema of a run folder (its ``model.pt``, else the one in ``last.pt``) or of either file, in eval mode."""
    path = Path(run_or_checkpoint).expanduser()
    if path.is_dir():
        path = next((p for p in (path / "model.pt", path / "last.pt") if p.is_file()), path / "model.pt")
    if not path.is_file():
        raise BlurkitError(f"no trained generator at '{path}'; train one with `blurkit gan train --profile cpu "
                           "--data text --out RUN`")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not a training checkpoint: load_generator reads it or says why not in one line
        obj = None
    if not (isinstance(obj, dict) and obj.get("format") == FORMAT):
        return load_generator(path, map_location)
    gen = StyleGAN2Generator(StyleGAN2Config.from_dict(obj["generator_config"]))
    gen.load_state_dict(obj["trainer"]["g_ema"])
    gen.provenance = obj.get("provenance")
    return gen.to(map_location).eval()
