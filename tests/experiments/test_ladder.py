"""The deblurring ladder on a tiny model: image rule, rows and columns, resume, the margin and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from blurkit.cli import main
from blurkit.errors import UnknownNameError
from blurkit.experiments import ladder, recorded_truth
from blurkit.space.kernel_space import KernelSpace

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return KernelSpace("smoke").save(tmp_path / "tiny.pt", provenance={"note": "untrained"})


def _count_method_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the ladder record the name of every method it calls; returns the (growing) list."""
    calls: list[str] = []
    real = ladder.ladder_methods

    def counting(*a, **kw):  # type: ignore[no-untyped-def]
        fns = real(*a, **kw)
        return {m: (lambda f, m: lambda *x: calls.append(m) or f(*x))(f, m) for m, f in fns.items()}

    monkeypatch.setattr(ladder, "ladder_methods", counting)
    return calls


def test_parse_set_and_unknown_method() -> None:
    assert ladder.parse_set("reds-like>gopro-like") == ("reds-like", "gopro-like")
    with pytest.raises(UnknownNameError, match="MODEL>DATA"):
        ladder.parse_set("reds-like")
    with pytest.raises(UnknownNameError, match="unknown ladder method 'magic'"):
        ladder.ladder_methods(["magic"], "smoke", "x")
    with pytest.raises(UnknownNameError, match="--baseline srn=RUN_DIR"):
        ladder.ladder_methods(["srn"], "smoke", "x")


def test_gradient_energy_orders_texture() -> None:
    flat, noisy = np.full((8, 8, 3), 0.5), np.random.default_rng(0).random((8, 8, 3))
    assert ladder.gradient_energy(flat) == 0 < ladder.gradient_energy(noisy)


def test_summary_gain_and_worse_share() -> None:
    per = pd.DataFrame([
        {"set": "a>b", "method": "blurry", "image": "0", "psnr": 20.0, "ssim": 0.5, "wall_s": 0.0},
        {"set": "a>b", "method": "blurry", "image": "1", "psnr": 30.0, "ssim": 0.7, "wall_s": 0.0},
        {"set": "a>b", "method": "m", "image": "0", "psnr": 23.0, "ssim": 0.6, "wall_s": 2.0},
        {"set": "a>b", "method": "m", "image": "1", "psnr": 29.0, "ssim": 0.7, "wall_s": 4.0},
        {"set": "a>b", "method": "no_blur_margin", "image": "0", "margin_db": -2.0},
        {"set": "a>b", "method": "no_blur_margin", "image": "1", "margin_db": -4.0},
    ])
    s = ladder.summarise(per).set_index("method")
    assert list(s.columns) == [c for c in ladder.LADDER_COLUMNS if c != "method"]
    assert s.loc["m", "gain_db"] == pytest.approx(1.0) and s.loc["m", "worse_frac"] == 0.5
    assert s.loc["m", "sec_per_image"] == 3.0 and s.loc["blurry", "gain_db"] == 0.0
    assert s.loc["no_blur_margin", "gain_db"] == -3.0 and s.loc["no_blur_margin", "n"] == 2


