"""Loaders for the public datasets the paper uses, in their official folder layouts.

Every dataset lives in ``$BLURKIT_DATA/<folder>`` (see :func:`blurkit.paths.data_root`); its JSON manifest in
``data_manifests/`` says what to download, from where, under which licence, and the expected layout:

* GOPRO_Large: ``GOPRO_Large/{train,test}/<seq>/{sharp,blur,blur_gamma}/*.png`` -> :func:`gopro_pairs`
* REDS: ``REDS/{train,val}_{sharp,blur}/<seq>/<frame>.png`` -> :func:`reds_pairs`
* HIDE: ``HIDE_dataset/GT/<name>.png`` with ``train/<name>.png`` and ``test/{test-close-ups,test-long-shot}/<name>.png``
  -> :func:`hide_pairs`
* Levin et al. kernels: ``levin/`` with ``im*_ker*.mat`` (or ``im*_flit*.mat``) files or a ``.mat`` holding a
  ``kernels`` cell array -> :func:`levin_kernels`
* FFHQ and CelebA-HQ image folders -> :func:`image_folder`

A split folder that exists must be complete; at least one split must exist. Pair lists are ``(sharp, blur)``
tuples sorted by path.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import pandas as pd

from blurkit import paths
from blurkit.data.images import is_image_file
from blurkit.data.pairs import Pair, image_names, pair_dirs
from blurkit.errors import BlurkitError, ChecksumError, DatasetLayoutError, DatasetMissingError, UnknownNameError
from blurkit.files import sha256_file

Status = Literal["present", "missing", "corrupt"]
MANIFEST_KEYS = ("name", "title", "homepage", "download", "licence", "citation", "folder", "layout", "files")
GOPRO_SPLITS = ("train", "test")
GOPRO_BLURS = ("blur", "blur_gamma")
REDS_SPLITS = ("train", "val")
HIDE_SUBSETS = ("test-close-ups", "test-long-shot")
_LEVIN_FILE = re.compile(r"^im(\d+)_(?:ker|flit)(\d+)\.mat$", re.IGNORECASE)
_IMAGE_FOLDERS = {"ffhq": ("images1024x1024", "**/*.png"), "celeba-hq": ("CelebA-HQ-img", "*.jpg")}


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _need_dir(folder: Path) -> Path:
    if not folder.is_dir():
        raise DatasetLayoutError(f"missing folder '{folder}'")
    return folder


def _check_choice(what: str, value: str | None, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UnknownNameError(f"unknown {what} {value!r}; known: {', '.join(choices)}")


# ----------------------------------------------------------------------------------------------- GOPRO


def _gopro_split(root: Path, split: str, blur: str = "blur") -> list[Pair]:
    seqs = _subdirs(_need_dir(root / split))
    if not seqs:
        raise DatasetLayoutError(f"no sequence folders in '{root / split}'")
    return [p for seq in seqs for p in pair_dirs(seq / "sharp", seq / blur)]


def gopro_pairs(root: str | os.PathLike | None = None, split: str = "train", blur: str = "blur") -> list[Pair]:
    """GOPRO_Large ``(sharp, blur)`` pairs of one split; ``blur="blur_gamma"`` picks the gamma-corrected blur."""
    _check_choice("split", split, GOPRO_SPLITS)
    _check_choice("blur", blur, GOPRO_BLURS)
    return _gopro_split(_root("gopro", root), split, blur)


def _check_gopro(root: Path) -> str:
    splits = [s for s in GOPRO_SPLITS if (root / s).is_dir()]
    if not splits:
        raise DatasetLayoutError(f"neither 'train/' nor 'test/' in '{root}'")
    return ", ".join(f"{s}: {len(_gopro_split(root, s))} pairs" for s in splits)


# ------------------------------------------------------------------------------------------------ REDS


def _reds_split(root: Path, split: str) -> list[Pair]:
    sharp_root, blur_root = _need_dir(root / f"{split}_sharp"), _need_dir(root / f"{split}_blur")
    sharp_seqs = {p.name for p in _subdirs(sharp_root)}
    blur_seqs = {p.name for p in _subdirs(blur_root)}
    if sharp_seqs != blur_seqs:
        only = sorted(sharp_seqs ^ blur_seqs)
        raise DatasetLayoutError(
            f"unpaired sequence folders between '{sharp_root}' and '{blur_root}': {', '.join(only[:5])}"
        )
    if not sharp_seqs:
        raise DatasetLayoutError(f"no sequence folders in '{sharp_root}'")
    return [p for seq in sorted(sharp_seqs) for p in pair_dirs(sharp_root / seq, blur_root / seq)]


def reds_pairs(root: str | os.PathLike | None = None, split: str = "train") -> list[Pair]:
    """REDS ``(sharp, blur)`` pairs of the ``train`` or ``val`` split."""
    _check_choice("split", split, REDS_SPLITS)
    return _reds_split(_root("reds", root), split)


def _check_reds(root: Path) -> str:
    splits = [s for s in REDS_SPLITS if (root / f"{s}_sharp").is_dir() or (root / f"{s}_blur").is_dir()]
    if not splits:
        raise DatasetLayoutError(f"none of train_sharp/, train_blur/, val_sharp/, val_blur/ in '{root}'")
    return ", ".join(f"{s}: {len(_reds_split(root, s))} pairs" for s in splits)


# ------------------------------------------------------------------------------------------------ HIDE


def _hide_split(root: Path, split: str, subset: str | None = None) -> list[Pair]:
    gt = _need_dir(root / "GT")
    if split == "train":
        blurry_dirs = [root / "train"]
    else:
        blurry_dirs = [root / "test" / s for s in ((subset,) if subset else HIDE_SUBSETS)]
    gt_names = set(image_names(gt))
    pairs: list[Pair] = []
    for d in blurry_dirs:
        names = image_names(_need_dir(d))
        if not names:
            raise DatasetLayoutError(f"no image files in '{d}'")
        lonely = [n for n in names if n not in gt_names]
        if lonely:
            shown = ", ".join(lonely[:5]) + (f" and {len(lonely) - 5} more" if len(lonely) > 5 else "")
            raise DatasetLayoutError(f"blurry images in '{d}' without a sharp image in '{gt}': {shown}")
        pairs += [(gt / n, d / n) for n in names]
    return sorted(pairs, key=lambda p: p[1])


def hide_pairs(root: str | os.PathLike | None = None, split: str = "train", subset: str | None = None) -> list[Pair]:
    """HIDE ``(sharp, blur)`` pairs; for ``split="test"``, ``subset`` picks one of :data:`HIDE_SUBSETS` (default both)."""
    _check_choice("split", split, ("train", "test"))
    if subset is not None:
        if split != "test":
            raise UnknownNameError(f"subset {subset!r} applies to split='test' only")
        _check_choice("subset", subset, HIDE_SUBSETS)
    return _hide_split(_root("hide", root), split, subset)


def _check_hide(root: Path) -> str:
    _need_dir(root / "GT")
    parts = []
    if (root / "train").is_dir():
        parts.append(f"train: {len(_hide_split(root, 'train'))} pairs")
    if (root / "test").is_dir():
        subsets = [s for s in HIDE_SUBSETS if (root / "test" / s).is_dir()]
        if not subsets:
            raise DatasetLayoutError(f"neither of {', '.join(HIDE_SUBSETS)} in '{root / 'test'}'")
        parts += [f"{s}: {len(_hide_split(root, 'test', s))} pairs" for s in subsets]
    if not parts:
        raise DatasetLayoutError(f"neither 'train/' nor 'test/' in '{root}'")
    return ", ".join(parts)


# ----------------------------------------------------------------------------------------------- Levin


def _loadmat(path: Path, names: list[str]) -> dict[str, Any]:
    from scipy.io import loadmat

    try:
        return loadmat(str(path), variable_names=names)
    except Exception as exc:  # scipy raises many kinds for bad or v7.3 (HDF5) files
        raise DatasetLayoutError(f"cannot read MATLAB file '{path}': {exc}") from None


def _normalised(arr: Any, where: str) -> np.ndarray:
    k = np.asarray(arr, dtype=np.float64)
    k = k.reshape(k.shape[:2]) if k.ndim > 2 and all(s == 1 for s in k.shape[2:]) else k
    if k.ndim != 2 or k.size == 0:
        raise DatasetLayoutError(f"kernel {where} is not a 2-D array (shape {k.shape})")
    total = k.sum()
    if not np.isfinite(k).all() or total <= 0:
        raise DatasetLayoutError(f"kernel {where} has non-finite values or a non-positive sum ({total})")
    return (k / total).astype(np.float32)


def _kernels_from_mat(path: Path) -> list[np.ndarray]:
    data = _loadmat(path, ["kernels"])
    if "kernels" not in data:
        raise DatasetLayoutError(f"MATLAB file '{path}' has no variable 'kernels'")
    obj = data["kernels"]
    if obj.dtype == object:  # a MATLAB cell array; MATLAB's linear order is column-major
        items = list(obj.ravel(order="F"))
    elif obj.ndim == 3:  # a numeric stack, kernel index last as in MATLAB
        items = [obj[:, :, i] for i in range(obj.shape[2])]
    else:
        items = [obj]
    if not items:
        raise DatasetLayoutError(f"variable 'kernels' in '{path}' is empty")
    return [_normalised(k, f"{i + 1} of '{path}'") for i, k in enumerate(items)]


def levin_kernels(path: str | os.PathLike | None = None) -> list[np.ndarray]:
    """Levin et al.'s blur kernels, float32, each normalised to sum 1, ordered by kernel index.

    ``path`` is a ``.mat`` file with a ``kernels`` cell array, or a folder with Levin's ``im<i>_ker<j>.mat``
    (or ``im<i>_flit<j>.mat``) files, kernel in variable ``f`` (one file per kernel index, lowest image index),
    or else one ``.mat`` file with ``kernels``. Default: ``$BLURKIT_DATA/levin``.
    """
    path = _root("levin", path)
    if path.is_file():
        return _kernels_from_mat(path)
    mats = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".mat")
    by_kernel: dict[int, tuple[int, Path]] = {}
    for p in mats:
        m = _LEVIN_FILE.match(p.name)
        if m:
            img, ker = int(m.group(1)), int(m.group(2))
            if ker not in by_kernel or img < by_kernel[ker][0]:
                by_kernel[ker] = (img, p)
    if by_kernel:
        kernels = []
        for ker in sorted(by_kernel):
            p = by_kernel[ker][1]
            data = _loadmat(p, ["f"])
            if "f" not in data:
                raise DatasetLayoutError(f"MATLAB file '{p}' has no variable 'f' (the kernel)")
            kernels.append(_normalised(data["f"], f"'f' of '{p}'"))
        return kernels
    for p in mats:
        if "kernels" in _loadmat(p, ["kernels"]):
            return _kernels_from_mat(p)
    raise DatasetLayoutError(f"no im*_ker*.mat files and no .mat file with a 'kernels' variable in '{path}'")


def _check_levin(root: Path) -> str:
    kernels = levin_kernels(root)
    return f"{len(kernels)} kernels"


# ------------------------------------------------------------------------------------- image folders


def _image_files(name: str, root: Path) -> list[Path]:
    sub, pattern = _IMAGE_FOLDERS[name]
    folder = _need_dir(root / sub)
    files = sorted(p for p in folder.glob(pattern) if p.is_file() and is_image_file(p))
    if not files:
        raise DatasetLayoutError(f"no '{pattern}' images in '{folder}'")
    return files


def image_folder(name: str, root: str | os.PathLike | None = None) -> list[Path]:
    """Sorted image paths of a plain image dataset: ``ffhq`` or ``celeba-hq``."""
    if name not in _IMAGE_FOLDERS:
        raise UnknownNameError(f"unknown image-folder dataset '{name}'; known: {', '.join(_IMAGE_FOLDERS)}")
    return _image_files(name, _root(name, root))


# -------------------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class RealDataset:
    """A registry entry: the dataset's name, its manifest file and its layout check."""

    name: str
    manifest_file: str
    check: Callable[[Path], str]  # validates the layout under the root, returns a detail line

    def manifest(self) -> dict[str, Any]:
        """The parsed JSON manifest (read from :data:`blurkit.paths.MANIFEST_DIR` at each call)."""
        path = Path(paths.MANIFEST_DIR) / self.manifest_file
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BlurkitError(f"cannot read manifest '{path}': {exc}") from None
        missing = [k for k in MANIFEST_KEYS if k not in data]
        if missing:
            raise BlurkitError(f"manifest '{path}' lacks keys: {', '.join(missing)}")
        return data

    @property
    def manifest_ref(self) -> str:
        """The manifest as named in messages: ``data_manifests/<file>.json``."""
        return f"data_manifests/{self.manifest_file}"

    def root(self) -> Path:
        """``$BLURKIT_DATA/<folder>``, resolved."""
        return paths.data_root() / self.manifest()["folder"]


