"""The scene-text domain: font/word manifest, the crop renderer, sharp crop folders, profiles."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from blurkit.data import photos as photos_mod
from blurkit.data import text_crops as tc
from blurkit.data.images import read_image
from blurkit.errors import BlurkitError, UnknownNameError
from blurkit.files import sha256_file
from imagegen import rand_rgb, save_png

MPL_FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"  # DejaVu ships with matplotlib: present everywhere
SANS_BOLD = MPL_FONTS / "DejaVuSans-Bold.ttf"
LUMA = np.array([0.299, 0.587, 0.114])


def _font_entry(fid: str, file: str, split: str, package: str = "pkg-mpl") -> dict:
    path = MPL_FONTS / file
    sha = sha256_file(path) if path.exists() else "0" * 64
    return {"id": fid, "package": package, "path": str(path), "sha256": sha,
            "licence": "Bitstream Vera", "style": "sans", "split": split}


@pytest.fixture
def font_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A text manifest of matplotlib's DejaVu fonts: 2 train, 2 test; the real word lists."""
    raw = tc.load_text_manifest()
    raw["fonts"] = [_font_entry("sans", "DejaVuSans.ttf", "train"), _font_entry("serif", "DejaVuSerif.ttf", "train"),
                    _font_entry("mono-bold", "DejaVuSansMono-Bold.ttf", "test"),
                    _font_entry("serif-italic", "DejaVuSerif-Italic.ttf", "test")]
    path = tmp_path / "text_fonts.json"
    path.write_text(json.dumps(raw))
    monkeypatch.setattr(tc, "TEXT_MANIFEST", path)
    return path


@pytest.fixture
def fake_photos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_data: Path) -> Path:
    """A photo manifest of three small generated 'photos' (2 train, 1 test), already prepared."""
    entries = []
    for i, split in enumerate(("train", "train", "test")):
        pid = f"fake-{split}-{i}"
        save_png(isolated_data / "photos" / f"{pid}.png", rand_rgb(80, 96, seed=i))
        entries.append({"id": pid, "source": "pip:none", "locator": {"path": "/nonexistent"}, "sha256": "0" * 64,
                        "split": split, "kind": "photo", "licence": "generated", "width": 96, "height": 80})
    path = tmp_path / "photos.json"
    path.write_text(json.dumps({"photos": entries}))
    monkeypatch.setattr(photos_mod, "PHOTO_MANIFEST", path)
    return path


def _bg(size: int = 64, seed: int = 0) -> np.ndarray:
    return rand_rgb(size, size, seed).astype(np.float32) / 255.0


def test_manifest_splits_fonts_and_words() -> None:
    raw = tc.load_text_manifest()
    fonts = tc.manifest_fonts()
    ids = [f.id for f in fonts]
    assert len(ids) == len(set(ids))
    train, test = tc.manifest_fonts("train"), tc.manifest_fonts("test")
    assert len(test) >= 2 and len(train) >= 2 and not {f.id for f in train} & {f.id for f in test}
    assert not {f.path for f in train} & {f.path for f in test}
    assert {f.package for f in fonts} == set(raw["debian_packages"])
    for f in fonts:
        assert f.path.startswith("/usr/share/fonts/") and len(f.sha256) == 64 and f.licence
    assert {"script", "handwriting"} & {f.style for f in test}  # handwriting-like text is among the unseen fonts
    w_train, w_test = tc.split_words("train"), tc.split_words("test")
    assert len(set(w_train)) == len(w_train) >= 200 and len(set(w_test)) == len(w_test) >= 60
    assert not set(w_train) & set(w_test)
    assert all(3 <= len(w) <= 8 and w.isascii() and w.isalnum() for w in w_train + w_test)
    with pytest.raises(UnknownNameError):
        tc.split_words("val")


def test_render_shape_dtype_range() -> None:
    for size in (16, 48):
        out = tc.render_text_crop("Hello", SANS_BOLD, _bg(size), size=size, seed=3)
        assert out.shape == (size, size, 3) and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0


