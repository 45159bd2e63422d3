"""Batch evaluation (blurkit.experiments.evaluate): resume, no-reference folders, real layouts, sharding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from blurkit.data.images import read_image
from blurkit.deblur.metrics import lpips_status, psnr
from blurkit.errors import DatasetLayoutError, UnknownNameError
from blurkit.experiments.evaluate import cell_path, eval_items, evaluate, output_path, parse_method
from blurkit.experiments.evaluate_tables import PER_IMAGE_COLUMNS, SUMMARY_COLUMNS
from blurkit.experiments.sharding import Shard
from imagegen import rand_rgb, save_png
from tolerances import eps
from toymodels import box_blur_kernel_space

pytestmark = pytest.mark.usefixtures("one_thread")
REPO = Path(__file__).resolve().parents[2]
H = W = 16


def make_pairs(root: Path, n: int = 3, sharp: bool = True) -> Path:
    for i in range(n):
        if sharp:
            save_png(root / "sharp" / f"{i:03d}.png", rand_rgb(H, W, i))
        save_png(root / "blur" / f"{i:03d}.png", rand_rgb(H, W, 100 + i))
    return root


def make_gopro(data: Path) -> Path:
    """GOPRO_Large's layout: <split>/<sequence>/{sharp,blur,blur_gamma}/<frame>.png, same frame names per sequence."""
    root = data / "GOPRO_Large"
    for split, seqs in (("train", ("GOPR0372_07_00",)), ("test", ("GOPR0384_11_00", "GOPR0396_11_00"))):
        for s, seq in enumerate(seqs):
            for f, frame in enumerate(("000001.png", "000002.png")):
                for k, kind in enumerate(("sharp", "blur", "blur_gamma")):
                    save_png(root / split / seq / kind / frame, rand_rgb(H, W, 100 * s + 10 * f + k))
    return root


class Counting:
    """A method that records its calls and returns a mix of the blurry image and the reference."""

    def __init__(self, weight: float = 0.5) -> None:
        self.calls: list[int] = []
        self.weight = weight

    def __call__(self, y: torch.Tensor, model: object, seed: int, ref: torch.Tensor) -> tuple[torch.Tensor, float]:
        self.calls.append(seed)
        return (1 - self.weight) * y + self.weight * ref, 0.0


def _rows(df: pd.DataFrame) -> list[tuple]:
    return [tuple(r) for r in df.drop(columns="wall_s").astype(str).itertuples(index=False)]


def test_resume_computes_only_the_missing_cells(tmp_path: Path) -> None:
    data, out, ks = make_pairs(tmp_path / "pairs", 4), tmp_path / "out", box_blur_kernel_space()
    mix = Counting()
    first = evaluate(data, [("mix", mix), "identity"], out, model=ks, n=3, progress=False)
    assert sorted(mix.calls) == [0, 1, 2] and first.computed == 6  # seed + index of the sorted list
    mix.calls.clear()
    cell_path(out, "mix", "001.png").unlink()  # a lost cell, and one more image asked for
    again = evaluate(data, [("mix", mix), "identity"], out, model=ks, n=4, progress=False)
    assert mix.calls == [1, 3] and again.computed == 3  # mix on 001 and 003, identity on 003
    assert len(again.per_image) == 8
    assert _rows(again.per_image[again.per_image.image != "003.png"]) == _rows(first.per_image)
    mix.calls.clear()
    evaluate(data, [("mix", mix)], out, model=ks, n=4, progress=False)
    assert mix.calls == []
    evaluate(data, [("mix", mix)], out, model=ks, n=4, seed=5, progress=False)  # other settings: recomputed
    assert sorted(mix.calls) == [5, 6, 7, 8]
    mix.calls.clear()
    save_png(data / "blur" / "002.png", rand_rgb(H, W, 7))  # a changed input: its cell only
    evaluate(data, [("mix", mix)], out, model=ks, n=4, seed=5, progress=False)
    assert mix.calls == [7]


