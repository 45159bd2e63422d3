"""The ladder's result files: a run over some sets keeps the summary rows of the others, with their provenance."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from blurkit.experiments.ladder import LADDER_COLUMNS
from blurkit.experiments.ladder_files import merge_summary, save_summary, summary_cells


def _rows(set_name: str, gains: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"set": set_name, "method": m, "psnr": 20.0 + g, "ssim": 0.5, "gain_db": g,
                          "worse_frac": 0.0, "sec_per_image": 1.0, "n": 2} for m, g in gains.items()],
                        columns=LADDER_COLUMNS)


def test_merge_replaces_the_runs_sets_and_keeps_the_others_in_place() -> None:
    held = pd.concat([_rows("a>x", {"blurry": 0.0, "fast": 1.0}), _rows("b>x", {"blurry": 0.0, "fast": 2.0})])
    new = pd.concat([_rows("b>x", {"blurry": 0.0, "fast": 3.0}), _rows("c>x", {"blurry": 0.0})])
    record = {"git_commit": "abc", "created": "then", "command": "blurkit bench ladder", "kept_sets": {}}
    table, kept = merge_summary(held, record, new, ["b>x", "c>x"])
    assert list(zip(table.set, table.method)) == [("a>x", "blurry"), ("a>x", "fast"), ("b>x", "blurry"),
                                                  ("b>x", "fast"), ("c>x", "blurry")]
    assert table.set_index(["set", "method"]).loc[("b>x", "fast"), "gain_db"] == 3.0  # this run's, not the held
    assert kept == {"a>x": {"git_commit": "abc", "created": "then", "command": "blurkit bench ladder"}}
    # a set kept twice names the run that made its rows, not the run that last kept them
    _, again = merge_summary(table, {"git_commit": "def", "kept_sets": kept}, new[new.set == "c>x"], ["c>x"])
    assert again == {"a>x": kept["a>x"], "b>x": {"git_commit": "def", "created": None, "command": None}}
    # a run over every set, in another order, orders them as asked; a kept set stays after the one it followed
    everything = pd.concat([_rows(s, {"blurry": 0.0}) for s in ("c>x", "b>x", "a>x")])
    assert list(merge_summary(held, record, everything, ["c>x", "b>x", "a>x"])[0].set) == ["c>x", "b>x", "a>x"]
    some = pd.concat([_rows(s, {"blurry": 0.0}) for s in ("d>x", "a>x")])
    three = pd.concat([held, _rows("c>x", {"blurry": 0.0})])
    assert list(dict.fromkeys(merge_summary(three, record, some, ["d>x", "a>x"])[0].set)) == ["d>x", "a>x", "b>x",
                                                                                             "c>x"]
    first, none = merge_summary(pd.DataFrame(), {}, new, ["b>x", "c>x"])
    assert none == {} and first.equals(new.reset_index(drop=True))


def test_save_summary_keeps_an_earlier_runs_sets(tmp_path: Path) -> None:
    save_summary(tmp_path, "ladder", _rows("a>x", {"blurry": 0.0, "fast": 1.25}), ["a>x"], {"git_commit": "one"})
    table, record = save_summary(tmp_path, "ladder", _rows("b>x", {"blurry": 0.0}), ["b>x"], {"git_commit": "two"})
    on_disk = pd.read_csv(tmp_path / "ladder.csv")
    assert list(on_disk.set) == ["a>x", "a>x", "b>x"] and on_disk.gain_db.tolist() == [0.0, 1.25, 0.0]
    meta = json.loads((tmp_path / "ladder.meta.json").read_text())
    assert meta["git_commit"] == "two" and meta["kept_sets"]["a>x"]["git_commit"] == "one"
    assert record["kept_sets"] == meta["kept_sets"] and len(table) == 3


def test_summary_cells_follow_the_summary() -> None:
    per = pd.DataFrame({"set": ["b>x", "a>x", "a>x", "z>x"], "method": ["m", "m", "blurry", "m"],
                        "image": ["1", "1", "1", "1"], "psnr": [1.0, 2.0, 3.0, 4.0]})
    summary = pd.DataFrame({"set": ["a>x", "a>x", "b>x"], "method": ["blurry", "m", "m"]})
    got = summary_cells(per, summary)
    assert list(zip(got.set, got.method)) == [("a>x", "blurry"), ("a>x", "m"), ("b>x", "m")]  # z>x has no row


def test_replace_rows_keys_on_the_given_columns_and_reads_with_the_given_reader(tmp_path: Path) -> None:
    from blurkit.experiments.ladder_files import replace_rows

    path = tmp_path / "pairs.csv"
    reads: list[Path] = []

    def read(p: Path) -> pd.DataFrame:
        reads.append(p)
        held = pd.read_csv(p)  # a reader that fills a column older files lack
        held["size"] = held["size"].fillna(23.0) if "size" in held else 23.0
        return held

    record = {"git_commit": "abc"}
    replace_rows(path, [{"part": "a", "pair": 0, "gain": 1.0}, {"part": "a", "pair": 1, "gain": 2.0}], record,
                 ["part", "pair"], read)
    assert reads == []  # no file yet: nothing to read
    out = replace_rows(path, [{"part": "a", "pair": 1, "gain": 5.0, "size": 13.0}], record, ["part", "pair"], read)
    assert reads == [path]
    assert list(zip(out.pair, out.gain)) == [(0, 1.0), (1, 5.0)]  # the matching row replaced, the other kept
    assert list(out["size"]) == [23.0, 13.0]  # kept rows went through the reader
    on_disk = pd.read_csv(path)
    assert list(zip(on_disk.pair, on_disk.gain)) == [(0, 1.0), (1, 5.0)]
    assert json.loads(path.with_name("pairs.meta.json").read_text())["git_commit"] == "abc"
