"""The embedded default data: photo manifest, preparing, synthesised folders, the dataset resolver."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from blurkit.data import photos as photos_mod
from blurkit.data.datasets import resolve_pairs
from blurkit.data.default_data import build_default, default_set, folder_sources, photo_sources, synth_folder
from blurkit.data.photos import load_manifest, prepare_photos, select
from blurkit.errors import BlurkitError, ChecksumError, DatasetMissingError, ImageSizeError, UnknownNameError
from imagegen import rand_rgb, save_png


def test_manifest_split_is_by_photo_and_complete() -> None:
    photos = load_manifest()
    ids = [p.id for p in photos]
    assert len(ids) == len(set(ids)) >= 40
    train = {p.id for p in select(photos, "train")}
    test = {p.id for p in select(photos, "test")}
    assert train and test and not train & test
    assert len(test) / (len(train) + len(test)) > 0.15
    raw = json.loads(photos_mod.PHOTO_MANIFEST.read_text())["photos"]
    for p in raw:
        assert len(p["sha256"]) == 64 and p["licence"] and p["split"] in ("train", "test")
    # a scene never straddles the split (the two motorcycle stereo views)
    scenes: dict[str, set] = {}
    for p in raw:
        scenes.setdefault(p["scene"], set()).add(p["split"])
    assert all(len(s) == 1 for s in scenes.values())
    # both splits have photos that pip packages ship, so the data exists even without the Debian packages
    assert {p.split for p in photos if p.source.startswith("pip:") and p.kind == "photo"} == {"train", "test"}


def test_prepare_verifies_and_resizes(pip_photo_manifest: Path, isolated_data: Path) -> None:
    report = prepare_photos()
    assert len(report.prepared) == len(load_manifest()) and not report.skipped
    sizes = [np.asarray(__import__("PIL.Image").Image.open(p.prepared_path())).shape for p in load_manifest()]
    assert all(min(s[:2]) <= photos_mod.SHORT_SIDE for s in sizes)


def test_checksum_mismatch_names_the_photo(pip_photo_manifest: Path) -> None:
    raw = json.loads(pip_photo_manifest.read_text())
    raw["photos"][0]["sha256"] = "0" * 64
    pip_photo_manifest.write_text(json.dumps(raw))
    with pytest.raises(ChecksumError, match=raw["photos"][0]["id"]):
        prepare_photos()


def test_missing_debian_package_is_skipped_with_a_note(pip_photo_manifest: Path) -> None:
    raw = json.loads(pip_photo_manifest.read_text())
    raw["photos"].append({**raw["photos"][0], "id": "deb-x", "source": "debian:no-such-wallpapers",
                          "locator": {"path": "/nonexistent/x.jpg"}})
    pip_photo_manifest.write_text(json.dumps(raw))
    report = prepare_photos()
    assert "deb-x" in report.skipped and "apt-get install no-such-wallpapers" in report.skipped["deb-x"]
    assert "skipped 1" in report.summary()


def test_synth_folder_is_byte_identical_for_a_seed(pip_photo_manifest: Path, tmp_path: Path) -> None:
    outs = [synth_folder("gopro-like", 5, 32, seed, tmp_path / name, progress=False)
            for name, seed in (("a", 3), ("b", 3), ("c", 4))]
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file() and p.name != "provenance.json")
    assert len(files) == 11  # 5 sharp + 5 blur + manifest
    for f in files:
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f
    assert (outs[0] / "blur" / "00000.png").read_bytes() != (outs[2] / "blur" / "00000.png").read_bytes()
    m = json.loads((outs[0] / "manifest.json").read_text())
    assert m["domain"]["name"] == "gopro-like" and m["seed"] == 3 and len(m["pairs"]) == 5
    assert all("exposure" in p["params"] and p["source"] for p in m["pairs"])
    assert json.loads((outs[0] / "provenance.json").read_text())["wall_time_s"] >= 0


def test_a_pairs_randomness_depends_only_on_seed_domain_split_and_index(tmp_path: Path) -> None:
    """The first k pairs stay byte-identical when n grows; each of (seed, domain, split, index) changes a pair."""
    for i in range(2):
        save_png(tmp_path / "mine" / f"im{i}.png", rand_rgb(60, 60, seed=i))
    sources = folder_sources(tmp_path / "mine")

    def make(name: str, n: int, seed: int = 0, domain: str = "gopro-like", split: str = "train") -> Path:
        return synth_folder(domain, n, 32, seed, tmp_path / name, split=split, sources=sources, progress=False)

    small, large = make("small", 3), make("large", 7)
    for sub in ("sharp", "blur"):
        for i in range(3):
            name = f"{i:05d}.png"
            assert (small / sub / name).read_bytes() == (large / sub / name).read_bytes(), (sub, name)
    m_small, m_large = (json.loads((d / "manifest.json").read_text()) for d in (small, large))
    assert m_large["pairs"][:3] == m_small["pairs"]
    blur = (large / "blur" / "00000.png").read_bytes()
    for other in (make("seed", 1, seed=1), make("split", 1, split="test"), make("domain", 1, domain="hide-like")):
        assert (other / "blur" / "00000.png").read_bytes() != blur, other.name
    # the index: pair 2 is cut from the same photo as pair 0 (two sources), yet crop and motion differ
    assert m_large["pairs"][2]["source"] == m_large["pairs"][0]["source"]
    assert m_large["pairs"][2]["params"] != m_large["pairs"][0]["params"]


def test_synth_from_own_folder_and_bad_arguments(tmp_path: Path) -> None:
    for i in range(2):
        save_png(tmp_path / "mine" / f"im{i}.png", rand_rgb(40, 50, seed=i))
    out = synth_folder("reds-like", 3, 24, 0, tmp_path / "out", sources=folder_sources(tmp_path / "mine"),
                       progress=False)
    assert len(resolve_pairs(out)) == 3
    with pytest.raises(ImageSizeError, match="im0"):
        synth_folder("reds-like", 1, 64, 0, tmp_path / "o2", sources=folder_sources(tmp_path / "mine"), progress=False)
    with pytest.raises(BlurkitError, match="at least 1"):
        synth_folder("reds-like", 0, 24, 0, tmp_path / "o3", sources=folder_sources(tmp_path / "mine"))
    with pytest.raises(BlurkitError, match="no images"):
        folder_sources(tmp_path / "nothing-here")
    with pytest.raises(UnknownNameError):
        synth_folder("blurry-like", 1, 24, 0, tmp_path / "o4", sources=folder_sources(tmp_path / "mine"))


def test_build_default_disjoint_idempotent_and_resolvable(pip_photo_manifest: Path) -> None:
    with pytest.raises(DatasetMissingError, match="blurkit data prepare --profile smoke"):
        default_set("reds-like", "train", "smoke")
    built = build_default("smoke", domains=("reds-like",), progress=False)
    assert set(built) == {"reds-like/train", "reds-like/test"}
    srcs = {s: {p["source"] for p in json.loads((d / "manifest.json").read_text())["pairs"]}
            for s, d in (("train", built["reds-like/train"]), ("test", built["reds-like/test"]))}
    assert srcs["train"] and srcs["test"] and not srcs["train"] & srcs["test"]
    mtime = (built["reds-like/train"] / "manifest.json").stat().st_mtime_ns
    build_default("smoke", domains=("reds-like",), progress=False)  # already current: not rebuilt
    assert (built["reds-like/train"] / "manifest.json").stat().st_mtime_ns == mtime
    assert len(resolve_pairs("reds-like", "test", "smoke")) == len(photo_sources("test"))
    with pytest.raises(UnknownNameError, match="unknown dataset"):
        resolve_pairs("no-such-set")