def test_ladder_on_a_tiny_model_resumes(pip_photo_manifest: Path, tiny_model: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from blurkit.data.default_data import build_default

    build_default("smoke", domains=("gopro-like",), progress=False)
    sets = [f"{tiny_model}>gopro-like"]
    methods = ["blurry", "true_code", "retrieved_code", "fast", "no_blur_margin"]
    summary = ladder.run_ladder(tmp_path / "out", sets, methods, profile="smoke", n=2, size=32, progress=False)
    assert list(summary.method) == methods and (summary.n == 2).all()
    per = pd.read_csv(tmp_path / "out" / "deblur_ladder_per_image.csv", dtype={"image": str})
    assert len(per) == 10 and per.groupby("method").image.apply(sorted).map(tuple).nunique() == 1  # same images
    assert (tmp_path / "out" / "deblur_ladder.meta.json").exists()
    assert (tmp_path / "out" / "deblur_ladder_plot.png").stat().st_size > 0  # the gains drawn beside the tables
    assert (tmp_path / "out" / "deblur_ladder_plot.meta.json").exists()
    blurry = per[per.method == "blurry"].psnr.to_numpy()
    assert np.isfinite(blurry).all() and np.isfinite(per[per.method == "no_blur_margin"].margin_db).all()
    calls = _count_method_calls(monkeypatch)
    again = ladder.run_ladder(tmp_path / "out", sets, [*methods, "classical"], profile="smoke", n=2, size=32,
                              progress=False)
    assert calls == ["classical", "classical"]  # only the missing cells
    assert "classical" in set(again.method)
    fewer = ladder.run_ladder(tmp_path / "out", sets, ["blurry", "classical"], profile="smoke", n=2, size=32,
                              progress=False)
    # the asked methods first, then the file's other methods for the set, as stored; nothing is computed again
    carried = ["true_code", "retrieved_code", "fast", "no_blur_margin"]
    assert list(fewer.method) == ["blurry", "classical", *carried] and calls == ["classical", "classical"]
    pd.testing.assert_frame_equal(fewer.set_index("method").loc[carried], again.set_index("method").loc[carried])
    import json

    meta = json.loads((tmp_path / "out" / "deblur_ladder.meta.json").read_text())
    assert meta["config"]["carried_methods"] == carried
    kept = pd.read_csv(tmp_path / "out" / "deblur_ladder_per_image.csv", dtype={"image": str})
    assert len(kept) == 12 and set(kept.method) == {*methods, "classical"}  # nothing asked for less is lost
    alone = ladder.run_ladder(tmp_path / "out", sets, ["fast"], profile="smoke", n=2, size=32, progress=False)
    assert alone.method.iloc[0] == "fast" and np.isfinite(alone.gain_db.iloc[0])  # measured against stored blurry


def test_cli_ladder_bad_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "ladder", "--set", "nonsense", "--profile", "smoke"]) == 2
    assert "MODEL>DATA" in capsys.readouterr().err


def test_oracle_row_where_the_blur_is_recorded(pip_photo_manifest: Path, tiny_model: Path,
                                                      tmp_path: Path) -> None:
    from blurkit.data.default_data import build_default

    build_default("smoke", domains=("uniform-8", "gopro-like"), progress=False)
    kernels = recorded_truth.known_kernels("uniform-8", "smoke", size=32)
    assert kernels and all(abs(k.sum() - 1) < 1e-6 for k in kernels.values())
    camera = recorded_truth.known_kernels("gopro-like", "smoke", size=64)  # camera PSFs, one per 32 px cell
    assert camera and all(k.shape == (2, 2, 31, 31) for k in camera.values())
    assert all(k.shape == (1, 1, 31, 31) for k in recorded_truth.known_kernels("gopro-like", "smoke", size=32).values())
    assert recorded_truth.known_kernels("gopro-like", "smoke", size=48) == {}  # not a whole number of cells
    sets = [f"{tiny_model}>uniform-8", f"{tiny_model}>gopro-like"]
    summary = ladder.run_ladder(tmp_path / "out", sets, ["blurry", "oracle"], profile="smoke", n=2, size=32,
                                progress=False)
    rows = summary.set_index(["set", "method"])
    assert rows.loc[(f"{tiny_model}>gopro-like", "oracle"), "n"] == 2
    assert rows.loc[(f"{tiny_model}>uniform-8", "oracle"), "n"] == 2
    assert rows.loc[(f"{tiny_model}>uniform-8", "oracle"), "gain_db"] > 1.0  # the exact kernel deblurs


