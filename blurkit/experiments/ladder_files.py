"""The ladder's two result files, shared by every ladder run that writes to the same folder.

- ``<name>_per_image.csv``: one cell per (set, method, image). A run rewrites only the cells it made, under an
  exclusive lock, so concurrent runs keep each other's cells (:func:`save_cells`).
- ``<name>.csv``: the summary. A run over some sets replaces those sets' rows and keeps every other set's rows as
  the file held them, with the provenance of the run that made them (:func:`save_summary`). Before, a run over one
  set left a summary of that set alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from blurkit.provenance import save_result

CELL = ["set", "method", "image"]
KEPT_FIELDS = ("git_commit", "created", "command")  # what a kept set's rows carry of the run that made them


@contextmanager
def exclusive(per_path: Path) -> Iterator[None]:
    """Hold the per-image file's lock (``<file>.lock``, an advisory ``flock``) for the block. Not re-entrant."""
    import fcntl

    per_path.parent.mkdir(parents=True, exist_ok=True)
    with open(per_path.with_name(per_path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def replace_rows(path: Path, rows: list[dict], record: dict, key: Sequence[str],
                 read: Callable[[Path], pd.DataFrame], drop: pd.DataFrame | None = None) -> pd.DataFrame:
    """Write ``rows`` into the result file ``path`` under its exclusive lock: the file is re-read with ``read`` at
    each write, the rows it holds whose ``key`` columns match a row of ``rows`` or of ``drop`` (out of date) are
    replaced, and every other row is kept, so concurrent runs on one file do not lose each other's rows. ``read``
    is called only when the file exists. Returns what was written."""
    mine = pd.DataFrame(rows)
    replaced = pd.concat([mine, drop]) if drop is not None and len(drop) else mine  # rows not kept as held
    with exclusive(path):
        held = read(path) if path.exists() else pd.DataFrame()
        if len(held) and len(replaced):
            made = pd.MultiIndex.from_frame(replaced[list(key)].astype(str))
            held = held[~pd.MultiIndex.from_frame(held[list(key)].astype(str)).isin(made)]
        out = pd.concat([held, mine], ignore_index=True) if len(held) else mine
        save_result(out, path.stem, path.parent, record)
    return out


def read_cells(per_path: Path) -> pd.DataFrame:
    """The per-image file, image names as strings."""
    return pd.read_csv(per_path, dtype={"image": str})


def save_cells(per_path: Path, rows: list[dict], record: dict, drop: pd.DataFrame | None = None) -> pd.DataFrame:
    """Write this run's cells into the per-image file (:func:`replace_rows` keyed on :data:`CELL`), keeping every
    cell the file holds that this run did not make (other sets or methods, or another ladder process on the same
    file) except those in ``drop`` (out of date). Returns what was written."""
    return replace_rows(per_path, rows, record, CELL, read_cells, drop)


def merge_summary(held: pd.DataFrame, held_record: dict, summary: pd.DataFrame,
                  sets: Sequence[str]) -> tuple[pd.DataFrame, dict[str, dict]]:
    """``summary``'s rows for ``sets`` in place of ``held``'s rows of those sets; every other set's rows kept. The
    sets asked for come in the order asked, and each kept set right after the set it followed in ``held`` (first if
    it led). Returns the table and, for each kept set, :data:`KEPT_FIELDS` of the run that made its rows
    (``held_record``'s own, or what it recorded as kept)."""
    if not len(held):
        return summary.reset_index(drop=True), {}
    earlier = held_record.get("kept_sets", {})
    order, was = list(dict.fromkeys(sets)), list(dict.fromkeys(held["set"]))
    for i, s in enumerate(was):
        if s not in order:
            order.insert(order.index(was[i - 1]) + 1 if i else 0, s)
    parts, kept = [], {}
    for s in order:
        if s in sets:
            parts.append(summary[summary["set"] == s])
        else:
            parts.append(held[held["set"] == s])
            kept[s] = earlier.get(s) or {f: held_record.get(f) for f in KEPT_FIELDS}
    return pd.concat(parts, ignore_index=True)[list(summary.columns)], kept


def save_summary(out_dir: Path, name: str, summary: pd.DataFrame, sets: Sequence[str],
                 record: dict) -> tuple[pd.DataFrame, dict]:
    """Merge ``summary`` (this run's sets) into ``out_dir/<name>.csv`` under the per-image file's lock and write it
    with ``record`` plus ``kept_sets`` (:func:`merge_summary`). Returns the table written and its record."""
    path = Path(out_dir) / f"{name}.csv"
    with exclusive(Path(out_dir) / f"{name}_per_image.csv"):
        held = pd.read_csv(path) if path.exists() else pd.DataFrame()
        meta = path.with_name(f"{name}.meta.json")
        held_record = json.loads(meta.read_text()) if len(held) and meta.exists() else {}
        table, kept = merge_summary(held, held_record, summary, sets)
        record = {**record, "kept_sets": kept}
        save_result(table, name, out_dir, record)
    return table, record


def summary_cells(per_image: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """The cells behind a summary's rows, in its order of sets and methods (the figure of a merged summary).

    Shape: (rows of ``per_image`` whose (set, method) has a summary row, same columns)."""
    rank = {(s, m): i for i, (s, m) in enumerate(zip(summary["set"], summary["method"]))}
    at = [rank.get((s, m), -1) for s, m in zip(per_image["set"], per_image["method"])]
    cells = per_image.assign(_rank=at)
    cells = cells[cells["_rank"] >= 0].sort_values("_rank", kind="stable")
    return cells.drop(columns="_rank").reset_index(drop=True)


__all__ = ["CELL", "KEPT_FIELDS", "exclusive", "merge_summary", "read_cells", "replace_rows", "save_cells", "save_summary",
           "summary_cells"]
