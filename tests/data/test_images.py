"""Image reading and writing: round trips, bad files, channel conversions, precision, atomic writes."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
import png
import pytest
from PIL import Image

from blurkit.data.images import check_same_size, convert_channels, is_image_file, read_image, to_uint8, write_image
from blurkit.errors import BlurkitError, ImageReadError, ImageSizeError
from blurkit.files import atomic_path, sha256_file
from imagegen import rand_rgb, save_png, save_png16

# --------------------------------------------------------------------------------------------------------------
# smoke: round trips


def test_read_rgb_png_round_trip(tmp_path: Path) -> None:
    arr = rand_rgb(12, 17, seed=1)
    path = save_png(tmp_path / "a.png", arr)
    img = read_image(path)
    assert img.shape == (12, 17, 3)
    assert img.dtype == np.float32
    assert 0.0 <= img.min() and img.max() <= 1.0
    np.testing.assert_array_equal(img, arr.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(to_uint8(img), arr)  # back to the exact bytes
    # a str path works too, and "keep" keeps the three channels
    np.testing.assert_array_equal(read_image(str(path), mode="keep"), img)


def test_read_jpeg_round_trip(tmp_path: Path) -> None:
    arr = rand_rgb(16, 24, seed=2)
    path = tmp_path / "a.jpg"
    Image.fromarray(arr).save(path, quality=95, subsampling=0)
    img = read_image(path)
    assert img.shape == (16, 24, 3) and img.dtype == np.float32
    assert 0.0 <= img.min() and img.max() <= 1.0
    decoded = np.asarray(Image.open(path).convert("RGB"))
    np.testing.assert_array_equal(img, decoded.astype(np.float32) / 255.0)  # exactly what the decoder gives
    assert np.abs(img - arr / 255.0).mean() < 0.02  # and close to the source (lossy)


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    img = rng.random((9, 11, 3)).astype(np.float32)
    out = write_image(tmp_path / "sub" / "w.png", img)  # creates the folder
    assert out == tmp_path / "sub" / "w.png" and out.is_file()
    back = read_image(out)
    np.testing.assert_array_equal(back, to_uint8(img).astype(np.float32) / 255.0)
    assert np.abs(back - img).max() <= 0.5 / 255 + 1e-6
    # gray (H, W, 1) and (H, W) are written as 8-bit grayscale
    gray = img[..., :1]
    write_image(tmp_path / "g.png", gray)
    write_image(tmp_path / "g2.png", gray[..., 0])
    with Image.open(tmp_path / "g.png") as im:
        assert im.mode == "L" and im.size == (11, 9)
    assert (tmp_path / "g.png").read_bytes() == (tmp_path / "g2.png").read_bytes()
    np.testing.assert_array_equal(read_image(tmp_path / "g.png", mode="keep")[..., 0], to_uint8(gray) / np.float32(255))


def test_is_image_file() -> None:
    assert is_image_file("x.PNG") and is_image_file(Path("a/b.jpeg")) and is_image_file("c.tif")
    assert not is_image_file("x.txt") and not is_image_file("png")


# --------------------------------------------------------------------------------------------------------------
# bad input


def _png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["random.png", "truncated.png", "empty.png", "text.jpg", "zero_header.png"])
def test_bad_files_raise_image_read_error_naming_the_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / kind
    if kind == "random.png":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes())
    elif kind == "truncated.png":
        data = _png_bytes(rand_rgb(40, 40, seed=3))
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty.png":
        path.write_bytes(b"")
    elif kind == "text.jpg":
        path.write_text("this is not a JPEG\n")
    else:  # a valid PNG signature followed by garbage
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, BlurkitError)


def test_missing_file_raises_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "missing.png"
    with pytest.raises(ImageReadError, match="not found") as info:
        read_image(path)
    assert str(path) in str(info.value)
    # a folder is not an image file either
    with pytest.raises(ImageReadError) as info:
        read_image(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_convert_channels_rejects_odd_channel_counts() -> None:
    with pytest.raises(ImageReadError, match="channels"):
        convert_channels(np.zeros((4, 4, 5), np.float32))


# --------------------------------------------------------------------------------------------------------------
# shapes and channel conversions


def test_grayscale_png_modes(tmp_path: Path) -> None:
    arr = rand_rgb(10, 13, seed=4)[..., 1]
    path = save_png(tmp_path / "g.png", arr)
    expect = arr.astype(np.float32) / 255.0
    rgb = read_image(path, mode="rgb")
    assert rgb.shape == (10, 13, 3) and rgb.dtype == np.float32
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], expect)
    for mode in ("gray", "keep"):
        out = read_image(path, mode=mode)
        assert out.shape == (10, 13, 1) and out.dtype == np.float32
        np.testing.assert_array_equal(out[..., 0], expect)


def test_rgb_to_gray_uses_bt601_luma(tmp_path: Path) -> None:
    arr = np.zeros((2, 3, 3), np.uint8)
    arr[0, 0] = (255, 0, 0)
    arr[0, 1] = (0, 255, 0)
    arr[0, 2] = (0, 0, 255)
    arr[1, 0] = (10, 200, 30)
    arr[1, 1] = (255, 255, 255)
    path = save_png(tmp_path / "c.png", arr)
    gray = read_image(path, mode="gray")
    assert gray.shape == (2, 3, 1) and gray.dtype == np.float32
    np.testing.assert_allclose(gray[0, :, 0], [0.299, 0.587, 0.114], atol=1e-6)
    np.testing.assert_allclose(gray[1, 0, 0], (0.299 * 10 + 0.587 * 200 + 0.114 * 30) / 255, atol=1e-6)
    np.testing.assert_allclose(gray[1, 1, 0], 1.0, atol=1e-6)
    assert gray[1, 2, 0] == 0.0


def test_convert_channels_shapes_and_dtypes() -> None:
    x = np.linspace(0, 1, 12, dtype=np.float64).reshape(3, 4)
    rgb = convert_channels(x, "rgb")
    assert rgb.shape == (3, 4, 3) and rgb.dtype == np.float32 and rgb.flags.c_contiguous
    np.testing.assert_allclose(rgb[..., 2], x, atol=1e-7)
    assert convert_channels(x, "gray").shape == (3, 4, 1)
    assert convert_channels(x, "keep").shape == (3, 4, 1)
    x3 = np.random.default_rng(0).random((3, 4, 3)).astype(np.float32)
    assert convert_channels(x3, "keep").shape == (3, 4, 3)
    np.testing.assert_allclose(convert_channels(x3, "gray")[..., 0], x3 @ np.array([0.299, 0.587, 0.114]), atol=1e-6)


def test_opaque_alpha_is_dropped(tmp_path: Path) -> None:
    rgb = rand_rgb(8, 9, seed=5)
    rgba = np.concatenate([rgb, np.full((8, 9, 1), 255, np.uint8)], axis=-1)
    path = save_png(tmp_path / "rgba.png", rgba)
    with Image.open(path) as im:
        assert im.mode == "RGBA"
    for mode in ("rgb", "keep"):
        out = read_image(path, mode=mode)
        assert out.shape == (8, 9, 3)
        np.testing.assert_array_equal(out, rgb.astype(np.float32) / 255.0)


def test_half_transparent_pixel_composited_over_white(tmp_path: Path) -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (0, 100, 200, 128)  # half transparent
    rgba[0, 1] = (10, 20, 30, 0)  # fully transparent -> white
    rgba[1, 0] = (10, 20, 30, 255)  # opaque -> unchanged
    rgba[1, 1] = (255, 255, 255, 64)  # white over white stays white
    path = save_png(tmp_path / "rgba.png", rgba)
    out = read_image(path)
    assert out.shape == (2, 2, 3) and out.dtype == np.float32
    a = 128 / 255
    np.testing.assert_allclose(out[0, 0], [0 * a + 1 - a, 100 / 255 * a + 1 - a, 200 / 255 * a + 1 - a], atol=1e-6)
    np.testing.assert_allclose(out[0, 0, 0], 127 / 255, atol=1e-6)
    np.testing.assert_allclose(out[0, 1], [1.0, 1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(out[1, 0], np.array([10, 20, 30]) / 255, atol=1e-6)
    np.testing.assert_allclose(out[1, 1], [1.0, 1.0, 1.0], atol=1e-6)


def test_gray_alpha_la_image(tmp_path: Path) -> None:
    la = np.zeros((2, 3, 2), np.uint8)
    la[..., 0] = [[0, 50, 255], [0, 90, 200]]
    la[..., 1] = [[128, 255, 0], [255, 0, 51]]
    path = tmp_path / "la.png"
    Image.fromarray(la, mode="LA").save(path)
    with Image.open(path) as im:
        assert im.mode == "LA"
    keep = read_image(path, mode="keep")
    assert keep.shape == (2, 3, 1) and keep.dtype == np.float32
    lum, alpha = la[..., 0] / 255.0, la[..., 1] / 255.0
    np.testing.assert_allclose(keep[..., 0], lum * alpha + 1 - alpha, atol=1e-6)
    np.testing.assert_allclose(keep[0, 0, 0], 127 / 255, atol=1e-6)
    rgb = read_image(path, mode="rgb")
    assert rgb.shape == (2, 3, 3)
    np.testing.assert_array_equal(rgb, np.repeat(keep, 3, axis=-1))


def test_palette_image(tmp_path: Path) -> None:
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255, 40, 80, 120]
    idx = np.array([[0, 1, 2, 3], [3, 2, 1, 0]], np.uint8)
    im = Image.fromarray(idx, mode="P")
    im.putpalette(palette)
    path = tmp_path / "p.png"
    im.save(path)
    with Image.open(path) as back:
        assert back.mode == "P"
    out = read_image(path)
    assert out.shape == (2, 4, 3) and out.dtype == np.float32
    colours = np.array(palette, np.float32).reshape(-1, 3) / 255.0
    np.testing.assert_array_equal(out, colours[idx])
    # a transparent palette entry becomes white
    im.save(tmp_path / "pt.png", transparency=3)
    out_t = read_image(tmp_path / "pt.png")
    np.testing.assert_allclose(out_t[0, 3], [1.0, 1.0, 1.0], atol=1e-6)
    np.testing.assert_array_equal(out_t[0, :3], colours[:3])


# --------------------------------------------------------------------------------------------------------------
# 16-bit precision


def _assert_16bit_precision(img: np.ndarray, arr: np.ndarray) -> None:
    ref = arr.astype(np.float64) / 65535.0
    assert img.dtype == np.float32
    assert np.abs(img.astype(np.float64) - ref).max() < 1e-6
    eight_bit = np.round(ref * 255) / 255  # what a detour through 8 bits would give
    assert np.abs(eight_bit - ref).max() > 1e-3  # ...which could not meet the 1e-6 bound


def test_16bit_grayscale_png_keeps_precision(tmp_path: Path) -> None:
    arr = np.random.default_rng(6).integers(0, 65536, (7, 9), dtype=np.uint16)
    arr[0, 0], arr[0, 1] = 0, 65535
    path = save_png16(tmp_path / "g16.png", arr)
    keep = read_image(path, mode="keep")
    assert keep.shape == (7, 9, 1)
    _assert_16bit_precision(keep[..., 0], arr)
    assert keep[0, 0, 0] == 0.0 and keep[0, 1, 0] == 1.0
    rgb = read_image(path)
    assert rgb.shape == (7, 9, 3)
    _assert_16bit_precision(rgb[..., 2], arr)


def test_16bit_rgb_png_keeps_precision(tmp_path: Path) -> None:
    arr = np.random.default_rng(7).integers(0, 65536, (6, 5, 3), dtype=np.uint16)
    arr[0, 0] = (0, 65535, 257)
    path = save_png16(tmp_path / "c16.png", arr)
    img = read_image(path)
    assert img.shape == (6, 5, 3)
    _assert_16bit_precision(img, arr)
    np.testing.assert_allclose(img[0, 0], [0.0, 1.0, 1 / 255], atol=1e-7)
    gray = read_image(path, mode="gray")
    assert gray.shape == (6, 5, 1)
    np.testing.assert_allclose(gray[..., 0], (arr / 65535.0) @ np.array([0.299, 0.587, 0.114]), atol=1e-6)


def test_16bit_gray_alpha_png_keeps_precision(tmp_path: Path) -> None:
    arr = np.random.default_rng(8).integers(0, 65536, (4, 5, 2), dtype=np.uint16)
    writer = png.Writer(width=5, height=4, bitdepth=16, greyscale=True, alpha=True)
    with open(tmp_path / "la16.png", "wb") as f:
        writer.write(f, arr.reshape(4, 10).tolist())
    out = read_image(tmp_path / "la16.png", mode="keep")
    assert out.shape == (4, 5, 1)
    lum, alpha = arr[..., 0] / 65535.0, arr[..., 1] / 65535.0
    np.testing.assert_allclose(out[..., 0], lum * alpha + 1 - alpha, atol=1e-6)


def test_16bit_rgb_tiff_keeps_precision(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    arr = np.random.default_rng(9).integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "c16.tif", arr)
    _assert_16bit_precision(read_image(tmp_path / "c16.tif"), arr)


# --------------------------------------------------------------------------------------------------------------
# sizes


def test_min_side_raises_naming_file_and_size(tmp_path: Path) -> None:
    path = save_png(tmp_path / "small.png", rand_rgb(3, 5, seed=1))
    with pytest.raises(ImageSizeError) as info:
        read_image(path, min_side=4)
    msg = str(info.value)
    assert str(path) in msg and "3x5" in msg and "4" in msg
    assert read_image(path, min_side=3).shape == (3, 5, 3)  # exactly at the limit is fine


def test_one_pixel_image_reads_with_default(tmp_path: Path) -> None:
    path = save_png(tmp_path / "one.png", np.array([[[10, 20, 30]]], np.uint8))
    img = read_image(path)
    assert img.shape == (1, 1, 3) and img.dtype == np.float32
    np.testing.assert_allclose(img[0, 0], np.array([10, 20, 30]) / 255, atol=1e-7)
    with pytest.raises(ImageSizeError, match="1x1"):
        read_image(path, min_side=2)


def test_check_same_size(tmp_path: Path) -> None:
    a, b = np.zeros((4, 5, 3)), np.zeros((4, 6, 3))
    pa, pb = tmp_path / "sharp.png", tmp_path / "blurry.png"
    with pytest.raises(ImageSizeError) as info:
        check_same_size(a, b, pa, pb)
    msg = str(info.value)
    assert str(pa) in msg and str(pb) in msg and "4x5" in msg and "4x6" in msg
    assert msg.index(str(pa)) < msg.index("4x5") < msg.index(str(pb)) < msg.index("4x6")
    with pytest.raises(ImageSizeError, match="5x5"):
        check_same_size(np.zeros((5, 5)), np.zeros((4, 5)), "x", "y")
    assert check_same_size(a, np.zeros((4, 5, 1)), pa, pb) is None  # channels may differ


# --------------------------------------------------------------------------------------------------------------
# writing: atomic, deterministic, exact rounding


def _failing_save(written: list):
    def save(self, fp, format=None, **params):  # noqa: A002 - PIL's signature
        with open(fp, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\npartial")
        written.append(Path(fp))
        raise OSError("disk full (simulated)")

    return save


def test_write_image_failure_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written: list = []
    monkeypatch.setattr(Image.Image, "save", _failing_save(written))
    target = tmp_path / "out.png"
    with pytest.raises(OSError, match="disk full"):
        write_image(target, np.zeros((4, 4, 3), np.float32))
    assert written and written[0] != target and written[0].parent == tmp_path  # it wrote to a temporary name
    assert not target.exists()
    assert sorted(os.listdir(tmp_path)) == []


def test_write_image_failed_overwrite_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.png"
    old = rand_rgb(6, 6, seed=11)
    write_image(target, old)
    before = target.read_bytes()
    monkeypatch.setattr(Image.Image, "save", _failing_save([]))
    with pytest.raises(OSError):
        write_image(target, np.ones((6, 6, 3), np.float32))
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["out.png"]
    np.testing.assert_array_equal(to_uint8(read_image(target)), old)


def test_atomic_path_success_and_failure(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "f.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("hello")
        assert not target.exists()  # not visible until the block ends
    assert target.read_text() == "hello"
    assert os.listdir(target.parent) == ["f.txt"]
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "hello"
    assert os.listdir(target.parent) == ["f.txt"]


def test_written_files_follow_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_image(tmp_path / "a.png", np.zeros((2, 2), np.float32))
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.png").stat().st_mode & 0o777 == (tmp_path / "plain.txt").stat().st_mode & 0o777 == 0o644


def test_write_image_is_deterministic(tmp_path: Path) -> None:
    arr = rand_rgb(10, 12, seed=12)
    write_image(tmp_path / "a.png", arr)
    write_image(tmp_path / "b.png", arr.astype(np.float32) / 255.0)  # float input, same pixels
    write_image(tmp_path / "c.png", arr)
    a = (tmp_path / "a.png").read_bytes()
    assert a == (tmp_path / "b.png").read_bytes() == (tmp_path / "c.png").read_bytes()
    assert a[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"tIME" not in a and b"tEXt" not in a  # no timestamp or text chunk
    assert sha256_file(tmp_path / "a.png") == sha256_file(tmp_path / "c.png")
    write_image(tmp_path / "d.png", np.roll(arr, 1, axis=0))
    assert (tmp_path / "d.png").read_bytes() != a


def test_to_uint8_rounding_is_exact() -> None:
    k = np.arange(256, dtype=np.float64)
    for dtype in (np.float32, np.float64):
        np.testing.assert_array_equal(to_uint8((k / 255).astype(dtype)), k.astype(np.uint8))
    below = (k[:-1] + 0.5 - 1e-4) / 255
    above = (k[:-1] + 0.5 + 1e-4) / 255
    np.testing.assert_array_equal(to_uint8(below), k[:-1].astype(np.uint8))
    np.testing.assert_array_equal(to_uint8(above), (k[:-1] + 1).astype(np.uint8))
    # the exact half-way values land on one of the two neighbours
    ties = to_uint8((k[:-1] + 0.5) / 255).astype(int)
    assert np.all((ties == k[:-1]) | (ties == k[:-1] + 1))
    assert to_uint8(np.array([0.5 / 255 - 1e-6]))[0] == 0 and to_uint8(np.array([0.5 / 255 + 1e-6]))[0] == 1
    assert to_uint8(np.array([1 - 0.5 / 255 + 1e-6]))[0] == 255
    assert to_uint8(np.array([1 - 0.5 / 255 - 1e-6]))[0] == 254
    # clipping, dtype and the squeeze of one channel
    np.testing.assert_array_equal(to_uint8(np.array([-0.3, 1.7, np.float32(0.2)])), [0, 255, 51])
    out = to_uint8(np.zeros((3, 4, 1), np.float32))
    assert out.shape == (3, 4) and out.dtype == np.uint8
    assert to_uint8(np.zeros((3, 4, 3))).shape == (3, 4, 3)


def test_write_image_rounding_through_file(tmp_path: Path) -> None:
    vals = np.array([0.5 / 255 - 1e-6, 0.5 / 255 + 1e-6, 100.4999 / 255, 100.5001 / 255, 1.2, -0.1], np.float64)
    write_image(tmp_path / "r.png", vals.reshape(1, -1))
    with Image.open(tmp_path / "r.png") as im:
        assert im.mode == "L"
        np.testing.assert_array_equal(np.asarray(im)[0], [0, 1, 100, 101, 255, 0])


# --------------------------------------------------------------------------------------------------------------
# hashing


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5 + b"tail"
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    expect = hashlib.sha256(data).hexdigest()
    assert sha256_file(path) == expect
    assert sha256_file(str(path), chunk=7) == expect  # reads in pieces
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha256_file(empty) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    with pytest.raises(FileNotFoundError):
        sha256_file(tmp_path / "missing")