def test_kernel_code_row_only_for_cell_kernel_models(pip_photo_manifest: Path, tiny_model: Path,
                                                    tmp_path: Path) -> None:
    import dataclasses

    from blurkit.data.default_data import build_default
    from blurkit.space.netconfig import net_preset

    build_default("smoke", domains=("uniform-8",), progress=False)
    torch.manual_seed(0)  # a kernel head with the recorded kernels' size (31 px)
    kernel_model = KernelSpace(dataclasses.replace(net_preset("smoke-kernel"), basis_size=31)).save(
        tmp_path / "kernel.pt", provenance={"note": "untrained"})
    sets = [f"{kernel_model}>uniform-8", f"{tiny_model}>uniform-8"]
    ladder.run_ladder(tmp_path / "out", sets, ["blurry", "kernel_code", "lsq_code"], profile="smoke", n=2, size=32,
                      progress=False)
    blends = ["blurry", "kernel_code_blend", "lsq_code_blend", "true_code_blend"]  # asked for alone, as from the CLI
    summary = ladder.run_ladder(tmp_path / "out", sets, blends, profile="smoke", n=2, size=32, progress=False)
    rows = summary.set_index(["set", "method"])
    for method in ("kernel_code", "kernel_code_blend", "lsq_code", "lsq_code_blend"):
        assert rows.loc[(sets[0], method), "n"] == 2 and np.isfinite(rows.loc[(sets[0], method), "psnr"])
        assert (sets[1], method) not in rows.index  # the basis head reads no kernel off a code cell
    for s in sets:  # the blended x-step with G's code runs on any kernel space
        assert rows.loc[(s, "true_code_blend"), "n"] == 2
    # the blend is its own cell: another image than the plain x-step's
    assert rows.loc[(sets[0], "lsq_code_blend"), "psnr"] != rows.loc[(sets[0], "lsq_code"), "psnr"]