def test_another_model_file_under_the_same_name_is_computed_again(tmp_path: Path) -> None:
    """Cells are keyed on the model file's bytes, not its name: a model replaced in place (a shipped name that now
    holds another file) makes the cells of the methods that use it out of date, and only those."""
    data, out = make_pairs(tmp_path / "pairs", 2), tmp_path / "out"
    path = box_blur_kernel_space(width=5).save(tmp_path / "space.pt")
    mix = Counting()
    evaluate(data, [("mix", mix)], out, model=path, progress=False)
    evaluate(data, [("mix", mix)], out, model=path, progress=False)
    assert sorted(mix.calls) == [0, 1]  # the second call reused both cells
    box_blur_kernel_space(width=3).save(path)  # same name, another file
    again = evaluate(data, [("mix", mix), "identity"], out, model=path, progress=False)
    assert sorted(mix.calls) == [0, 0, 1, 1] and again.computed == 4
    mix.calls.clear()
    evaluate(data, ["identity"], out, model=tmp_path / "gone.pt", progress=False)  # no method needs the model
    assert mix.calls == []


def test_tables_files_and_the_gain_over_identity(tmp_path: Path) -> None:
    data, out = make_pairs(tmp_path / "pairs", 4), tmp_path / "out"
    res = evaluate(data, ["identity", ("mix", Counting())], out, model=box_blur_kernel_space(), progress=False)
    per = pd.read_csv(out / "per_image.csv")
    assert list(per.columns) == PER_IMAGE_COLUMNS and len(per) == 8
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS
    for name in ("per_image", "summary", "best_median_worst"):
        meta = json.loads((out / f"{name}.meta.json").read_text())
        assert meta["config"]["methods"] == ["identity", "mix"] and meta["images"] == 4
    assert (out / "best_median_worst.png").stat().st_size > 0
    # identity's PSNR is that of the blurry file itself; the gain is the mean paired difference
    names = sorted(p.name for p in (data / "blur").iterdir())
    ident = np.array([psnr(read_image(data / "blur" / n), read_image(data / "sharp" / n)) for n in names])
    by = res.per_image.set_index(["method", "image"]).psnr
    assert np.array_equal(by["identity"].loc[names].to_numpy(), ident)
    gain = by["mix"].loc[names].to_numpy() - ident
    row = res.summary.set_index("method").loc["mix"]
    assert abs(row.gain_db - gain.mean()) <= 8 * eps(np.float64) * np.abs(gain).max()
    assert row.ci_low <= row.gain_db <= row.ci_high and row.ci_low > 0 and row.n_paired == 4
    assert res.summary.set_index("method").loc["identity", ["gain_db", "ci_low", "ci_high"]].tolist() == [0, 0, 0]
    ok, reason = lpips_status()
    meta = json.loads((out / "per_image.meta.json").read_text())
    assert meta["lpips"] == {"available": ok, "reason": reason}
    if not ok:
        assert per.lpips.isna().all()


@pytest.mark.parametrize("layout", ["blur-subfolder", "images-directly"])
def test_a_blurry_only_folder_gives_outputs_and_timing(tmp_path: Path, layout: str) -> None:
    data = make_pairs(tmp_path / "pairs", 3, sharp=False)
    if layout == "images-directly":
        data = data / "blur"
    out = tmp_path / "out"
    res = evaluate(data, ["identity", "classical"], out, progress=False)
    per = pd.read_csv(out / "per_image.csv")
    assert len(per) == 6 and per[["psnr", "ssim", "lpips"]].isna().all().all()
    assert (per.wall_s >= 0).all() and per.wall_s.notna().all()
    assert res.summary[["psnr", "gain_db"]].isna().all().all() and res.summary.n.tolist() == [3, 3]
    blurry = read_image(data / ("blur" if layout == "blur-subfolder" else "") / "001.png")
    assert np.array_equal(read_image(output_path(out, "identity", "001.png")), blurry)
    assert json.loads((out / "summary.meta.json").read_text())["references"] == 0


