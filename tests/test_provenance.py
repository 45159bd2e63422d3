"""Provenance records, the results-folder convention and the named run profiles."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from blurkit.errors import BlurkitError, UnknownNameError
from blurkit.profiles import PROFILES, DataConfig, Profile, get_profile
from blurkit.provenance import git_commit, provenance, save_figure, save_result, timed, write_json

KEYS = {"config", "seed", "git_commit", "versions", "device", "wall_time_s", "created", "command"}

# --------------------------------------------------------------------------------------------------------------
# provenance records


def test_provenance_has_all_keys() -> None:
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)  # "created" is to the second
    rec = provenance()
    after = dt.datetime.now(dt.timezone.utc)
    assert KEYS <= set(rec)
    assert rec["config"] is None and rec["seed"] is None and rec["wall_time_s"] is None
    assert rec["versions"]["torch"] == metadata.version("torch")
    assert rec["versions"]["numpy"] == metadata.version("numpy")
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", rec["versions"]["python"])
    assert isinstance(rec["device"], dict) and rec["device"]["cpus"] >= 1
    assert rec["command"] == " ".join(sys.argv)
    created = dt.datetime.fromisoformat(rec["created"])
    assert created.tzinfo is not None
    assert before <= created <= after  # the call's own time, however long a busy machine took over it
    assert rec["git_commit"] == "unknown" or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", rec["git_commit"])
    json.dumps(rec)  # serialisable as is


def test_provenance_serialises_profile_seed_wall_time_and_extras(tmp_path: Path) -> None:
    prof = get_profile("cpu")
    rec = provenance(prof, seed=7, wall_time_s=1.23456, dataset=tmp_path / "d", sizes=(1, 2))
    assert isinstance(rec["config"], dict)
    assert rec["config"] == prof.to_dict()
    assert rec["config"]["name"] == "cpu" and rec["config"]["data"]["crop"] == 128
    assert rec["seed"] == 7
    assert rec["wall_time_s"] == 1.235
    assert rec["dataset"] == str(tmp_path / "d") and rec["sizes"] == [1, 2]
    assert json.loads(json.dumps(rec)) == rec


def test_git_commit_outside_git_is_unknown(tmp_path: Path) -> None:
    assert git_commit(tmp_path) == "unknown"


def test_git_commit_dirty_only_for_code(tmp_path: Path) -> None:
    """Edits to results/ or docs/ (a notebook's executed copy, a regenerated page) keep the record clean; code does not."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                              capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    for rel in ("code.py", "results/cpu/table.csv", "docs/page.md"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("a\n")
    git("add", ".")
    git("commit", "-q", "-m", "init")
    sha = git("rev-parse", "HEAD")
    assert git_commit(tmp_path) == sha
    (tmp_path / "results/cpu/table.csv").write_text("b\n")
    (tmp_path / "docs/page.md").write_text("b\n")
    assert git_commit(tmp_path) == sha
    (tmp_path / "code.py").write_text("b\n")
    assert git_commit(tmp_path) == sha + "+dirty"


# --------------------------------------------------------------------------------------------------------------
# results folder


def test_save_result_writes_csv_and_meta(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {"method": ["a", "b", "c"], "n": [1, 2, 3], "psnr": [21.5, 30.125, 0.0625], "ssim": [0.8, 0.9123, 1.0]}
    )
    record = provenance(get_profile("smoke"), seed=0, wall_time_s=0.5)
    out_dir = tmp_path / "results" / "smoke"
    csv = save_result(df, "table1", out_dir, record)
    assert csv == out_dir / "table1.csv"
    assert sorted(p.name for p in out_dir.iterdir()) == ["table1.csv", "table1.meta.json"]  # no temp files
    back = pd.read_csv(csv)
    assert list(back.columns) == list(df.columns)
    assert back["method"].tolist() == ["a", "b", "c"] and back["n"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(back["psnr"], df["psnr"], atol=1e-4)
    np.testing.assert_allclose(back["ssim"], df["ssim"], atol=1e-4)
    meta = json.loads((out_dir / "table1.meta.json").read_text())
    assert meta == json.loads(json.dumps(record))
    assert meta["config"]["name"] == "smoke"


def test_save_result_is_deterministic(tmp_path: Path) -> None:
    df = pd.DataFrame({"x": [0.123456, 2.0]})
    rec = {"seed": 1, "b": 2, "a": [1, 2]}
    save_result(df, "t", tmp_path / "a", rec)
    save_result(df, "t", tmp_path / "b", dict(reversed(rec.items())))
    assert (tmp_path / "a" / "t.csv").read_bytes() == (tmp_path / "b" / "t.csv").read_bytes()
    assert (tmp_path / "a" / "t.meta.json").read_bytes() == (tmp_path / "b" / "t.meta.json").read_bytes()
    assert (tmp_path / "a" / "t.csv").read_text().splitlines() == ["x", "0.1235", "2.0000"]


def test_write_json_sorted_and_serialises_paths(tmp_path: Path) -> None:
    path = write_json(tmp_path / "r.json", {"b": tmp_path, "a": get_profile("smoke"), "c": (1, tmp_path)})
    text = path.read_text()
    assert text.endswith("\n") and text.index('"a"') < text.index('"b"') < text.index('"c"')
    assert json.loads(text) == {"a": get_profile("smoke").to_dict(), "b": str(tmp_path), "c": [1, str(tmp_path)]}
    assert json.loads(text)["a"]["data"] == dataclasses.asdict(DataConfig())


def test_save_result_with_numpy_scalars_in_record(tmp_path: Path) -> None:
    df = pd.DataFrame({"x": [1.0]})
    record = provenance(seed=0, n_pairs=np.int64(3), psnr=np.float32(25.5))
    try:
        save_result(df, "t", tmp_path, record)
    finally:
        # whatever happens, never a CSV without its provenance
        assert (tmp_path / "t.csv").exists() == (tmp_path / "t.meta.json").exists()
    meta = json.loads((tmp_path / "t.meta.json").read_text())
    assert meta["n_pairs"] == 3 and meta["psnr"] == 25.5


def test_save_figure_writes_png_and_meta(tmp_path: Path) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1, 2], [0, 1, 4])
    record = provenance(seed=3)
    try:
        out = save_figure(fig, "fig1", tmp_path / "figs", record, dpi=50)
    finally:
        plt.close(fig)
    assert out == tmp_path / "figs" / "fig1.png"
    assert sorted(p.name for p in out.parent.iterdir()) == ["fig1.meta.json", "fig1.png"]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(out) as im:
        im.load()
        assert im.size[0] > 10 and im.size[1] > 10
    assert json.loads((tmp_path / "figs" / "fig1.meta.json").read_text()) == json.loads(json.dumps(record))