def test_oracle_exact_row_on_whole_dynamic_pairs(pip_photo_manifest: Path, tiny_model: Path, tmp_path: Path) -> None:
    import json

    from blurkit.data.default_data import build_default, default_dir

    build_default("smoke", domains=("uniform-8", "gopro-like"), progress=False)
    side = json.loads((default_dir("smoke", "gopro-like", "test") / "manifest.json").read_text())["size"]
    params = recorded_truth.recorded_blur("gopro-like", "smoke", size=side)
    assert params and all({"camera", "objects", "exposure"} <= set(p) for p in params.values())
    assert recorded_truth.recorded_blur("gopro-like", "smoke", size=side // 2) == {}  # a crop of a pair: not its blur
    assert recorded_truth.recorded_blur("uniform-8", "smoke", size=side) == {}  # no rendered motion there
    sets = [f"{tiny_model}>gopro-like", f"{tiny_model}>uniform-8"]
    summary = ladder.run_ladder(tmp_path / "out", sets, ["blurry", "oracle_exact"], profile="smoke", n=2,
                                size=side, progress=False)
    rows = summary.set_index(["set", "method"])
    assert rows.loc[(sets[0], "oracle_exact"), "n"] == 2 and (sets[1], "oracle_exact") not in rows.index
    assert rows.loc[(sets[0], "oracle_exact"), "gain_db"] > 1.0  # the renderer's own blur deblurs


def test_cells_of_a_changed_model_are_computed_again(pip_photo_manifest: Path, tiny_model: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from blurkit.data.default_data import build_default

    build_default("smoke", domains=("gopro-like",), progress=False)
    sets, methods = [f"{tiny_model}>gopro-like"], ["blurry", "true_code"]
    ladder.run_ladder(tmp_path / "out", sets, methods, profile="smoke", n=2, size=32, progress=False)
    torch.manual_seed(1)
    KernelSpace("smoke").save(tiny_model, provenance={"note": "other weights"})  # same path, new file
    calls = _count_method_calls(monkeypatch)
    ladder.run_ladder(tmp_path / "out", sets, methods, profile="smoke", n=2, size=32, progress=False)
    assert calls == ["true_code", "true_code"]  # the blurry input does not depend on the model
    per = pd.read_csv(tmp_path / "out" / "deblur_ladder_per_image.csv", dtype={"image": str})
    assert len(per) == 4 and per.key.notna().all()


def test_cli_default_sets_are_the_library_defaults() -> None:
    import inspect

    from blurkit.cli.bench import bench_ladder_cmd
    from blurkit.experiments.ladder import DEFAULT_SETS

    assert tuple(inspect.signature(bench_ladder_cmd).parameters["sets"].default.default) == DEFAULT_SETS


def test_model_free_cells_are_shared_between_sets_of_the_same_data(pip_photo_manifest: Path, tiny_model: Path,
                                                                   tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from blurkit.data.default_data import build_default

    build_default("smoke", domains=("gopro-like",), progress=False)
    torch.manual_seed(1)
    other = KernelSpace("smoke").save(tmp_path / "other.pt", provenance={"note": "other weights"})
    sets = [f"{tiny_model}>gopro-like", f"{other}>gopro-like"]
    calls = _count_method_calls(monkeypatch)
    ladder.run_ladder(tmp_path / "out", sets, ["blurry", "classical", "true_code"], profile="smoke", n=2, size=32,
                      progress=False)
    assert calls.count("classical") == 2 and calls.count("true_code") == 4  # the second set copies classical
    per = pd.read_csv(tmp_path / "out" / "deblur_ladder_per_image.csv", dtype={"image": str})
    a, b = (per[(per.set == s) & (per.method == "classical")].set_index("image") for s in sets)
    assert len(a) == len(b) == 2 and (a.psnr == b.psnr).all() and (a.key == b.key).all()


def test_a_model_under_a_new_name_reuses_its_cells(pip_photo_manifest: Path, tiny_model: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A shipped model renamed (the same file under another name): its cells are keyed on the file, not the name, so
    the new set copies them; the old name now holding another file makes its carried cells stale, and they go."""
    import shutil

    from blurkit.data.default_data import build_default

    build_default("smoke", domains=("gopro-like",), progress=False)
    out, methods = tmp_path / "out", ["blurry", "true_code"]
    ladder.run_ladder(out, [f"{tiny_model}>gopro-like"], [*methods, "no_blur_margin"], profile="smoke", n=2,
                      size=32, progress=False)
    renamed = shutil.copy(tiny_model, tmp_path / "renamed.pt")
    torch.manual_seed(1)
    KernelSpace("smoke").save(tiny_model, provenance={"note": "another model under the old name"})
    calls = _count_method_calls(monkeypatch)
    moved = ladder.run_ladder(out, [f"{renamed}>gopro-like"], methods, profile="smoke", n=2, size=32,
                              progress=False)
    assert calls == [] and list(moved.method) == methods  # copied, not computed
    held = pd.read_csv(out / "deblur_ladder.csv")  # the summary file keeps the first run's set, the return does not
    assert list(dict.fromkeys(held.set)) == [f"{tiny_model}>gopro-like", f"{renamed}>gopro-like"]
    per = pd.read_csv(out / "deblur_ladder_per_image.csv", dtype={"image": str})
    old, new = (per[(per.set == f"{m}>gopro-like") & (per.method == "true_code")].set_index("image")
                for m in (tiny_model, renamed))
    assert (old.psnr == new.psnr).all() and (old.key == new.key).all()
    # under the old name: blurry asked for, true_code and the margin carried, but made with the file that was there
    again = ladder.run_ladder(out, [f"{tiny_model}>gopro-like"], ["blurry"], profile="smoke", n=2, size=32,
                              progress=False)
    assert list(again.method) == ["blurry"] and calls == []
    per = pd.read_csv(out / "deblur_ladder_per_image.csv", dtype={"image": str})
    assert set(per[per.set == f"{tiny_model}>gopro-like"].method) == {"blurry"}
    assert set(per[per.set == f"{renamed}>gopro-like"].method) == set(methods)  # other sets' cells stay


def test_baseline_runs_per_set(tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from blurkit.experiments import baseline_report

    sets = ["reds-like>reds-like", "uniform-8-basis>uniform-8"]
    given = ladder.set_baseline_runs(sets, ["fast", "srn"], "cpu", None, {"srn": tmp_path / "r"})
    assert given == {s: {"srn": tmp_path / "r"} for s in sets}  # one named run for every set
    assert ladder.set_baseline_runs(sets, ["fast"], "cpu", None) == {s: {} for s in sets}
    with pytest.raises(UnknownNameError, match="--baseline srn=RUN_DIR"):
        ladder.set_baseline_runs(sets, ["srn"], "cpu", None)
    asked = []
    monkeypatch.setattr(baseline_report, "ensure_baseline", lambda m, p, d, run, *a: asked.append((m, d)) or run)
    runs = ladder.set_baseline_runs(sets, ["srn", "deblurganv2"], "cpu", tmp_path)
    assert runs["uniform-8-basis>uniform-8"] == {"srn": tmp_path / "runs" / "srn-original-uniform-8",
                                                  "deblurganv2": tmp_path / "runs" / "deblurganv2-uniform-8"}
    assert asked == [("srn", "reds-like"), ("deblurganv2", "reds-like"), ("srn", "uniform-8"),
                     ("deblurganv2", "uniform-8")]  # each kernel space's own training domain
    with pytest.raises(UnknownNameError, match="records no training domain"):
        ladder.set_baseline_runs([f"{tiny_model}>gopro-like"], ["srn"], "cpu", tmp_path)


def test_save_cells_keeps_the_cells_of_other_runs(tmp_path: Path) -> None:
    per_path = tmp_path / "deblur_ladder_per_image.csv"
    cell = {"method": "m", "image": "00001", "psnr": 20.0}
    ladder.save_cells(per_path, [{**cell, "set": "a>b", "key": "old"}, {**cell, "set": "c>b", "key": "k"}], {})
    # another process (or a later run) remakes one cell with a new key and adds one: nothing else is lost
    ladder.save_cells(per_path, [{**cell, "set": "a>b", "key": "new"}, {**cell, "set": "a>b", "image": "00002",
                                                                        "key": "new"}], {})
    got = pd.read_csv(per_path, dtype={"image": str}).sort_values(["set", "image"])
    assert list(zip(got.set, got.image, got.key)) == [("a>b", "00001", "new"), ("a>b", "00002", "new"),
                                                      ("c>b", "00001", "k")]


def test_paper_and_official_rows_on_a_tiny_model(pip_photo_manifest: Path, tmp_path: Path) -> None:
    """Algorithm 1 as published and the official code's variant (k warmed up towards a training pair's code) run
    on the same images, capped in steps, each under its own key."""
    from blurkit.data.default_data import build_default
    from blurkit.experiments.ladder_keys import method_key

    build_default("smoke", domains=("gopro-like",), progress=False)
    torch.manual_seed(0)
    model = KernelSpace("smoke").save(tmp_path / "tiny.pt", provenance={"config": {"data": "gopro-like"}})
    methods = ["blurry", "paper", "official"]
    summary = ladder.run_ladder(tmp_path / "out", [f"{model}>gopro-like"], methods, profile="smoke", n=2, size=32,
                                progress=False, paper_steps=4)
    assert list(summary.method) == methods and np.isfinite(summary.psnr).all() and (summary.n == 2).all()
    per = pd.read_csv(tmp_path / "out" / "deblur_ladder_per_image.csv", dtype={"image": str}).set_index("method")
    assert per.loc["paper"].key.iloc[0] != per.loc["official"].key.iloc[0]
    assert not np.allclose(per.loc["paper"].psnr, per.loc["official"].psnr)  # another loss and another k start
    keys = {method_key("official", str(model), "smoke", steps) for steps in (4, 8)}
    assert len(keys) == 2  # the cap is part of the key


def test_cli_paper_cap_is_the_library_default() -> None:
    """Both default to one cap, so a plain re-run keeps the stored paper and official cells."""
    import inspect

    from blurkit.cli.bench import bench_ladder_cmd

    cli = inspect.signature(bench_ladder_cmd).parameters["paper_steps"].default.default
    assert cli == ladder.LADDER_PAPER_STEPS == inspect.signature(ladder.run_ladder).parameters["paper_steps"].default


def test_cli_defaults_and_help_follow_the_library() -> None:
    """The CLI repeats the library's default sets and methods (it imports the library lazily), and its help names
    every row: a method added to the ladder without the CLI, or the reverse, fails here."""
    import inspect
    import re

    from blurkit.cli.bench import bench_ladder_cmd

    params = inspect.signature(bench_ladder_cmd).parameters
    assert tuple(params["sets"].default.default) == ladder.DEFAULT_SETS
    assert tuple(params["methods"].default.default) == ladder.DEFAULT_METHODS
    listed = re.sub(r"^Repeatable:|\.$", "", params["methods"].default.help).replace(" ", "").split(",")
    assert listed == list(ladder.LADDER_METHODS)
    made = [m for m in ladder.LADDER_METHODS if m not in ("srn", "deblurganv2")]
    factories = ladder.ladder_methods(made, "smoke", "uniform-8")
    assert set(factories) | {"srn", "deblurganv2", *ladder.EXTRA} == set(ladder.LADDER_METHODS)