def test_real_layout_gopro_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLURKIT_DATA", str(tmp_path / "data"))
    root = make_gopro(tmp_path / "data")
    items = eval_items("gopro", "test")
    assert [it.name for it in items] == [f"{seq}/blur/{f}" for seq in ("GOPR0384_11_00", "GOPR0396_11_00")
                                         for f in ("000001.png", "000002.png")]
    assert all(it.sharp == root / "test" / it.name.replace("/blur/", "/sharp/") for it in items)
    res = evaluate("gopro", ["identity"], tmp_path / "out", split="test", progress=False)
    expect = [psnr(read_image(it.blur), read_image(it.sharp)) for it in items]
    assert res.per_image.psnr.tolist() == expect
    assert len(evaluate("gopro", ["identity"], tmp_path / "out-train", split="train", progress=False).per_image) == 2
    with pytest.raises(UnknownNameError):
        eval_items("gopro", "val")


def test_unknown_or_incomplete_methods_and_data(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="unknown method 'sharpen'; choose from: identity, ours"):
        parse_method("sharpen")
    with pytest.raises(UnknownNameError, match="unknown deblur preset 'turbo'"):
        parse_method("ours:turbo")
    with pytest.raises(Exception, match="needs a finished run folder"):
        parse_method(f"srn:{tmp_path}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match="neither sharp/"):
        eval_items(tmp_path / "empty")
    assert parse_method("ours:fast").needs_model and not parse_method("identity").needs_model


def test_shard_takes_rank_stride() -> None:
    assert Shard(rank=1, world=3).take(list(range(8))) == [1, 4, 7]
    shards = [Shard(rank=r, world=3).take(list(range(8))) for r in range(3)]
    assert sorted(sum(shards, [])) == list(range(8))


def _torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "blurkit.cli", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_two_torchrun_processes_give_the_rows_of_one(tmp_path: Path) -> None:
    data = make_pairs(tmp_path / "pairs", 5)
    model = box_blur_kernel_space().save(tmp_path / "box.pt")
    args = ["evaluate", "--data", str(data), "--method", "identity", "--method", "classical", "--method",
            "ours:smoke", "--model", str(model), "--threads", "1"]
    one = evaluate(data, ["identity", "classical", "ours:smoke"], tmp_path / "one", model=str(model), progress=False)
    done = _torchrun([*args, "-o", str(tmp_path / "two")], REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    two = pd.read_csv(tmp_path / "two" / "per_image.csv")
    assert _rows(two) == _rows(pd.read_csv(tmp_path / "one" / "per_image.csv")) and len(two) == 15
    assert json.loads((tmp_path / "two" / "per_image.meta.json").read_text())["world_size"] == 2
    assert len(one.per_image) == 15
    for i, name in enumerate(sorted(p.name for p in (data / "blur").iterdir())):  # image i was rank i % 2's
        for method in ("identity", "classical", "ours:smoke"):
            assert json.loads(cell_path(tmp_path / "two", method, name).read_text())["rank"] == i % 2


@pytest.mark.slow
def test_two_torchrun_processes_deblur_as_one(tmp_path: Path) -> None:
    from blurkit.cli import main

    data = make_pairs(tmp_path / "pairs", 3, sharp=False)
    inputs = [str(p) for p in sorted((data / "blur").iterdir())]
    model = str(box_blur_kernel_space().save(tmp_path / "box.pt"))
    common = ["--profile", "smoke", "--model", model, "--threads", "1", "--save-kernel"]
    assert main(["deblur", *inputs, "-o", str(tmp_path / "one"), *common]) == 0
    done = _torchrun(["deblur", *inputs, "-o", str(tmp_path / "two"), *common], REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    files = sorted(p.name for p in (tmp_path / "one").iterdir() if not p.name.startswith("deblur_log"))
    assert files == sorted(p.name for p in (tmp_path / "two").iterdir() if not p.name.startswith("deblur_log"))
    for name in files:
        if name.endswith(".png"):
            assert np.array_equal(read_image(tmp_path / "one" / name), read_image(tmp_path / "two" / name)), name
    logs = [pd.read_csv(tmp_path / d / "deblur_log.csv") for d in ("one", "two")]
    assert logs[0].final_loss.tolist() == logs[1].final_loss.tolist()
    assert [Path(p).name for p in logs[1].output] == [Path(p).name for p in inputs]