def test_render_is_deterministic_per_seed() -> None:
    a = tc.render_text_crop("metro", SANS_BOLD, _bg(), seed=5)
    b = tc.render_text_crop("metro", SANS_BOLD, _bg(), seed=5)
    c = tc.render_text_crop("metro", SANS_BOLD, _bg(), seed=6)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_render_text_contrasts_with_background() -> None:
    for seed, level in enumerate((0.1, 0.5, 0.9)):
        bg = np.full((64, 64, 3), level, np.float32)
        out, params = tc.render_text_crop_with_params("Harbor", SANS_BOLD, bg, seed=seed)
        contrast = abs(np.asarray(params["colour"]) @ LUMA - level)
        assert contrast >= tc.MIN_CONTRAST - 1e-6
        diff = np.abs((out - bg) @ LUMA)  # = alpha * contrast per pixel
        assert diff.max() >= 0.9 * contrast  # a bold word covers some pixels fully
        covered = (diff > contrast / 2).mean()
        assert 0.02 < covered < 0.6  # the word is there and is not a filled box
        assert (diff == 0).mean() > 0.3  # away from the word the background is kept exactly


def test_render_bad_inputs() -> None:
    for word in ("", "   ", "two\nlines"):
        with pytest.raises(ValueError, match="word"):
            tc.render_text_crop(word, SANS_BOLD, _bg())
    with pytest.raises(ValueError, match="size"):
        tc.render_text_crop("ok", SANS_BOLD, _bg(15), size=15)
    with pytest.raises(ValueError, match="background"):
        tc.render_text_crop("ok", SANS_BOLD, _bg(32), size=64)
    with pytest.raises(BlurkitError, match="no-such-font.ttf") as exc:
        tc.render_text_crop("ok", "/nonexistent/no-such-font.ttf", _bg())
    assert "\n" not in str(exc.value)


def test_missing_fonts_warn_then_raise(font_manifest: Path) -> None:
    raw = json.loads(font_manifest.read_text())
    raw["fonts"].append(_font_entry("gone", "NoSuch.ttf", "test", package="fonts-gone"))
    font_manifest.write_text(json.dumps(raw))
    with pytest.warns(UserWarning, match="'gone'.*fonts-gone"):
        assert [f.id for f in tc.available_fonts("test")] == ["mono-bold", "serif-italic"]
    raw["fonts"][2]["path"] = "/nonexistent/a.ttf"
    raw["fonts"][2]["package"] = "fonts-a"
    font_manifest.write_text(json.dumps(raw))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(BlurkitError, match="apt-get install fonts-a fonts-gone") as exc:
            tc.available_fonts("test")
    assert "\n" not in str(exc.value)


def test_missing_photos_give_the_prepare_error(font_manifest: Path, tmp_path: Path) -> None:
    with pytest.raises(BlurkitError, match="blurkit data prepare") as exc:
        tc.text_sharp_set(tmp_path / "out", "train", 2, progress=False)
    assert "\n" not in str(exc.value) and not (tmp_path / "out").exists()


def test_sharp_set_is_byte_identical_per_seed(font_manifest: Path, fake_photos: Path, tmp_path: Path) -> None:
    a = tc.text_sharp_set(tmp_path / "a", "train", 4, size=32, seed=0, progress=False)
    b = tc.text_sharp_set(tmp_path / "b", "train", 4, size=32, seed=0, progress=False)
    c = tc.text_sharp_set(tmp_path / "c", "train", 4, size=32, seed=1, progress=False)
    names = sorted(p.name for p in (a / "sharp").iterdir())
    assert names == [f"{i:05d}.png" for i in range(4)]
    assert all((a / "sharp" / n).read_bytes() == (b / "sharp" / n).read_bytes() for n in names)
    assert any((a / "sharp" / n).read_bytes() != (c / "sharp" / n).read_bytes() for n in names)
    img = read_image(a / "sharp" / names[0])
    assert img.shape == (32, 32, 3)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp folders left
    m = json.loads((a / "manifest.json").read_text())
    assert m["n"] == 4 and m["split"] == "train" and len(m["crops"]) == 4
    assert json.loads((a / "provenance.json").read_text())["seed"] == 0


