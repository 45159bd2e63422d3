"""Reading and writing images, with clear errors and documented conversions.

Conventions (documented conversions, applied by :func:`read_image`):

* the result is ``float32`` in ``[0, 1]``, shape ``(H, W, C)``;
* 8-bit images are divided by 255, 16-bit images by 65535 (no precision is lost to an 8-bit round trip);
* with ``mode="rgb"`` a grayscale image is replicated to three channels; with ``mode="gray"`` an RGB image is
  converted with the ITU-R BT.601 luma weights; ``mode="keep"`` keeps 1 or 3 channels;
* an alpha channel is composited over white (``rgb = a * rgb + (1 - a)``); a fully opaque alpha is simply dropped.

Corrupt or truncated files, unsupported kinds and images smaller than ``min_side`` raise a
:class:`~blurkit.errors.BlurkitError` naming the file. Writes go to a temporary name and are renamed into place,
so a crash never leaves a half-written file.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from blurkit.errors import ImageReadError, ImageSizeError
from blurkit.files import atomic_path

if TYPE_CHECKING:
    import torch

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, never a silently grey image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
Mode = Literal["rgb", "gray", "keep"]
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def is_image_file(path: str | os.PathLike) -> bool:
    """True when the file name has an image suffix blurkit reads."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _decode(path: Path) -> np.ndarray:
    data = path.read_bytes()
    if not data:
        raise ImageReadError(f"cannot read image '{path}': the file is empty")
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.uint16 if im.mode.startswith("I;16") else np.int32)
                if arr.dtype == np.int32:
                    arr = np.clip(arr, 0, 65535).astype(np.uint16)
            elif im.mode in ("RGB", "RGBA", "L", "LA"):
                arr = np.asarray(im)
            elif im.mode == "P":
                arr = np.asarray(im.convert("RGBA"))
            else:
                arr = np.asarray(im.convert("RGB"))
    except ImageReadError:
        raise
    except UnidentifiedImageError:  # PIL's message names an in-memory buffer object, not the file
        raise ImageReadError(f"cannot read image '{path}': not a PNG/JPEG/TIFF/BMP/WebP image (its bytes are no "
                             "image format this reads)") from None
    except Exception as exc:  # PIL raises many kinds for bad files
        raise ImageReadError(f"cannot read image '{path}': {exc}") from None
    if path.suffix.lower() == ".png" and arr.dtype == np.uint8 and _png_bit_depth(data) == 16:
        arr = _read_png16(path, data)  # PIL decodes 16-bit colour PNGs to 8 bits; keep all 16
    elif path.suffix.lower() in (".tif", ".tiff") and arr.dtype == np.uint8:
        arr = _read_tiff(path, arr)  # likewise for 16-bit colour TIFFs
    return arr


def _read_tiff(path: Path, decoded: np.ndarray) -> np.ndarray:
    import tifffile  # a dependency of scikit-image

    try:
        arr = tifffile.imread(path)
    except Exception:
        return decoded
    if arr.dtype == np.uint16 and arr.ndim in (2, 3):
        return arr
    return decoded


def _png_bit_depth(data: bytes) -> int:
    # IHDR is the first chunk: 8-byte signature, 4 length, 4 type, 4 width, 4 height, 1 bit depth.
    if len(data) > 24 and data[:8] == b"\x89PNG\r\n\x1a\n":
        return data[24]
    return 8


def _read_png16(path: Path, data: bytes) -> np.ndarray:
    import png  # pypng: Pillow decodes 16-bit colour PNGs to 8 bits

    try:
        width, height, rows, info = png.Reader(bytes=data).asDirect()
        arr = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows])
    except Exception as exc:
        raise ImageReadError(f"cannot read image '{path}': {exc}") from None
    planes = info["planes"]
    return arr.reshape(height, width, planes) if planes > 1 else arr.reshape(height, width)


def to_float(arr: np.ndarray) -> np.ndarray:
    """Integer image -> float32 in [0, 1] (8-bit / 255, 16-bit / 65535); floats are clipped."""
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    return np.clip(arr.astype(np.float32), 0.0, 1.0)


def convert_channels(img: np.ndarray, mode: Mode = "rgb") -> np.ndarray:
    """Apply the documented conversions to a float image of shape (H, W) or (H, W, C).

    Shape:
        in ``(H, W)``, ``(H, W, 1|2|3|4)``; out ``(H, W, 3)`` (rgb), ``(H, W, 1)`` (gray) or ``(H, W, 1|3)`` (keep).
    """
    if img.ndim == 2:
        img = img[..., None]
    c = img.shape[-1]
    if c in (2, 4):  # alpha over white
        alpha = img[..., -1:]
        img = img[..., :-1] * alpha + (1.0 - alpha)
        c -= 1
    if c not in (1, 3):
        raise ImageReadError(f"unsupported number of channels: {c}")
    if mode == "rgb" and c == 1:
        img = np.repeat(img, 3, axis=-1)
    elif mode == "gray" and c == 3:
        img = (img @ _LUMA)[..., None]
    return np.ascontiguousarray(img, dtype=np.float32)


def read_image(path: str | os.PathLike, mode: Mode = "rgb", min_side: int = 1) -> np.ndarray:
    """Read an image file as float32 in [0, 1].

    Shape:
        out ``(H, W, 3)`` for ``mode="rgb"``, ``(H, W, 1)`` for ``"gray"``, ``(H, W, 1|3)`` for ``"keep"``.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"image not found: '{path}'")
    img = convert_channels(to_float(_decode(path)), mode)
    h, w = img.shape[:2]
    if min(h, w) < min_side:
        raise ImageSizeError(f"image '{path}' is {h}x{w} px, smaller than the {min_side} px this needs")
    return img


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] -> uint8 with rounding; (H, W, 1) is squeezed to (H, W)."""
    out = np.clip(np.rint(np.asarray(img, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    if out.ndim == 3 and out.shape[-1] == 1:
        out = out[..., 0]
    return out


def write_image(path: str | os.PathLike, img: np.ndarray) -> Path:
    """Write a float [0, 1] (or uint8 / uint16) image atomically as 8-bit PNG; the bytes depend only on the pixels.

    Shape:
        img ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``.
    """
    path = Path(path)
    if img.dtype == np.uint16:
        img = img.astype(np.float32) / 65535.0
    arr = img if img.dtype == np.uint8 else to_uint8(img)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG", optimize=False, compress_level=6)
    return path


def check_same_size(a: np.ndarray, b: np.ndarray, path_a: str | os.PathLike, path_b: str | os.PathLike) -> None:
    """Raise :class:`ImageSizeError` naming both files when two images differ in height or width."""
    if a.shape[:2] != b.shape[:2]:
        raise ImageSizeError(
            f"pair size mismatch: '{path_a}' is {a.shape[0]}x{a.shape[1]} but '{path_b}' is {b.shape[0]}x{b.shape[1]}"
        )


def to_batch(img: np.ndarray) -> torch.Tensor:
    """An ``(H, W, 3)`` float image as a ``(1, 3, H, W)`` float32 tensor."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]


def gradient_energy(img: np.ndarray) -> float:
    """Mean squared horizontal and vertical finite difference of an ``(H, W, C)`` image: how textured it is."""
    return float(np.mean(np.diff(img, axis=0) ** 2) + np.mean(np.diff(img, axis=1) ** 2))