REAL_DATASETS: dict[str, RealDataset] = {
    "gopro": RealDataset("gopro", "gopro.json", _check_gopro),
    "reds": RealDataset("reds", "reds.json", _check_reds),
    "hide": RealDataset("hide", "hide.json", _check_hide),
    "levin": RealDataset("levin", "levin.json", _check_levin),
    "ffhq": RealDataset("ffhq", "ffhq.json", lambda root: f"{len(_image_files('ffhq', root))} images"),
    "celeba-hq": RealDataset("celeba-hq", "celeba_hq.json", lambda root: f"{len(_image_files('celeba-hq', root))} images"),
}


def _get(name: str) -> RealDataset:
    if name not in REAL_DATASETS:
        raise UnknownNameError(f"unknown dataset '{name}'; known datasets: {', '.join(REAL_DATASETS)}")
    return REAL_DATASETS[name]


def _missing_message(ds: RealDataset, root: Path) -> str:
    m = ds.manifest()
    return (
        f"dataset '{ds.name}' ({m['title']}) not found at '{root}'. See {ds.manifest_ref}: download "
        f"{m['download']} (homepage {m['homepage']}) and put it in $BLURKIT_DATA/{m['folder']} "
        f"(here: '{paths.data_root() / m['folder']}')."
    )


