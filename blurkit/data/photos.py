"""The real photographs behind the embedded default data (``data_manifests/photos.json``).

Photos come from packages: scikit-image's and scikit-learn's bundled samples (always there) and three Debian
wallpaper packages (installed by ``make`` where apt is available, skipped with a note elsewhere). Preparing
verifies each source file's sha256, then stores a copy resized to a short side of :data:`SHORT_SIDE` px under
``$BLURKIT_DATA/photos/``. The split is by photo and fixed in the manifest.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from blurkit.data.images import read_image
from blurkit.errors import BlurkitError, ChecksumError, UnknownNameError
from blurkit.files import atomic_path, sha256_file
from blurkit.paths import MANIFEST_DIR, data_root

SHORT_SIDE = 384
PHOTO_MANIFEST = MANIFEST_DIR / "photos.json"


@dataclass(frozen=True)
class Photo:
    """One manifest entry."""

    id: str
    source: str
    locator: dict
    sha256: str
    split: str
    kind: str
    licence: str
    width: int
    height: int

    def source_path(self) -> Path:
        """Where the package installed the original file."""
        if "path" in self.locator:
            return Path(self.locator["path"])
        mod = importlib.import_module(self.locator["package"])
        return Path(mod.__file__).parent / self.locator["file"]

    def prepared_path(self, root: Path | None = None) -> Path:
        return (root or data_root()) / "photos" / f"{self.id}.png"


def load_manifest(path: Path | None = None) -> list[Photo]:
    """All photos of the manifest (default :data:`PHOTO_MANIFEST`)."""
    raw = json.loads(Path(path or PHOTO_MANIFEST).read_text(encoding="utf-8"))
    fields = Photo.__dataclass_fields__
    return [Photo(**{k: v for k, v in p.items() if k in fields}) for p in raw["photos"]]


def manifest_hash(path: Path | None = None) -> str:
    """sha256 of the manifest file: names the exact photo set and split in provenance records."""
    return sha256_file(path or PHOTO_MANIFEST)


def select(photos: Iterable[Photo], split: str | None = None, kind: str | None = "photo") -> list[Photo]:
    """Photos of one split (``train``/``test``/None for all) and kind (``photo``/``illustration``/...)."""
    if split not in (None, "train", "test"):
        raise UnknownNameError(f"unknown split '{split}'; choose train or test")
    return [p for p in photos if (split is None or p.split == split) and (kind is None or p.kind == kind)]


def _resize_short(img: np.ndarray, short: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = short / min(h, w)
    if s >= 1:
        return img
    size = (max(1, round(w * s)), max(1, round(h * s)))
    u8 = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(u8).resize(size, Image.LANCZOS), dtype=np.float32) / 255.0


@dataclass
class PrepareReport:
    prepared: list[str]
    skipped: dict[str, str]

    def summary(self) -> str:
        lines = [f"{len(self.prepared)} photos ready"]
        by_source: dict[str, int] = {}
        for reason in self.skipped.values():
            by_source[reason] = by_source.get(reason, 0) + 1
        for reason, n in by_source.items():
            lines.append(f"skipped {n}: {reason}")
        return "\n".join(lines)


def prepare_photos(root: Path | None = None, photos: list[Photo] | None = None, force: bool = False) -> PrepareReport:
    """Verify and store every available photo; missing optional sources are skipped with a reason.

    A checksum mismatch raises :class:`ChecksumError` naming the file (it would silently change the data).
    """
    root = root or data_root()
    photos = load_manifest() if photos is None else photos
    report = PrepareReport(prepared=[], skipped={})
    for p in photos:
        out = p.prepared_path(root)
        src = p.source_path()
        if out.exists() and not force:
            report.prepared.append(p.id)
            continue
        if not src.is_file():
            pkg = p.source.split(":", 1)[-1]
            report.skipped[p.id] = f"{pkg} not installed (apt-get install {pkg})" if p.source.startswith("debian:") \
                else f"{src} not found"
            continue
        actual = sha256_file(src)
        if actual != p.sha256:
            raise ChecksumError(f"checksum mismatch for photo '{p.id}' ({src}): expected {p.sha256[:16]}..., "
                                f"got {actual[:16]}...; the installed package version differs from the manifest's")
        img = _resize_short(read_image(src, mode="rgb"), SHORT_SIDE)
        u8 = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
        with atomic_path(out) as tmp:
            Image.fromarray(u8).save(tmp, format="PNG")
        report.prepared.append(p.id)
    return report


def available(photos: Iterable[Photo], root: Path | None = None) -> list[Photo]:
    """Photos whose prepared copy exists."""
    return [p for p in photos if p.prepared_path(root).exists()]


def load_photo(p: Photo, root: Path | None = None) -> np.ndarray:
    """The prepared copy of a photo. Shape: out ``(H, W, 3)`` float32 in [0, 1]."""
    path = p.prepared_path(root)
    if not path.exists():
        raise BlurkitError(f"photo '{p.id}' is not prepared ({path}); run: blurkit data prepare")
    return read_image(path, mode="rgb")