def test_sharp_set_keeps_to_its_split(font_manifest: Path, fake_photos: Path, tmp_path: Path) -> None:
    for split in ("train", "test"):
        out = tc.text_sharp_set(tmp_path / split, split, 6, size=32, progress=False)
        crops = json.loads((out / "manifest.json").read_text())["crops"]
        fonts = {f.id for f in tc.manifest_fonts(split)}
        words = set(tc.split_words(split))
        for c in crops:
            assert c["font"] in fonts and c["word"] in words and c["photo"].startswith(f"fake-{split}")
            assert c["text"].lower() == c["word"] and len(c["colour"]) == 3
            x0, y0, x1, y1 = c["box"]
            assert x1 - x0 == y1 - y0 == 32 and 0 <= x0 and x1 <= 96 and 0 <= y0 and y1 <= 80
            assert {"angle_deg", "shear", "scale", "shift_px"} <= set(c)


def test_crash_leaves_nothing_half_written(font_manifest: Path, fake_photos: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    out = tc.text_sharp_set(tmp_path / "set", "train", 2, size=32, progress=False)
    before = {p.name: p.read_bytes() for p in (out / "sharp").iterdir()}
    calls = []

    def failing(*args: object) -> object:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("crash")
        return real(*args)

    real = tc._render
    monkeypatch.setattr(tc, "_render", failing)
    with pytest.raises(RuntimeError):
        tc.text_sharp_set(out, "train", 5, size=32, progress=False)
    assert {p.name: p.read_bytes() for p in (out / "sharp").iterdir()} == before  # the old set is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos.json", "set", "text_fonts.json"]  # no temp folder


def test_sharp_set_bad_arguments(font_manifest: Path, fake_photos: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="size"):
        tc.text_sharp_set(tmp_path / "x", "train", 2, size=8, progress=False)
    with pytest.raises(ValueError, match="n must"):
        tc.text_sharp_set(tmp_path / "x", "train", 0, progress=False)
    with pytest.raises(UnknownNameError):
        tc.text_sharp_set(tmp_path / "x", "val", 2, progress=False)
    with pytest.raises(BlurkitError, match="fake-train"):  # photos smaller than the crops
        tc.text_sharp_set(tmp_path / "x", "train", 2, size=90, progress=False)
    assert not (tmp_path / "x").exists()


def test_profiles_and_build(font_manifest: Path, fake_photos: Path, isolated_data: Path) -> None:
    assert set(tc.TEXT_CROP_PROFILES) == {"smoke", "cpu", "paper"}
    smoke, cpu, paper = (tc.text_crop_config(p) for p in ("smoke", "cpu", "paper"))
    assert smoke.n_train < cpu.n_train < paper.n_train and smoke.n_test < cpu.n_test < paper.n_test
    with pytest.raises(UnknownNameError):
        tc.text_crop_config("huge")
    with pytest.raises(ValueError, match="size"):
        tc.TextCropConfig(size=8)
    cfg = tc.TextCropConfig(name="tiny", size=32, n_train=3, n_test=2)
    built = tc.build_text_crops(cfg, progress=False)
    assert built["test"] == isolated_data / "text" / "tiny" / "test"
    assert len(list((built["train"] / "sharp").iterdir())) == 3
    stamp = (built["train"] / "manifest.json").stat().st_mtime_ns
    tc.build_text_crops(cfg, progress=False)  # current: nothing is rebuilt
    assert (built["train"] / "manifest.json").stat().st_mtime_ns == stamp


def test_installed_manifest_fonts_render() -> None:
    installed = [f for f in tc.manifest_fonts() if Path(f.path).is_file()]
    if not installed:
        pytest.skip("no font of data_manifests/text_fonts.json is installed")
    bg = np.full((32, 32, 3), 0.5, np.float32)
    for f in installed:
        assert sha256_file(f.path) == f.sha256, f.id
        out = tc.render_text_crop("Tg7", f.path, bg, size=32, seed=1)
        assert np.abs(out - bg).max() > tc.MIN_CONTRAST / 2, f.id