def _root(name: str, root: str | os.PathLike | None) -> Path:
    """The dataset's root (given or default); raises :class:`DatasetMissingError` when it does not exist."""
    ds = _get(name)
    path = ds.root() if root is None else Path(root).expanduser()
    if not path.exists():
        raise DatasetMissingError(_missing_message(ds, path))
    return path


def _verify_files(ds: RealDataset, root: Path) -> None:
    """Check size and SHA-256 of the manifest's listed files that are on disk (absent ones are skipped)."""
    for entry in ds.manifest()["files"]:
        path = root / entry["path"]
        if not path.is_file():
            continue
        size = entry.get("size")
        if size is not None and path.stat().st_size != int(size):
            raise ChecksumError(
                f"'{path}' is {path.stat().st_size} bytes but {ds.manifest_ref} records {size}; download it again"
            )
        digest = sha256_file(path)
        if digest != entry["sha256"].lower():
            raise ChecksumError(
                f"'{path}' has sha256 {digest} but {ds.manifest_ref} records {entry['sha256']}; download it again"
            )


def dataset_status(name: str) -> tuple[Status, str]:
    """``("present" | "missing" | "corrupt", detail)`` of a registered dataset under ``$BLURKIT_DATA``."""
    ds = _get(name)
    root = ds.root()
    if not root.exists():
        return "missing", f"'{root}' does not exist"
    if not root.is_dir():
        return "corrupt", f"'{root}' is not a folder"
    try:
        detail = ds.check(root)
        _verify_files(ds, root)
    except BlurkitError as exc:
        return "corrupt", str(exc)
    return "present", detail


def require_dataset(name: str) -> Path:
    """The dataset's root folder, checked.

    Raises :class:`DatasetMissingError` (what to download, from where, where to put it) when absent,
    :class:`DatasetLayoutError` when the layout is broken and :class:`ChecksumError` when a listed file differs.
    """
    ds = _get(name)
    root = ds.root()
    if not root.exists():
        raise DatasetMissingError(_missing_message(ds, root))
    try:
        _need_dir(root)
        ds.check(root)
    except DatasetLayoutError as exc:
        raise DatasetLayoutError(
            f"dataset '{name}' at '{root}' is incomplete: {exc} (expected layout: {ds.manifest_ref})"
        ) from None
    _verify_files(ds, root)
    return root


def list_datasets() -> pd.DataFrame:
    """One row per registered dataset: ``name, status, path, detail, homepage, licence``."""
    rows = []
    for name, ds in REAL_DATASETS.items():
        m = ds.manifest()
        status, detail = dataset_status(name)
        rows.append({"name": name, "status": status, "path": str(ds.root()), "detail": detail,
                     "homepage": m["homepage"], "licence": m["licence"]})
    return pd.DataFrame(rows, columns=["name", "status", "path", "detail", "homepage", "licence"])
