"""Tests of blurkit.data.pairs: folder pairing and PairDataset (tiny images, no training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from blurkit.data.pairs import PairDataset, pair_dirs, pair_folder, unique_names
from blurkit.errors import DatasetLayoutError, ImageReadError, ImageSizeError
from imagegen import rand_rgb, save_png, save_png16


def make_pair_folder(root: Path, names: tuple[str, ...] = ("b.png", "a.png", "c.png"), h: int = 16,
                     w: int = 24) -> Path:
    for i, n in enumerate(names):
        save_png(root / "sharp" / n, rand_rgb(h, w, seed=i))
        save_png(root / "blur" / n, rand_rgb(h, w, seed=100 + i))
    return root


def test_pair_folder_sorted_and_ignores_non_images(tmp_path: Path) -> None:
    root = make_pair_folder(tmp_path / "d")
    (root / "sharp" / "notes.txt").write_text("x")
    (root / "blur" / "Thumbs.db").write_text("x")
    pairs = pair_folder(root)
    assert [s.name for s, _ in pairs] == ["a.png", "b.png", "c.png"]
    assert all(s.parent == root / "sharp" and b.parent == root / "blur" and s.name == b.name for s, b in pairs)


def test_pair_folder_unpaired_names_the_files(tmp_path: Path) -> None:
    root = make_pair_folder(tmp_path / "d")
    save_png(root / "sharp" / "only_sharp.png", rand_rgb(16, 24))
    save_png(root / "blur" / "only_blur.png", rand_rgb(16, 24))
    with pytest.raises(DatasetLayoutError) as exc:
        pair_folder(root)
    msg = str(exc.value)
    assert "only_sharp.png" in msg and "only_blur.png" in msg
    assert "a.png" not in msg


def test_pair_folder_missing_sub_folder_names_it(tmp_path: Path) -> None:
    root = tmp_path / "d"
    save_png(root / "sharp" / "a.png", rand_rgb(16, 24))
    with pytest.raises(DatasetLayoutError, match=r"missing folder .*blur"):
        pair_folder(root)
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        pair_folder(tmp_path / "nowhere")


def test_pair_folder_empty_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "d" / "sharp").mkdir(parents=True)
    (tmp_path / "d" / "blur").mkdir()
    with pytest.raises(DatasetLayoutError, match="no image files"):
        pair_folder(tmp_path / "d")


def test_unique_names_adds_parents_only_when_needed(tmp_path: Path) -> None:
    assert unique_names([Path("/x/s1/sharp/1.png"), Path("/x/s1/sharp/2.png")]) == ["1.png", "2.png"]
    assert unique_names([Path("/x/s1/sharp/1.png"), Path("/x/s2/sharp/1.png")]) == ["s1/sharp/1.png",
                                                                                    "s2/sharp/1.png"]


def test_dataset_shapes_dtypes_and_values(tmp_path: Path) -> None:
    root = make_pair_folder(tmp_path / "d")
    ds = PairDataset(pair_folder(root))
    assert len(ds) == 3
    item = ds[0]
    assert item["name"] == "a.png"
    for key in ("sharp", "blur"):
        assert isinstance(item[key], torch.Tensor)
        assert item[key].dtype == torch.float32
        assert tuple(item[key].shape) == (3, 16, 24)
    expected = np.asarray(Image.open(root / "sharp" / "a.png")).astype(np.float32) / 255.0
    np.testing.assert_allclose(item["sharp"].permute(1, 2, 0).numpy(), expected, atol=1e-6)
    assert not torch.equal(item["sharp"], item["blur"])
    assert ds[-1]["name"] == "c.png"
    with pytest.raises(IndexError):
        ds[3]


def test_gray_mode_gives_one_channel(tmp_path: Path) -> None:
    ds = PairDataset(pair_folder(make_pair_folder(tmp_path / "d")), mode="gray")
    assert tuple(ds[1]["blur"].shape) == (1, 16, 24)


def test_crop_is_deterministic_and_aligned(tmp_path: Path) -> None:
    root = tmp_path / "d"
    for i in range(4):  # blur is a copy of sharp, so an aligned crop gives identical tensors
        img = rand_rgb(16, 24, seed=i)
        save_png(root / "sharp" / f"{i}.png", img)
        save_png(root / "blur" / f"{i}.png", img)
    pairs = pair_folder(root)
    a, b = PairDataset(pairs, crop=8, seed=3), PairDataset(pairs, crop=8, seed=3)
    full = PairDataset(pairs)
    boxes = []
    for i in range(4):
        x, y = a[i], b[i]
        assert tuple(x["sharp"].shape) == (3, 8, 8)
        assert torch.equal(x["sharp"], y["sharp"]) and torch.equal(x["blur"], y["blur"])
        assert torch.equal(x["sharp"], x["blur"])
        top, left = a.crop_box(i, 16, 24)
        boxes.append((top, left))
        assert torch.equal(x["sharp"], full[i]["sharp"][:, top:top + 8, left:left + 8])
    assert len(set(boxes)) > 1  # positions vary between items
    other = PairDataset(pairs, crop=8, seed=4)
    assert [other.crop_box(i, 16, 24) for i in range(4)] != boxes


def test_crop_equal_to_image_size_keeps_everything(tmp_path: Path) -> None:
    ds = PairDataset(pair_folder(make_pair_folder(tmp_path / "d", h=16, w=16)), crop=16)
    assert torch.equal(ds[0]["sharp"], PairDataset(ds.pairs)[0]["sharp"])


def test_mismatched_pair_sizes_name_both_files(tmp_path: Path) -> None:
    s = save_png(tmp_path / "sharp" / "x.png", rand_rgb(16, 24))
    b = save_png(tmp_path / "blur" / "x.png", rand_rgb(16, 20))
    with pytest.raises(ImageSizeError) as exc:
        PairDataset([(s, b)])[0]
    assert str(s) in str(exc.value) and str(b) in str(exc.value)
    assert "16x24" in str(exc.value) and "16x20" in str(exc.value)


def test_image_smaller_than_crop(tmp_path: Path) -> None:
    root = make_pair_folder(tmp_path / "d", names=("a.png",), h=16, w=24)
    with pytest.raises(ImageSizeError) as exc:
        PairDataset(pair_folder(root), crop=20)[0]
    msg = str(exc.value)
    assert str(root / "sharp" / "a.png") in msg and "16x24" in msg and "20x20" in msg


def test_truncated_png_names_the_file(tmp_path: Path) -> None:
    root = make_pair_folder(tmp_path / "d", names=("a.png",))
    bad = root / "blur" / "a.png"
    bad.write_bytes(bad.read_bytes()[:60])
    with pytest.raises(ImageReadError) as exc:
        PairDataset(pair_folder(root))[0]
    assert str(bad) in str(exc.value)


def test_gray_rgba_and_16bit_inputs_become_rgb(tmp_path: Path) -> None:
    gray = np.full((16, 24), 51, dtype=np.uint8)
    s1 = save_png(tmp_path / "s" / "gray.png", gray)
    rgba = np.zeros((16, 24, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 255
    b1 = save_png(tmp_path / "b" / "gray.png", rgba)
    g16 = np.full((16, 24), 1000, dtype=np.uint16)
    s2 = save_png16(tmp_path / "s" / "deep.png", g16)
    c16 = np.zeros((16, 24, 3), dtype=np.uint16)
    c16[..., 2] = 40000
    b2 = save_png16(tmp_path / "b" / "deep.png", c16)
    ds = PairDataset([(s1, b1), (s2, b2)])
    first, second = ds[0], ds[1]
    for t in (first["sharp"], first["blur"], second["sharp"], second["blur"]):
        assert tuple(t.shape) == (3, 16, 24) and t.dtype == torch.float32
    np.testing.assert_allclose(first["sharp"][:, 0, 0].numpy(), [0.2, 0.2, 0.2], atol=1e-6)
    np.testing.assert_allclose(first["blur"][:, 0, 0].numpy(), [1.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(second["sharp"][:, 0, 0].numpy(), [1000 / 65535] * 3, atol=1e-7)
    np.testing.assert_allclose(second["blur"][:, 0, 0].numpy(), [0.0, 0.0, 40000 / 65535], atol=1e-7)


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        PairDataset([], crop=0)
    with pytest.raises(ValueError):
        PairDataset([], mode="cmyk")  # type: ignore[arg-type]
    assert len(pair_dirs(*(make_pair_folder(tmp_path / "d") / n for n in ("sharp", "blur")))) == 3
