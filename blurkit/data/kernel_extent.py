"""How far a domain's blur reaches: the extent of the kernels its blur generator draws.

A blind kernel estimate needs a support, and a support larger than the blur leaves room for stray taps (the
total-variation estimate of :mod:`blurkit.deblur.tv_kernel` gained on gopro-like test images with 21 px instead of
F's 31; docs/deblurring.md). :func:`domain_extent` reads the support off the domain's own blur generator, the one its
training pairs were drawn from, instead of the test images: the side of the centred square that holds ``mass`` of a
cell kernel's weight (:func:`mass_extent`), at the ``quantile`` of the cell kernels
(:func:`blurkit.data.true_kernels.pair_kernels`) of ``n`` seeded draws (:func:`blurkit.data.synthesis.sample_motion`;
all eight kernels of a uniform domain). No data files are read.
"""

from __future__ import annotations

import functools

import numpy as np

from blurkit.data.domains import get_domain
from blurkit.data.kernels import eight_kernels
from blurkit.data.synthesis import sample_motion
from blurkit.data.true_kernels import pair_kernels

EXTENT_CELL = 32  # px between the cells whose kernels are measured (the ladder's oracle cell)
EXTENT_DRAWS = 60  # motions drawn from a dynamic domain


def mass_extent(kernel: np.ndarray, mass: float = 0.99) -> int:
    """The odd side of the smallest square, centred on the array's centre, that holds ``mass`` of the kernel's weight
    (the whole side when none smaller does).

    Shape:
        kernel ``(S, S)`` with S odd, non-negative with a positive sum.
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 2 == 0:
        raise ValueError(f"mass_extent needs an odd square kernel, got shape {k.shape}")
    if not 0 < mass <= 1 or (k < 0).any() or k.sum() <= 0:
        raise ValueError("mass_extent needs 0 < mass <= 1 and a non-negative kernel with a positive sum")
    k = k / k.sum()
    c = k.shape[0] // 2
    for r in range(c + 1):
        if k[c - r:c + r + 1, c - r:c + r + 1].sum() >= mass - 1e-12:
            return 2 * r + 1
    return k.shape[0]  # pragma: no cover - the whole array holds all the mass


@functools.lru_cache(maxsize=None)
def domain_extent(domain: str, quantile: float = 0.9, mass: float = 0.99, size: int = 31, crop: int = 128,
                  n: int = EXTENT_DRAWS, seed: int = 0) -> int:
    """The ``quantile`` of :func:`mass_extent` over the cell kernels (``size`` px, every :data:`EXTENT_CELL` px of a
    ``crop`` px pair) of ``n`` motions drawn from ``domain`` with ``seed`` (every kernel of a uniform domain), rounded
    up to an odd side. Kept per arguments: the draws are seeded, and the ladder asks for it once per row and key."""
    dom = get_domain(domain)
    if dom.kind == "uniform":
        params = [{"kernel_index": i} for i in range(len(eight_kernels()))]
        stride = crop
    else:
        rng = np.random.default_rng(seed)
        params = [sample_motion(dom, rng).to_dict() for _ in range(n)]
        stride = EXTENT_CELL
    kernels = [pair_kernels(p, dom, crop, stride, size).reshape(-1, size, size) for p in params]
    sides = [mass_extent(k, mass) for cells in kernels for k in cells]
    side = int(np.ceil(np.quantile(sides, quantile)))
    return side + 1 - side % 2


__all__ = ["EXTENT_CELL", "EXTENT_DRAWS", "domain_extent", "mass_extent"]
