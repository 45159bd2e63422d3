"""The true blur kernel of every code cell of a synthetic pair, rebuilt from the parameters its manifest records.

The kernel space's F reads a kernel off every code cell (``KernelSpaceConfig.head="kernel"``); trained on the
reconstruction loss alone it fits y with kernels far from the true ones, which is what limits deconvolution
through it (docs/deblurring.md). Where the blur is known, training can also pull those kernels towards the truth
(``TrainConfig.kernel_weight``). This module says what the truth is:

* ``uniform`` domains (``uniform-8``): the recorded one of :func:`blurkit.data.kernels.eight_kernels`, the same in
  every cell;
* ``dynamic`` domains (GOPRO/REDS-like): the camera's point-spread function at each cell's centre, the sub-frame
  positions that :func:`blurkit.data.synthesis.render_blur` samples there, splatted bilinearly. It describes the
  camera motion only: moving objects, the CRF (the blur happens in the linear domain) and noise are not in it.

Every kernel is a true convolution kernel (as :func:`blurkit.data.kernels.convolve` and F apply them), odd-sided,
non-negative and summing to 1; mass beyond the kernel's side is dropped before normalising.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from blurkit.data.domains import Domain, get_domain
from blurkit.data.kernels import eight_kernels, rasterize
from blurkit.data.pairs import Pair
from blurkit.data.synthesis import REFERENCE_SIDE, Motion, camera_homographies
from blurkit.errors import BlurkitError


def padded_kernel(kernel: np.ndarray, size: int) -> np.ndarray:
    """A kernel centred in a ``size x size`` array (odd sides both), summing to 1.

    Shape:
        kernel ``(s, s)`` with ``s <= size`` -> ``(size, size)`` float32.
    """
    s = kernel.shape[0]
    if kernel.ndim != 2 or kernel.shape[1] != s or s % 2 == 0 or size % 2 == 0:
        raise ValueError(f"kernels must be square with odd sides, got {kernel.shape} into {size}")
    if s > size:
        raise ValueError(f"a {s} px kernel does not fit into {size} px")
    out = np.zeros((size, size), np.float32)
    o = (size - s) // 2
    out[o:o + s, o:o + s] = kernel
    return out / out.sum()


def cell_grid(crop: int, stride: int) -> tuple[int, int]:
    """(cells per side, cell side in px) of the code cells that cover a ``crop`` px image: ``crop // stride`` cells
    of ``stride`` px, or one cell of the whole image when it is smaller than a cell. F pads images on the bottom and
    right, so these are the top-left cells of its code grid, whatever flips and turns came first."""
    if crop < stride:
        return 1, crop
    if crop % stride:
        raise ValueError(f"the {crop} px crop is not a whole number of {stride} px code cells")
    return crop // stride, stride


def camera_paths(params: dict, domain: str | Domain, crop: int, points: np.ndarray) -> np.ndarray:
    """The camera's sub-frame displacements at given points of a ``crop`` px pair rendered with ``params``.

    Follows :func:`blurkit.data.synthesis.synthesize_pair`'s geometry: the crop sits ``margin`` px inside a rendered
    region of side ``crop + 2 margin``, and sub-frame ``t`` samples the region at ``H_t p``. The blurry pixel at a
    point is the mean of ``x(p + d_t)`` (zero displacement at the middle sub-frame, the sharp image), so the
    convolution kernel there has its mass at ``-d_t``.

    Shape:
        points ``(P, 2)`` pixel coordinates (x, y) in the crop -> ``(P, T, 2)`` displacements (x, y) in px, float64.
    """
    dom = get_domain(domain)
    motion = Motion(exposure=float(params["exposure"]), camera=params["camera"], objects=[])
    n = dom.n_subframes
    taus = np.linspace(-motion.exposure / 2, motion.exposure / 2, n) if n > 1 else np.zeros(1)
    margin = crop // 4 + REFERENCE_SIDE // 12
    side = crop + 2 * margin
    hs = camera_homographies(motion, taus, 2.0 * REFERENCE_SIDE / side).double().numpy()  # (T, 3, 3)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2) + margin  # pixel coordinates in the region
    norm = np.concatenate([(pts + 0.5) / side * 2 - 1, np.ones((len(pts), 1))], axis=1)  # (P, 3)
    src = np.einsum("tij,pj->pti", hs, norm)
    src = src[..., :2] / np.clip(src[..., 2:], 1e-6, None)
    return (src - norm[:, None, :2]) * side / 2


def camera_psfs(params: dict, domain: str | Domain, crop: int, stride: int, size: int) -> np.ndarray:
    """The camera's PSF at the centre of every ``stride`` px cell of a ``crop`` px pair rendered with ``params``
    (:func:`camera_paths` at the cell centres, splatted).

    Shape:
        out ``(cells, cells, size, size)`` with ``cells`` of :func:`cell_grid`, float32.
    """
    cells, cell = cell_grid(crop, stride)
    centres = cell * np.arange(cells) + (cell - 1) / 2
    grid = np.stack(np.meshgrid(centres, centres, indexing="xy"), axis=-1).reshape(-1, 2)  # row-major (y, x) cells
    paths = camera_paths(params, domain, crop, grid)
    out = np.zeros((cells, cells, size, size), np.float32)
    for index, d in enumerate(paths):
        out[index // cells, index % cells] = rasterize(-d, size)
    return out


def pair_kernels(params: dict, domain: str | Domain, crop: int, stride: int, size: int) -> np.ndarray:
    """The true kernel of every code cell of one pair (see the module docstring).

    Shape:
        out ``(cells, cells, size, size)`` with ``cells`` of :func:`cell_grid`, float32.
    """
    dom = get_domain(domain)
    if dom.kind == "uniform":
        index = params.get("kernel_index")
        if index is None:
            raise BlurkitError("a uniform-blur pair without a recorded kernel_index")
        k = padded_kernel(eight_kernels()[int(index)], size)
        cells, _ = cell_grid(crop, stride)
        return np.broadcast_to(k, (cells, cells, size, size)).copy()
    return camera_psfs(params, dom, crop, stride, size)


def recorded_params(folder: str | Path) -> tuple[dict, dict[str, dict]]:
    """The ``manifest.json`` of a synthetic paired folder and the blur parameters it records for each pair, by file
    name. Raises one line when the folder has no such record (real datasets, folders of images)."""
    manifest = Path(folder) / "manifest.json"
    try:
        record = json.loads(manifest.read_text())
        return record, {Path(p["name"]).name: p["params"] for p in record["pairs"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BlurkitError(f"true kernels need the recorded blur of a synthetic set's manifest; '{manifest}' has none "
                           f"({type(exc).__name__})") from None


def folder_kernels(pairs: list[Pair], crop: int, stride: int, size: int) -> list[torch.Tensor]:
    """The true cell kernels of every pair, read from the ``manifest.json`` of the folder the pairs come from
    (:func:`recorded_params`).

    Raises one line when the pairs have no such record (real datasets, folders of images).

    Shape:
        each ``(cells, cells, size, size)`` float32 (:func:`cell_grid`), in the order of ``pairs``.
    """
    if not pairs:
        return []
    folder = Path(pairs[0][0]).parent.parent
    manifest = folder / "manifest.json"
    record, params = recorded_params(folder)
    try:
        domain = get_domain(record["domain"]["name"])
    except (KeyError, TypeError) as exc:
        raise BlurkitError(f"true kernels need the blur domain a synthetic set's manifest names; '{manifest}' names "
                           f"none ({type(exc).__name__})") from None
    if domain.kind != "uniform" and int(record.get("size", crop)) != crop:
        raise BlurkitError(f"true kernels of '{folder}' need training crops of the whole {record.get('size')} px "
                           f"pair (the camera PSF is per cell), not {crop} px")
    out = []
    for sharp, _ in pairs:
        if Path(sharp).parent.parent != folder or Path(sharp).name not in params:
            raise BlurkitError(f"pair '{sharp}' is not recorded in '{manifest}'")
        out.append(torch.from_numpy(pair_kernels(params[Path(sharp).name], domain, crop, stride, size)))
    return out


def augment_kernels(kernels: torch.Tensor, flip_h: bool, flip_v: bool, rot: bool) -> torch.Tensor:
    """The cell kernels of a pair flipped / turned as its images are (``PairBank``'s augmentation, in its order).

    Shape:
        ``(cells_h, cells_w, S, S)`` -> the same (cells transposed by a quarter turn).
    """
    if flip_h:
        kernels = kernels.flip(1, 3)
    if flip_v:
        kernels = kernels.flip(0, 2)
    if rot:
        kernels = kernels.rot90(1, (0, 1)).rot90(1, (2, 3))
    return kernels


__all__ = ["augment_kernels", "camera_paths", "camera_psfs", "cell_grid", "folder_kernels", "padded_kernel",
           "pair_kernels", "recorded_params"]
