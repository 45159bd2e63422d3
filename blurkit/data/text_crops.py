"""Scene text: sharp colour crops of rendered words over photo backgrounds (``data_manifests/text_fonts.json``).

Each crop draws one word in a font of the manifest, in a seeded colour that contrasts with the background, with a
seeded affine jitter (rotation, shear, scale, shift), over a patch cut at a seeded position from a prepared photo of
the same split. Text is rendered at :data:`SUPERSAMPLE` x the crop size and box-filtered down (anti-aliased); the
background keeps its own pixels. The split is by font *and* by word: a test crop has a test font, a test word and a
test photo. Fonts come from Debian packages (``debian_packages`` in the manifest); the sha256 pins each file.

Layout: ``<out>/sharp/<00000>.png`` with ``manifest.json`` (word, font, photo and crop box, colour and jitter of
every crop) and ``provenance.json`` beside them. A crop's randomness depends only on ``(seed, split, index)``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont, features

from blurkit.data.default_data import pair_rng, photo_sources
from blurkit.data.images import write_image
from blurkit.data.photos import manifest_hash
from blurkit.errors import BlurkitError, ChecksumError, ImageSizeError, UnknownNameError
from blurkit.files import sha256_file, write_text
from blurkit.paths import MANIFEST_DIR, data_root
from blurkit.progress import progress_bar
from blurkit.provenance import provenance, timed, write_json

TEXT_MANIFEST = MANIFEST_DIR / "text_fonts.json"
DOMAIN = "scene-text"
TEXT_VERSION = 1  # bump when the rendering changes (a built set of another version is rebuilt)
SUPERSAMPLE = 4  # text is drawn at this multiple of the crop size, then box-filtered down
MIN_SIZE = 16  # smallest crop side (px) that still holds a legible word
MIN_FONTS_PER_SPLIT = 2
MIN_CONTRAST = 0.35  # least BT.601 luma difference between the text colour and the mean background
MAX_ROTATION_DEG = 8.0
MAX_SHEAR = 0.25
SCALE_RANGE = (0.85, 1.1)
MAX_FILL = 0.92  # the jittered word spans at most this fraction of the crop side
_LUMA = np.array([0.299, 0.587, 0.114])
_SPLITS = ("train", "test")


@dataclass(frozen=True)
class Font:
    """One font of the manifest."""

    id: str
    package: str
    path: str
    sha256: str
    licence: str
    style: str
    split: str


def _check_split(split: str) -> None:
    if split not in _SPLITS:
        raise UnknownNameError(f"unknown split '{split}'; choose train or test")


def load_text_manifest(path: Path | None = None) -> dict:
    """The raw font-and-word manifest (default :data:`TEXT_MANIFEST`)."""
    return json.loads(Path(path or TEXT_MANIFEST).read_text(encoding="utf-8"))


def manifest_fonts(split: str | None = None, path: Path | None = None) -> list[Font]:
    """Every font of the manifest of one split (``train``/``test``/None for all), installed or not."""
    if split is not None:
        _check_split(split)
    fields = Font.__dataclass_fields__
    fonts = [Font(**{k: v for k, v in f.items() if k in fields}) for f in load_text_manifest(path)["fonts"]]
    return [f for f in fonts if split is None or f.split == split]


def split_words(split: str, path: Path | None = None) -> list[str]:
    """The words of one split, in manifest order."""
    _check_split(split)
    return list(load_text_manifest(path)["words"][split])


def available_fonts(split: str, path: Path | None = None) -> list[Font]:
    """The installed fonts of a split, each checked against its sha256.

    An absent font is skipped with one warning naming the entry and its package; fewer than
    :data:`MIN_FONTS_PER_SPLIT` left raises a :class:`BlurkitError` naming the packages to install.
    """
    present, missing = [], []
    for f in manifest_fonts(split, path):
        if not Path(f.path).is_file():
            warnings.warn(f"text font '{f.id}' is not installed ({f.path}); skipped (apt-get install {f.package})",
                          stacklevel=2)
            missing.append(f.package)
            continue
        actual = sha256_file(f.path)
        if actual != f.sha256:
            raise ChecksumError(f"checksum mismatch for text font '{f.id}' ({f.path}): expected {f.sha256[:16]}..., "
                                f"got {actual[:16]}...; the installed {f.package} differs from the manifest's")
        present.append(f)
    if len(present) < MIN_FONTS_PER_SPLIT:
        pkgs = " ".join(sorted(set(missing))) or "(none listed)"
        raise BlurkitError(f"only {len(present)} {split} fonts of {Path(path or TEXT_MANIFEST).name} are installed, "
                           f"{MIN_FONTS_PER_SPLIT} needed; run: apt-get install {pkgs}")
    return present


@lru_cache(maxsize=128)
def _font(path: str, px: int) -> ImageFont.FreeTypeFont:
    # the basic layout engine everywhere: raqm (where installed) would kern and ligate differently
    try:
        return ImageFont.truetype(path, px, layout_engine=ImageFont.Layout.BASIC)
    except OSError as exc:
        raise BlurkitError(f"cannot read font '{path}': {exc}") from None


def _text_colour(u_rgb: np.ndarray, u_lum: float, bg_luma: float) -> np.ndarray:
    """A colour of random hue whose luma differs from ``bg_luma`` by at least :data:`MIN_CONTRAST`."""
    if bg_luma >= 0.5:  # dark text on a light background
        target = u_lum * (bg_luma - MIN_CONTRAST)
    else:
        target = bg_luma + MIN_CONTRAST + u_lum * (1.0 - bg_luma - MIN_CONTRAST)
    lum = float(np.clip(u_rgb @ _LUMA, 1e-6, 1 - 1e-6))
    # luma is linear in RGB: scaling towards black or white keeps the hue and lands exactly on the target
    return u_rgb * (target / lum) if target <= lum else 1.0 - (1.0 - u_rgb) * ((1.0 - target) / (1.0 - lum))


def _check_inputs(word: str, background: np.ndarray, size: int) -> np.ndarray:
    if not isinstance(word, str) or not word.strip() or not word.isprintable():
        raise ValueError(f"word must be a non-empty printable one-line string, got {word!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < MIN_SIZE:
        raise ValueError(f"size must be an integer >= {MIN_SIZE}, got {size!r}")
    bg = np.asarray(background, dtype=np.float32)
    if bg.shape != (size, size, 3):
        raise ValueError(f"background must have shape ({size}, {size}, 3), got {bg.shape}")
    if not np.isfinite(bg).all():
        raise ValueError("background holds NaN or infinite values")
    return np.clip(bg, 0.0, 1.0)


def _render(word: str, font_path: str | os.PathLike, bg: np.ndarray,
            rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    size = bg.shape[0]
    big = size * SUPERSAMPLE
    if not Path(font_path).is_file():
        raise BlurkitError(f"font file not found: '{font_path}'")
    # every crop draws the same numbers in the same order; rounded so the manifest replays them exactly
    u = np.round(rng.random(10), 4)
    colour = np.round(_text_colour(u[:3], float(u[3]), float(bg.mean(axis=(0, 1)) @ _LUMA)), 4)
    fill = 0.55 + 0.35 * u[4]
    angle = np.deg2rad(MAX_ROTATION_DEG * (2 * u[5] - 1))
    shear = MAX_SHEAR * (2 * u[6] - 1)
    scale = SCALE_RANGE[0] + (SCALE_RANGE[1] - SCALE_RANGE[0]) * u[7]
    # font size so the word spans ``fill`` of the crop (measured at 100 px; sizes scale linearly)
    left, top, right, bottom = _font(str(font_path), 100).getbbox(word)
    if right <= left or bottom <= top:
        raise BlurkitError(f"font '{font_path}' draws nothing for the word {word!r}")
    px = max(4, int(100 * min(fill * big / (right - left), 0.5 * big / (bottom - top))))
    font = _font(str(font_path), px)
    left, top, right, bottom = font.getbbox(word)
    margin = px
    mask = Image.new("L", (right - left + 2 * margin, bottom - top + 2 * margin), 0)
    ImageDraw.Draw(mask).text((margin - left, margin - top), word, fill=255, font=font)
    ink = mask.getbbox()
    if ink is None:
        raise BlurkitError(f"font '{font_path}' draws nothing for the word {word!r}")
    centre_in = np.array([(ink[0] + ink[2]) / 2, (ink[1] + ink[3]) / 2])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    fwd = scale * rot @ np.array([[1.0, shear], [0.0, 1.0]])
    corners = np.array([[ink[0], ink[1]], [ink[2], ink[1]], [ink[0], ink[3]], [ink[2], ink[3]]]) - centre_in
    extent = np.ptp(corners @ fwd.T, axis=0)
    fit = min(1.0, MAX_FILL * big / extent.max())  # shrink a word the jitter pushed past the crop
    fwd, extent = fwd * fit, extent * fit
    shift = (2 * u[8:10] - 1) * (big - extent) / 2 * 0.9
    centre_out = big / 2 + shift
    inv = np.linalg.inv(fwd)
    offset = centre_in - inv @ centre_out
    data = (inv[0, 0], inv[0, 1], offset[0], inv[1, 0], inv[1, 1], offset[1])
    warped = mask.transform((big, big), Image.Transform.AFFINE, data, resample=Image.Resampling.BILINEAR)
    alpha = np.asarray(warped, dtype=np.float32).reshape(size, SUPERSAMPLE, size, SUPERSAMPLE).mean(axis=(1, 3))
    alpha = (alpha / 255.0)[..., None]
    out = np.clip(bg * (1.0 - alpha) + colour.astype(np.float32) * alpha, 0.0, 1.0).astype(np.float32)
    params = {"colour": colour.tolist(), "font_px": px, "fill": round(float(fill), 4),
              "angle_deg": round(float(np.rad2deg(angle)), 4), "shear": round(float(shear), 4),
              "scale": round(float(scale * fit), 4), "shift_px": np.round(shift / SUPERSAMPLE, 3).tolist()}
    return out, params


def render_text_crop_with_params(word: str, font_path: str | os.PathLike, background: np.ndarray, size: int = 64,
                                 seed: int | Sequence[int] = 0) -> tuple[np.ndarray, dict]:
    """:func:`render_text_crop` and the drawn parameters (``colour``, ``font_px``, ``fill``, ``angle_deg``,
    ``shear``, ``scale``, ``shift_px``).

    Shape: background ``(size, size, 3)``; out ``(size, size, 3)`` float32 in [0, 1].
    """
    bg = _check_inputs(word, background, size)
    return _render(word, font_path, bg, np.random.default_rng(seed))


def render_text_crop(word: str, font_path: str | os.PathLike, background: np.ndarray, size: int = 64,
                     seed: int | Sequence[int] = 0) -> np.ndarray:
    """One word in a seeded contrasting colour and affine jitter, drawn over a photo patch.

    Raises ValueError for an empty word, ``size`` < :data:`MIN_SIZE` or a background of another shape, and
    :class:`BlurkitError` for a missing or unreadable font file.

    Shape: background ``(size, size, 3)`` in [0, 1]; out ``(size, size, 3)`` float32 in [0, 1].
    """
    return render_text_crop_with_params(word, font_path, background, size, seed)[0]


def _case(word: str, u: float) -> str:
    return word.lower() if u < 0.5 else word.capitalize() if u < 0.8 else word.upper()


def _publish(tmp: Path, out: Path) -> None:
    """Move a finished folder onto ``out`` (an older ``out`` is moved aside first, then removed)."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        os.replace(out, old / out.name)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def text_sharp_set(out_dir: str | os.PathLike, split: str, n: int, size: int = 64, seed: int = 0,
                   progress: bool = True, root: Path | None = None) -> Path:
    """Write ``n`` sharp scene-text crops of a split into ``out_dir/sharp`` with a manifest; returns ``out_dir``.

    Train crops use train fonts, words and photos; test crops the test ones. Backgrounds are cut from the prepared
    photos under ``root`` (default ``$BLURKIT_DATA``); the folder appears whole or not at all.

    Shape: each PNG ``(size, size, 3)``, 8-bit.
    """
    _check_split(split)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < MIN_SIZE:
        raise ValueError(f"size must be an integer >= {MIN_SIZE}, got {size!r}")
    fonts, words = available_fonts(split), split_words(split)
    sources = photo_sources(split, root, prepare=False)
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; the set should follow the umask like mkdir does
    photos: dict[str, np.ndarray] = {}  # uint8 copies: the prepared photos are 8-bit, so this is exact
    crops = []
    try:
        with timed() as t:
            for i in progress_bar(range(n), desc=f"{DOMAIN} {split}", unit="crop", disable=not progress, leave=False):
                rng = pair_rng(seed, DOMAIN, split, i)
                font = fonts[int(rng.integers(len(fonts)))]
                word = words[int(rng.integers(len(words)))]
                text = _case(word, float(rng.random()))
                src = sources[int(rng.integers(len(sources)))]
                if src.id not in photos:
                    photos[src.id] = np.rint(src.load() * 255).astype(np.uint8)
                h, w = photos[src.id].shape[:2]
                if min(h, w) < size:
                    raise ImageSizeError(f"photo '{src.id}' is {h}x{w} px, smaller than the {size} px crops")
                y, x = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
                bg = photos[src.id][y:y + size, x:x + size].astype(np.float32) / 255.0
                img, params = _render(text, font.path, bg, rng)
                name = f"{i:05d}.png"
                write_image(tmp / "sharp" / name, img)
                crops.append({"name": name, "word": word, "text": text, "font": font.id, "photo": src.id,
                              "box": [x, y, x + size, y + size], **params})
        manifest = {"domain": DOMAIN, "text_version": TEXT_VERSION, "seed": seed, "size": size, "split": split,
                    "n": n, "supersample": SUPERSAMPLE, "fonts": [f.id for f in fonts],
                    "text_manifest_sha256": sha256_file(TEXT_MANIFEST), "photo_manifest_sha256": manifest_hash(),
                    "crops": crops}
        write_text(tmp / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        write_json(tmp / "provenance.json", provenance(
            config={"domain": DOMAIN, "n": n, "size": size, "split": split, "text_version": TEXT_VERSION},
            seed=seed, wall_time_s=t["wall_time_s"], fonts=[f.id for f in fonts],
            freetype=features.version("freetype2")))  # the glyph rasteriser decides the pixels too
        _publish(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


@dataclass(frozen=True)
class TextCropConfig:
    """How the scene-text sets of a profile are built.

    Attributes:
        name: the profile name (the folder under ``$BLURKIT_DATA/text/``).
        size: side of the square crops (px).
        n_train, n_test: crops per split.
        seed: seed of every draw (a crop depends only on (seed, split, index)).
    """

    name: str = "smoke"
    size: int = 64
    n_train: int = 16
    n_test: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        for field, minimum in (("size", MIN_SIZE), ("n_train", 1), ("n_test", 1), ("seed", 0)):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"TextCropConfig.{field} must be an integer >= {minimum}, got {value!r}")

    def n(self, split: str) -> int:
        """Crops of one split."""
        _check_split(split)
        return self.n_train if split == "train" else self.n_test

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


TEXT_CROP_PROFILES: dict[str, TextCropConfig] = {
    "smoke": TextCropConfig(name="smoke", size=64, n_train=16, n_test=8),
    "cpu": TextCropConfig(name="cpu", size=64, n_train=4000, n_test=200),
    "paper": TextCropConfig(name="paper", size=256, n_train=20_000, n_test=2000),
}


def text_crop_config(profile: str | TextCropConfig) -> TextCropConfig:
    """The config of a named profile (a :class:`TextCropConfig` passes through)."""
    if isinstance(profile, TextCropConfig):
        return profile
    try:
        return TEXT_CROP_PROFILES[profile]
    except KeyError:
        raise UnknownNameError(f"unknown profile '{profile}'; choose one of: {', '.join(TEXT_CROP_PROFILES)}") from None


def text_crops_dir(profile: str | TextCropConfig, split: str, root: Path | None = None) -> Path:
    """``$BLURKIT_DATA/text/<profile>/<split>``."""
    _check_split(split)
    return (root or data_root()) / "text" / text_crop_config(profile).name / split


def _is_current(out: Path, cfg: TextCropConfig, split: str) -> bool:
    try:
        m = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    want = {"text_version": TEXT_VERSION, "seed": cfg.seed, "size": cfg.size, "n": cfg.n(split),
            "text_manifest_sha256": sha256_file(TEXT_MANIFEST), "photo_manifest_sha256": manifest_hash(),
            "fonts": [f.id for f in manifest_fonts(split) if Path(f.path).is_file()]}
    return all(m.get(k) == v for k, v in want.items()) and all((out / "sharp" / c["name"]).exists() for c in m["crops"])


def build_text_crops(profile: str | TextCropConfig, root: Path | None = None, progress: bool = True) -> dict[str, Path]:
    """Build both splits of a profile that are not built yet; returns ``{split: folder}``."""
    cfg = text_crop_config(profile)
    built = {}
    for split in _SPLITS:
        out = text_crops_dir(cfg, split, root)
        if not _is_current(out, cfg, split):
            text_sharp_set(out, split, cfg.n(split), cfg.size, cfg.seed, progress, root)
        built[split] = out
    return built
