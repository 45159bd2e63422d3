"""Checkpoints of the deblurring layer's small networks (the plug-and-play denoiser, the x-step refiner): the config,
the weights and the provenance in one file, written atomically (nanoGPT style)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch

from blurkit.errors import BlurkitError
from blurkit.files import atomic_path

FORMAT_VERSION = 1
Net = TypeVar("Net", bound=torch.nn.Module)


def save_net(net: torch.nn.Module, config: dict[str, Any], path: str | os.PathLike,
             provenance: dict | None = None) -> Path:
    """Write ``{format_version, config, state_dict, provenance}`` to ``path`` atomically."""
    obj = {"format_version": FORMAT_VERSION, "config": config,
           "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
           "provenance": provenance or {}}
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def load_net(path: str | os.PathLike, build: Callable[[dict[str, Any]], Net], missing: str) -> Net:
    """The network ``build(config)`` with the file's weights, in eval mode, its record as ``.provenance``; a missing
    file raises one line: ``missing`` (what it is and the command that makes it)."""
    path = Path(path)
    if not path.is_file():
        raise BlurkitError(missing)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a file that is not a checkpoint
        raise BlurkitError(f"cannot read network file '{path}': {str(exc).splitlines()[0]}") from None
    if not isinstance(obj, dict) or obj.get("format_version") != FORMAT_VERSION or "state_dict" not in obj:
        raise BlurkitError(f"'{path}' is not a blurkit network file (format version {FORMAT_VERSION})")
    net = build(obj["config"])
    net.load_state_dict(obj["state_dict"])
    net.provenance = obj.get("provenance", {})  # type: ignore[assignment]
    return net.eval()


__all__ = ["FORMAT_VERSION", "load_net", "save_net"]
