"""blurkit: a reproducibility package for "Explore Image Deblurring via Encoded Blur Kernel Space" (CVPR 2021).

The few names a library user needs are exported here (loaded on first use, so ``import blurkit`` stays light)::

    from blurkit import KernelSpace, deblur, transfer, retrieve_kernel
    ks = KernelSpace.load("reds-like")          # a shipped kernel space (F and G)
    result = deblur(ks, y, "fast")              # blind deblurring, Eq. 6; result.x, result.k

Packages, by layer (imports point down only; ``tests/test_layering.py`` enforces it):
``data`` → ``space`` → ``deblur`` → ``baselines`` → ``experiments`` / ``teaching`` → ``cli``,
all over the shared top-level modules (errors, paths, files, profiles, progress, provenance, paper, plots).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from blurkit.errors import BlurkitError  # noqa: E402

_EXPORTS = {
    "KernelSpace": ("blurkit.space.kernel_space", "KernelSpace"),
    "transfer": ("blurkit.space.transfer", "transfer_images"),
    "train": ("blurkit.space.train", "train"),
    "deblur": ("blurkit.deblur.solver", "deblur"),
    "DeblurConfig": ("blurkit.deblur.deblur_config", "DeblurConfig"),
    "retrieve_kernel": ("blurkit.deblur.retrieval", "retrieve_kernel"),
}

__all__ = ["BlurkitError", "__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module, attr = _EXPORTS[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'blurkit' has no attribute {name!r}")