# --------------------------------------------------------------------------------------------------------------
# timing


def test_timed_measures_a_sleep() -> None:
    start = time.perf_counter()
    with timed() as t:
        assert t == {}
        time.sleep(0.05)
    outside = time.perf_counter() - start
    assert 0.05 <= t["wall_time_s"] <= outside  # at least the sleep, at most the time around the block


def test_timed_records_even_on_error() -> None:
    start = time.perf_counter()
    with pytest.raises(ValueError):
        with timed() as t:
            raise ValueError("x")
    assert 0.0 <= t["wall_time_s"] <= time.perf_counter() - start


# --------------------------------------------------------------------------------------------------------------
# profiles


def test_three_profiles() -> None:
    assert set(PROFILES) == {"smoke", "cpu", "paper"}
    for name in ("smoke", "cpu", "paper"):
        p = get_profile(name)
        assert isinstance(p, Profile) and p.name == name and p.description
        assert get_profile(p) is p  # a Profile passes through


def test_profiles_are_frozen() -> None:
    p = get_profile("smoke")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.data.crop = 1  # type: ignore[misc]
    assert get_profile("smoke").name == "smoke" and get_profile("smoke").data.crop == 64


def test_unknown_profile_lists_known_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        get_profile("huge")
    msg = str(info.value)
    assert "huge" in msg and all(n in msg for n in ("smoke", "cpu", "paper"))
    assert isinstance(info.value, BlurkitError)


def test_crop_sizes_grow() -> None:
    crops = [get_profile(n).data.crop for n in ("smoke", "cpu", "paper")]
    assert crops == [64, 128, 256]
    assert crops[0] < crops[1] < crops[2]
    pairs = [get_profile(n).data.train_pairs_per_photo for n in ("smoke", "cpu", "paper")]
    assert pairs[0] <= pairs[1] <= pairs[2]


def test_profile_to_dict() -> None:
    d = get_profile("paper").to_dict()
    assert d["name"] == "paper"
    assert d["data"] == {"crop": 256, "train_pairs_per_photo": 64, "test_pairs_per_photo": 8, "seed": 0}
    assert json.loads(json.dumps(d)) == d


def test_new_folder_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    from blurkit.files import new_folder

    with new_folder(tmp_path / "done") as tmp:
        (tmp / "a.txt").write_text("x")
        assert not (tmp_path / "done").exists()  # nothing under the final name until the block ends
    assert (tmp_path / "done" / "a.txt").read_text() == "x"
    with pytest.raises(RuntimeError):
        with new_folder(tmp_path / "crashed") as tmp:
            (tmp / "a.txt").write_text("x")
            raise RuntimeError("crash")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done"]
    with pytest.raises(BlurkitError, match="already exists"):
        with new_folder(tmp_path / "done"):
            pass
