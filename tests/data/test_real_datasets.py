"""Tests of blurkit.data.real_datasets on tiny fixture trees in each dataset's official layout."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from blurkit import paths
from blurkit.data.real_datasets import (
    REAL_DATASETS,
    dataset_status,
    gopro_pairs,
    hide_pairs,
    image_folder,
    levin_kernels,
    list_datasets,
    reds_pairs,
    require_dataset,
)
from blurkit.errors import ChecksumError, DatasetLayoutError, DatasetMissingError, UnknownNameError
from blurkit.files import sha256_file
from imagegen import rand_rgb, save_png

H, W = 16, 24


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("BLURKIT_DATA", str(root))
    return root


def _img(path: Path, seed: int = 0) -> Path:
    return save_png(path, rand_rgb(H, W, seed))


def make_gopro(data: Path) -> Path:
    root = data / "GOPRO_Large"
    seqs = {"train": ("GOPR0372_07_00", "GOPR0374_11_00"), "test": ("GOPR0384_11_00",)}
    for split, names in seqs.items():
        for seq in names:
            for frame in ("000002.png", "000001.png"):
                for kind in ("sharp", "blur", "blur_gamma"):
                    _img(root / split / seq / kind / frame)
    return root


def make_reds(data: Path) -> Path:
    root = data / "REDS"
    for split, seqs in (("train", ("000", "001")), ("val", ("000",))):
        for seq in seqs:
            for frame in ("00000000.png", "00000001.png"):
                for kind in ("sharp", "blur"):
                    _img(root / f"{split}_{kind}" / seq / frame)
    return root


def make_hide(data: Path) -> Path:
    root = data / "HIDE_dataset"
    for n in ("1fromGOPR0950.png", "2fromGOPR0950.png", "3fromGOPR1096.png", "4fromGOPR1096.png", "5x.png"):
        _img(root / "GT" / n)
    _img(root / "train" / "2fromGOPR0950.png")
    _img(root / "train" / "1fromGOPR0950.png")
    _img(root / "test" / "test-close-ups" / "3fromGOPR1096.png")
    _img(root / "test" / "test-long-shot" / "4fromGOPR1096.png")
    return root


def levin_kernel(j: int, seed: int = 0) -> np.ndarray:
    """A distinct un-normalised kernel per index j (odd sizes as in Levin's set)."""
    size = 13 + 2 * (j % 4)
    k = np.random.default_rng([seed, j]).random((size, size))
    k[size // 2, size // 2] += j  # makes kernels tell apart by their centre value
    return k


def make_levin_files(data: Path, word: str = "ker") -> Path:
    root = data / "levin"
    root.mkdir(parents=True)
    for i in (5, 6):
        for j in range(1, 9):
            x = np.zeros((8, 8))
            savemat(root / f"im{i:02d}_{word}{j:02d}.mat", {"f": levin_kernel(j, seed=i), "x": x, "y": x})
    return root


def make_ffhq(data: Path) -> Path:
    for n in ("00000/00001.png", "00000/00000.png", "01000/01000.png"):
        _img(data / "ffhq" / "images1024x1024" / n)
    return data / "ffhq"


def make_celeba(data: Path) -> Path:
    folder = data / "celeba_hq" / "CelebA-HQ-img"
    folder.mkdir(parents=True)
    from PIL import Image

    for n in ("1.jpg", "0.jpg"):
        Image.fromarray(rand_rgb(H, W)).save(folder / n, quality=90)
    return data / "celeba_hq"


# --------------------------------------------------------------------------------------------- loaders


def test_gopro_pairs(data: Path) -> None:
    root = make_gopro(data)
    train = gopro_pairs()
    assert [(s.relative_to(root).as_posix(), b.relative_to(root).as_posix()) for s, b in train][:2] == [
        ("train/GOPR0372_07_00/sharp/000001.png", "train/GOPR0372_07_00/blur/000001.png"),
        ("train/GOPR0372_07_00/sharp/000002.png", "train/GOPR0372_07_00/blur/000002.png"),
    ]
    assert len(train) == 4 and train == sorted(train)
    gamma = gopro_pairs(split="test", blur="blur_gamma")
    assert [b.parent.name for _, b in gamma] == ["blur_gamma", "blur_gamma"]
    assert {s.parts[-3] for s, _ in gamma} == {"GOPR0384_11_00"}
    assert gopro_pairs(root=root, split="test") == gopro_pairs(split="test")
    with pytest.raises(UnknownNameError):
        gopro_pairs(split="val")


def test_reds_pairs(data: Path) -> None:
    root = make_reds(data)
    train = reds_pairs()
    assert len(train) == 4
    assert train[2] == (root / "train_sharp" / "001" / "00000000.png", root / "train_blur" / "001" / "00000000.png")
    assert [s.relative_to(root).as_posix() for s, _ in reds_pairs(split="val")] == [
        "val_sharp/000/00000000.png", "val_sharp/000/00000001.png"]


def test_hide_pairs(data: Path) -> None:
    root = make_hide(data)
    gt = root / "GT"
    assert hide_pairs() == [(gt / "1fromGOPR0950.png", root / "train" / "1fromGOPR0950.png"),
                            (gt / "2fromGOPR0950.png", root / "train" / "2fromGOPR0950.png")]
    test = hide_pairs(split="test")
    assert [(s.name, b.parent.name) for s, b in test] == [("3fromGOPR1096.png", "test-close-ups"),
                                                         ("4fromGOPR1096.png", "test-long-shot")]
    assert hide_pairs(split="test", subset="test-long-shot") == test[1:]
    with pytest.raises(UnknownNameError):
        hide_pairs(split="train", subset="test-long-shot")


def test_hide_blurry_without_gt_is_an_error(data: Path) -> None:
    root = make_hide(data)
    _img(root / "train" / "orphan.png")
    with pytest.raises(DatasetLayoutError, match="orphan.png"):
        hide_pairs()
    status, detail = dataset_status("hide")
    assert status == "corrupt" and "orphan.png" in detail


def test_image_folders(data: Path) -> None:
    make_ffhq(data)
    make_celeba(data)
    assert [p.relative_to(data).as_posix() for p in image_folder("ffhq")] == [
        "ffhq/images1024x1024/00000/00000.png", "ffhq/images1024x1024/00000/00001.png",
        "ffhq/images1024x1024/01000/01000.png"]
    assert [p.name for p in image_folder("celeba-hq")] == ["0.jpg", "1.jpg"]
    with pytest.raises(UnknownNameError):
        image_folder("gopro")


# ----------------------------------------------------------------------------------------------- Levin


def _check_levin(kernels: list[np.ndarray], seed: int) -> None:
    assert len(kernels) == 8
    for j, k in enumerate(kernels, start=1):
        assert k.dtype == np.float32 and k.ndim == 2
        assert abs(float(k.sum(dtype=np.float64)) - 1.0) < 1e-5
        ref = levin_kernel(j, seed)
        np.testing.assert_allclose(k, ref / ref.sum(), rtol=1e-5)


@pytest.mark.parametrize("word", ["ker", "flit"])
def test_levin_folder_of_per_image_files(data: Path, word: str) -> None:
    make_levin_files(data, word)
    _check_levin(levin_kernels(), seed=5)  # one file per kernel index: the lowest image index
    assert dataset_status("levin") == ("present", "8 kernels")


def test_levin_single_mat_with_cell_array(data: Path) -> None:
    cell = np.empty((1, 8), dtype=object)
    for j in range(1, 9):
        cell[0, j - 1] = levin_kernel(j, seed=1)
    (data / "levin").mkdir()
    path = data / "levin" / "kernels.mat"
    savemat(path, {"kernels": cell})
    _check_levin(levin_kernels(path), seed=1)
    _check_levin(levin_kernels(), seed=1)  # found in the default folder too


def test_levin_single_mat_with_numeric_stack(tmp_path: Path) -> None:
    stack = np.stack([np.full((5, 5), j, dtype=np.float64) for j in range(1, 9)], axis=2)
    savemat(tmp_path / "k.mat", {"kernels": stack})
    kernels = levin_kernels(tmp_path / "k.mat")
    assert len(kernels) == 8 and all(k.shape == (5, 5) for k in kernels)
    np.testing.assert_allclose([k[0, 0] for k in kernels], [1 / 25] * 8, rtol=1e-6)


def test_levin_bad_files(data: Path) -> None:
    root = make_levin_files(data)
    savemat(root / "im05_ker03.mat", {"g": np.ones((3, 3))})
    with pytest.raises(DatasetLayoutError, match="im05_ker03.mat"):
        levin_kernels()
    (root / "im05_ker03.mat").write_bytes(b"not a mat file")
    status, detail = dataset_status("levin")
    assert status == "corrupt" and "im05_ker03.mat" in detail
    empty = data / "empty_levin"
    empty.mkdir()
    with pytest.raises(DatasetLayoutError, match="no im"):
        levin_kernels(empty)


# ------------------------------------------------------------------------------- status and registry


def test_status_present_missing(data: Path) -> None:
    assert dataset_status("gopro")[0] == "missing"
    make_gopro(data)
    assert dataset_status("gopro") == ("present", "train: 4 pairs, test: 2 pairs")
    make_reds(data)
    assert dataset_status("reds") == ("present", "train: 4 pairs, val: 2 pairs")
    make_hide(data)
    assert dataset_status("hide")[0] == "present"


def test_status_corrupt_deleted_blur_folder(data: Path) -> None:
    root = make_gopro(data)
    shutil.rmtree(root / "train" / "GOPR0374_11_00" / "blur")
    status, detail = dataset_status("gopro")
    assert status == "corrupt"
    assert str(root / "train" / "GOPR0374_11_00" / "blur") in detail


def test_status_corrupt_unpaired_file(data: Path) -> None:
    root = make_reds(data)
    _img(root / "val_sharp" / "000" / "00000099.png")
    status, detail = dataset_status("reds")
    assert status == "corrupt" and "00000099.png" in detail
    with pytest.raises(DatasetLayoutError, match="00000099.png"):
        reds_pairs(split="val")
    assert len(reds_pairs(split="train")) == 4  # the intact split still loads


def test_status_corrupt_half_split_and_empty_root(data: Path) -> None:
    root = make_reds(data)
    shutil.rmtree(root / "val_blur")
    assert dataset_status("reds")[0] == "corrupt"
    (data / "GOPRO_Large").mkdir()
    status, detail = dataset_status("gopro")
    assert status == "corrupt" and "train" in detail


def test_require_dataset_missing_message(data: Path) -> None:
    with pytest.raises(DatasetMissingError) as exc:
        require_dataset("gopro")
    msg = str(exc.value)
    assert "\n" not in msg
    assert "data_manifests/gopro.json" in msg
    assert "https://seungjunnah.github.io/Datasets/gopro" in msg and "GOPRO_Large.zip" in msg
    assert "$BLURKIT_DATA/GOPRO_Large" in msg and str(data / "GOPRO_Large") in msg
    with pytest.raises(DatasetMissingError, match="data_manifests/hide.json"):
        hide_pairs()


def test_require_dataset_present_and_corrupt(data: Path) -> None:
    root = make_hide(data)
    assert require_dataset("hide") == root
    shutil.rmtree(root / "GT")
    with pytest.raises(DatasetLayoutError, match="data_manifests/hide.json"):
        require_dataset("hide")


def test_unknown_name_lists_known_names(data: Path) -> None:
    for call in (require_dataset, dataset_status):
        with pytest.raises(UnknownNameError) as exc:
            call("gopro2")
        assert all(n in str(exc.value) for n in ("gopro", "reds", "hide", "levin", "ffhq", "celeba-hq"))


def test_list_datasets(data: Path) -> None:
    make_gopro(data)
    make_celeba(data)
    df = list_datasets()
    assert list(df.columns) == ["name", "status", "path", "detail", "homepage", "licence"]
    assert list(df["name"]) == ["gopro", "reds", "hide", "levin", "ffhq", "celeba-hq"]
    status = dict(zip(df["name"], df["status"]))
    assert status == {"gopro": "present", "reds": "missing", "hide": "missing", "levin": "missing",
                      "ffhq": "missing", "celeba-hq": "present"}
    assert df.set_index("name").loc["ffhq", "licence"].startswith("CC BY-NC-SA 4.0")
    assert df.set_index("name").loc["reds", "path"] == str(data / "REDS")


def test_checksums_of_listed_files(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_gopro(data)
    archive = root / "GOPRO_Large.zip"
    archive.write_bytes(b"archive bytes")
    manifests = tmp_path / "manifests"
    shutil.copytree(paths.MANIFEST_DIR, manifests)
    entry = json.loads((manifests / "gopro.json").read_text())
    entry["files"] = [{"path": "GOPRO_Large.zip", "sha256": sha256_file(archive), "size": 13},
                      {"path": "not_downloaded.zip", "sha256": "0" * 64, "size": 1}]
    (manifests / "gopro.json").write_text(json.dumps(entry))
    monkeypatch.setattr(paths, "MANIFEST_DIR", manifests)
    assert dataset_status("gopro")[0] == "present"  # matching file checked, absent file skipped
    archive.write_bytes(b"archive bytez")  # same size, other bytes
    status, detail = dataset_status("gopro")
    assert status == "corrupt" and "sha256" in detail and str(archive) in detail
    with pytest.raises(ChecksumError, match="data_manifests/gopro.json"):
        require_dataset("gopro")
    archive.write_bytes(b"short")
    assert "bytes" in dataset_status("gopro")[1]


# ---------------------------------------------------------------------------------------- manifests


def test_manifests_are_complete_and_honest() -> None:
    for name, ds in REAL_DATASETS.items():
        m = ds.manifest()
        assert m["name"] == name
        for key in ("title", "homepage", "download", "licence", "citation", "folder"):
            assert isinstance(m[key], str) and m[key].strip(), (name, key)
        assert m["homepage"].startswith("https://") and m["homepage"] in m["download"], name
        assert re.search(r"(19|20)\d\d", m["citation"]), name
        for entry in m["files"]:
            assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]) and entry["size"] > 0
        if not m["files"]:
            assert "not published" in m["checksums"] or "no SHA-256 published" in m["checksums"]
        assert all(p.startswith(m["folder"] + "/") for p in m["layout"]), name


def _matches(path: str, pattern: str) -> bool:
    """Glob match part by part ('*' never crosses a '/')."""
    a, b = path.split("/"), pattern.split("/")
    return len(a) == len(b) and all(fnmatch.fnmatchcase(x, y) for x, y in zip(a, b))


def test_fixture_trees_match_manifest_layouts(data: Path) -> None:
    make_gopro(data), make_reds(data), make_hide(data), make_levin_files(data), make_ffhq(data), make_celeba(data)
    files = [p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()]
    for name, ds in REAL_DATASETS.items():
        assert dataset_status(name)[0] == "present", name
        for pattern in ds.manifest()["layout"]:
            assert any(_matches(f, pattern) for f in files), (name, pattern)
