"""Generic paired (sharp, blur) image data: folder pairing and a PyTorch dataset.

A paired folder holds ``sharp/`` and ``blur/`` with the same file names::

    root/sharp/0001.png   root/blur/0001.png
    root/sharp/0002.png   root/blur/0002.png

:class:`PairDataset` reads such pairs (or any list of ``(sharp, blur)`` paths) with
:func:`blurkit.data.images.read_image`, checks each pair has one size and optionally takes the same random crop
from both images, deterministic given ``(seed, index)``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from blurkit.data.images import Mode, check_same_size, is_image_file, read_image
from blurkit.errors import DatasetLayoutError, ImageSizeError

Pair = tuple[Path, Path]
_SHOW = 5  # how many unpaired names an error message lists


def image_names(folder: str | os.PathLike) -> list[str]:
    """Sorted names of the image files directly in ``folder`` (hidden files skipped)."""
    folder = Path(folder)
    return sorted(p.name for p in folder.iterdir() if p.is_file() and is_image_file(p) and not p.name.startswith("."))


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_SHOW])
    return shown + (f" and {len(names) - _SHOW} more" if len(names) > _SHOW else "")


def pair_dirs(sharp_dir: str | os.PathLike, blur_dir: str | os.PathLike) -> list[Pair]:
    """Pair the image files of two folders by file name, sorted by name.

    Raises :class:`DatasetLayoutError` naming the folder when one is missing, naming the unpaired files when a
    name is in one folder only, and when the folders hold no images.
    """
    sharp_dir, blur_dir = Path(sharp_dir), Path(blur_dir)
    for d in (sharp_dir, blur_dir):
        if not d.is_dir():
            raise DatasetLayoutError(f"missing folder '{d}'")
    sharp, blur = image_names(sharp_dir), image_names(blur_dir)
    only_sharp = sorted(set(sharp) - set(blur))
    only_blur = sorted(set(blur) - set(sharp))
    if only_sharp or only_blur:
        parts = []
        if only_sharp:
            parts.append(f"in '{sharp_dir}' but not in '{blur_dir}': {_listing(only_sharp)}")
        if only_blur:
            parts.append(f"in '{blur_dir}' but not in '{sharp_dir}': {_listing(only_blur)}")
        raise DatasetLayoutError("unpaired files " + "; ".join(parts))
    if not sharp:
        raise DatasetLayoutError(f"no image files in '{sharp_dir}' and '{blur_dir}'")
    return [(sharp_dir / n, blur_dir / n) for n in sharp]


def pair_folder(root: str | os.PathLike) -> list[Pair]:
    """``(sharp, blur)`` path pairs of a folder holding ``sharp/`` and ``blur/`` with the same file names."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"paired folder '{root}' does not exist")
    return pair_dirs(root / "sharp", root / "blur")


def pairs_sha256(pairs: Sequence[Pair]) -> str:
    """sha256 of the bytes of every file of the pairs, in order: changes when any image is rewritten differently.

    Symbolic links are followed, so a folder of links changes its fingerprint with the files it points to.
    """
    h = hashlib.sha256()
    for pair in pairs:
        for path in pair:
            h.update(len(Path(path).name).to_bytes(4, "little") + Path(path).name.encode())
            with open(path, "rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
    return h.hexdigest()


def unique_names(paths: Sequence[Path]) -> list[str]:
    """Shortest trailing parts of each path (``a.png``, ``seq/a.png``, ...) that tell all paths apart."""
    paths = [Path(p) for p in paths]
    depth = 1
    while True:
        names = ["/".join(p.parts[-depth:]) for p in paths]
        if len(set(names)) == len(names) or all(depth >= len(p.parts) for p in paths):
            return names
        depth += 1


class PairDataset(Dataset):
    """A dataset of ``(sharp, blur)`` image pairs.

    Each item is ``{"sharp": Tensor(C, H, W), "blur": Tensor(C, H, W), "name": str}`` with float32 values in
    ``[0, 1]``; ``C`` is 3 for ``mode="rgb"`` and 1 for ``mode="gray"``. ``name`` is the sharp file's name, with
    as many parent folders as needed to tell the items apart (``seq/000001.png``). With ``crop`` both images are
    cut to ``crop x crop`` at the same position, drawn from ``numpy.random.default_rng([seed, index])``.

    Shape:
        out ``(C, crop, crop)`` with ``crop``, else ``(C, H, W)`` of the files.
    """

    def __init__(self, pairs: Sequence[tuple[str | os.PathLike, str | os.PathLike]], mode: Mode = "rgb",
                 crop: int | None = None, seed: int = 0) -> None:
        if mode not in ("rgb", "gray", "keep"):
            raise ValueError(f"mode must be 'rgb', 'gray' or 'keep', not {mode!r}")
        if crop is not None and (not isinstance(crop, int) or crop < 1):
            raise ValueError(f"crop must be a positive integer or None, not {crop!r}")
        if seed < 0:
            raise ValueError(f"seed must be non-negative, not {seed}")
        self.pairs: list[Pair] = [(Path(s), Path(b)) for s, b in pairs]
        self.mode: Mode = mode
        self.crop = crop
        self.seed = int(seed)
        self.names = unique_names([s for s, _ in self.pairs])

    def __len__(self) -> int:
        return len(self.pairs)

    def crop_box(self, index: int, height: int, width: int) -> tuple[int, int]:
        """Top-left corner ``(top, left)`` of the crop for item ``index`` of an image ``height x width``."""
        assert self.crop is not None
        rng = np.random.default_rng([self.seed, index])
        top = int(rng.integers(0, height - self.crop + 1))
        left = int(rng.integers(0, width - self.crop + 1))
        return top, left

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        n = len(self.pairs)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} pairs")
        index = index % n
        sharp_path, blur_path = self.pairs[index]
        sharp = read_image(sharp_path, self.mode)
        blur = read_image(blur_path, self.mode)
        check_same_size(sharp, blur, sharp_path, blur_path)
        if sharp.shape[2] != blur.shape[2]:  # only possible with mode="keep"
            raise ImageSizeError(
                f"pair channel mismatch: '{sharp_path}' has {sharp.shape[2]} channels but '{blur_path}' has "
                f"{blur.shape[2]}"
            )
        if self.crop is not None:
            h, w = sharp.shape[:2]
            if h < self.crop or w < self.crop:
                raise ImageSizeError(
                    f"image '{sharp_path}' (and '{blur_path}') is {h}x{w} px, smaller than the "
                    f"{self.crop}x{self.crop} crop"
                )
            top, left = self.crop_box(index, h, w)
            sharp = sharp[top:top + self.crop, left:left + self.crop]
            blur = blur[top:top + self.crop, left:left + self.crop]
        return {"sharp": _to_tensor(sharp), "blur": _to_tensor(blur), "name": self.names[index]}


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W, C) float32 array -> contiguous (C, H, W) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))
