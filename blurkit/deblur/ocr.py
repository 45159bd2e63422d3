"""OCR character accuracy: the scene-text domain's own metric (blur destroys readability; the paper has none).

The crop is read by Tesseract (Debian's ``tesseract-ocr``, installed by the set-up), called as a subprocess in
single-line mode (``--psm 7``; single-word mode 8 misreads these crops) on the crop converted to grey, stretched to full contrast (1 % cut off at each end),
upscaled 4x (bicubic) and framed by a border of its median grey. The character accuracy of a
reading against the true word is ``max(0, 1 - edit_distance / len(word))``, case-insensitive, spaces ignored
(:func:`char_accuracy`). Tesseract is deterministic for one input and one version; the version is recorded by
:func:`tesseract_version` so a table can carry it in its provenance.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from blurkit.errors import BlurkitError

UPSCALE = 4


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions each cost 1)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _norm(s: str) -> str:
    return "".join(s.split()).lower()


def char_accuracy(read: str, truth: str) -> float:
    """``max(0, 1 - edit_distance(read, truth) / len(truth))``, case-insensitive, whitespace removed."""
    t = _norm(truth)
    if not t:
        raise ValueError("char_accuracy needs a non-empty true word")
    return max(0.0, 1.0 - edit_distance(_norm(read), t) / len(t))


@functools.lru_cache(maxsize=1)
def _tesseract() -> str:
    exe = shutil.which("tesseract")
    if exe is None:
        raise BlurkitError("tesseract not found: install Debian's tesseract-ocr and tesseract-ocr-eng "
                           "(make test does: scripts/install_system_photos.sh)")
    return exe


def tesseract_version() -> str:
    """The first line of ``tesseract --version`` (e.g. ``tesseract 5.3.0``)."""
    out = subprocess.run([_tesseract(), "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].strip()


def read_text(image: np.ndarray) -> str:
    """Tesseract's single-word reading of an RGB or grey image in [0, 1].

    Shape:
        image ``(H, W, 3)`` or ``(H, W)``, float in [0, 1].
    """
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[-1] == 3:
        arr = arr @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if arr.ndim != 2 or min(arr.shape) < 4:
        raise ValueError(f"read_text expects an (H, W, 3) or (H, W) image of at least 4x4 px, got {np.shape(image)}")
    grey = Image.fromarray((np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8), mode="L")
    grey = ImageOps.autocontrast(grey, cutoff=1)  # text of any colour on any background at full contrast
    grey = grey.resize((grey.width * UPSCALE, grey.height * UPSCALE), Image.BICUBIC)
    grey = ImageOps.expand(grey, border=8 * UPSCALE, fill=int(np.median(np.asarray(grey))))
    with tempfile.TemporaryDirectory(prefix="blurkit-ocr-") as tmp:
        path = Path(tmp) / "crop.png"
        grey.save(path)
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # tesseract's own threads: deterministic and polite
        out = subprocess.run([_tesseract(), str(path), "stdout", "--psm", "7", "-l", "eng"], capture_output=True,
                             text=True, env=env, check=False)
    if out.returncode != 0:
        raise BlurkitError(f"tesseract failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
    return out.stdout.strip()


def ocr_accuracy(image: np.ndarray, truth: str) -> float:
    """Character accuracy of Tesseract's reading of ``image`` against the true word (:func:`char_accuracy`)."""
    return char_accuracy(read_text(image), truth)


__all__ = ["char_accuracy", "edit_distance", "ocr_accuracy", "read_text", "tesseract_version"]
