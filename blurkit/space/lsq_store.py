"""A store of least-squares tile kernels on disk, keyed by the tiles' content: a ``g_lsq`` G estimates a tile once.

A ``g_lsq`` G (:mod:`blurkit.space.lsq_extractor`) starts from the least-squares kernel of every 128 px tile of
(x, y), which costs 1.4 s a tile on two threads (3.5 s on one). Transfer, blur swapping and augmentation read the
same training pairs again and again (the notebooks of Tables 2 and 4 each transfer from about 800 of them), so every
estimate is kept in ``$BLURKIT_DATA/lsq-cache/tiles/`` under the sha256 of the two tiles' float32 bytes, F's tone
curve, the kernel size and the estimate's settings, one small file each, written atomically (two processes may fill
the store at once). A file that cannot be read is computed again; a store that cannot be written is skipped.
``BLURKIT_LSQ_STORE=0`` turns it off, and a folder there puts the store in that folder.

A kernel read from the store is the one computed when the tile was first met, possibly in a batch of other tiles;
batched and single FFTs may differ in the last bits, so a stored kernel can differ from a fresh one by about 1e-7.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn as nn

from blurkit.files import atomic_path
from blurkit.paths import data_root
from blurkit.space.kernel_lsq import LSQ_ITERS, LSQ_REJECT, LSQ_ROBUST, LSQ_RIDGE, LSQ_WEIGHTS

ENV = "BLURKIT_LSQ_STORE"


def tone_digest(tone: nn.Module | None) -> str:
    """sha256 of a tone curve's weights (``"none"`` without one)."""
    if tone is None:
        return "none"
    h = hashlib.sha256()
    for name, value in sorted(tone.state_dict().items()):
        h.update(name.encode() + value.detach().cpu().double().numpy().tobytes())
    return h.hexdigest()


def store_enabled() -> bool:
    """False when ``$BLURKIT_LSQ_STORE`` is ``0``."""
    return os.environ.get(ENV, "1") != "0"


def store_root() -> Path:
    """The store's folder: ``$BLURKIT_LSQ_STORE`` when it names one, else ``$BLURKIT_DATA/lsq-cache/tiles``."""
    env = os.environ.get(ENV, "1")
    return Path(env).expanduser().resolve() if env not in ("0", "1") else data_root() / "lsq-cache" / "tiles"


def settings_key(size: int, tone: nn.Module | None) -> str:
    """What every key of one tone curve and kernel size shares: the curve's digest and the estimate's settings."""
    return json.dumps({"tone": tone_digest(tone), "size": size, "iters": LSQ_ITERS, "ridge": LSQ_RIDGE,
                       "robust": LSQ_ROBUST, "weights": LSQ_WEIGHTS, "reject": LSQ_REJECT}, sort_keys=True)


def tile_key(x: torch.Tensor, y: torch.Tensor, settings: str) -> str:
    """sha256 of one pair of tiles (their float32 bytes and shape) and the shared settings.

    Shape:
        x, y ``(C, T, T)``.
    """
    h = hashlib.sha256(settings.encode())
    for t in (x, y):
        h.update(str(tuple(t.shape)).encode() + t.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def store_path(key: str) -> Path:
    """Where the kernel of one key lives."""
    return store_root() / key[:2] / f"{key}.pt"


def _read(path: Path, size: int) -> torch.Tensor | None:
    try:
        kernel = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # absent, half-copied or foreign: computed again
        return None
    return kernel if isinstance(kernel, torch.Tensor) and tuple(kernel.shape) == (size, size) else None


def _write(path: Path, kernel: torch.Tensor) -> None:
    try:
        with atomic_path(path) as tmp:
            torch.save(kernel.detach().cpu().clone(), tmp)
    except OSError:  # a read-only or full data folder: the estimate is still returned
        pass


def stored_tile_kernels(x: torch.Tensor, y: torch.Tensor, size: int, tone: nn.Module | None,
                        compute: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The kernel of every pair of tiles: read from the store where it is there, the rest computed by ``compute``
    in one batch and stored.

    Shape:
        x, y ``(N, C, T, T)``; ``compute`` maps ``(M, C, T, T)`` pairs to ``(M, size, size)`` -> ``(N, size, size)``.
    """
    if not store_enabled():
        return compute(x, y)
    settings = settings_key(size, tone)
    paths = [store_path(tile_key(a, b, settings)) for a, b in zip(x, y)]
    found = [_read(p, size) for p in paths]
    todo = [i for i, k in enumerate(found) if k is None]
    if todo:
        fresh = compute(x[todo], y[todo])
        for i, kernel in zip(todo, fresh):
            _write(paths[i], kernel)
            found[i] = kernel
    return torch.stack([k.to(x.device, torch.float32) for k in found])  # type: ignore[union-attr]


__all__ = ["ENV", "settings_key", "store_enabled", "store_path", "store_root", "stored_tile_kernels", "tile_key",
           "tone_digest"]
