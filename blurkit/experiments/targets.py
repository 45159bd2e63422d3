"""The project's own targets, read against the committed results: what the deblurring and baselines issues ask of
blurkit at the ``cpu`` profile, beside what the result CSVs measure.

These are not the paper's numbers (those live in ``blurkit/resources/paper_numbers.json``). Each aim is defined once,
where the code that measures it lives: the ladder's gains in :data:`blurkit.experiments.ladder_figure.LADDER_TARGETS`,
the baselines' in :data:`blurkit.experiments.baseline_curves.CPU_TARGETS_DB`, and the guard's share of images made
worse and the time per image here. :func:`target_table` reads them against ``results/<profile>/``;
``blurkit report`` prints it in the README, so the status of every target is generated, never typed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from blurkit.experiments.baseline_curves import CPU_TARGETS_DB
from blurkit.experiments.ladder_figure import LADDER_TARGETS, gain_intervals

WORSE_FRAC_MAX = 0.1  # the share of images more than 0.3 dB below blurry that `fast` (guarded) may leave
SECONDS_MAX = 30.0  # seconds per 128 px image for `fast`
GUARDED_SETS = ("reds-like>reds-like", "reds-like>gopro-like", "uniform-8>uniform-8")
LADDER = "deblur_ladder"
BASELINES = "baseline_learning_curves_test"
BASELINE_NAMES = {"srn": "SRN-Deblur", "deblurganv2": "DeblurGAN-v2"}
BASELINE_DATA = "reds-like"  # the issue judges each baseline trained and tested on reds-like
TARGET_COLUMNS = ["issue", "target", "measure", "aim", "ours", "ci_low", "ci_high", "n", "met", "source"]


@dataclass(frozen=True)
class Target:
    """One number an issue asks for.

    Attributes:
        issue: the issue that sets it; what: a short description; result: the result CSV's name (without .csv);
        row: the ladder's set or the baseline's model; method: the ladder's method ("" for baselines);
        measure: ``gain_db``, ``worse_frac`` or ``sec_per_image``; aim: the number; at_most: the aim is an upper
        bound (else a lower one).
    """

    issue: int
    what: str
    result: str
    row: str
    method: str
    measure: str
    aim: float
    at_most: bool = False

    def aim_text(self) -> str:
        unit = {"gain_db": " dB", "sec_per_image": " s"}.get(self.measure, "")
        value = f"{self.aim:+.1f}" if self.measure == "gain_db" else f"{self.aim:g}"
        return f"{'≤' if self.at_most else '≥'} {value}{unit}"


def project_targets() -> tuple[Target, ...]:
    """Every target, in the order the README lists them."""
    out = [Target(15, f"`{m}` gain over blurry, {s}", LADDER, s, m, "gain_db", aim)
           for (s, m), aim in LADDER_TARGETS.items()]
    out += [Target(15, f"`fast` share of images > 0.3 dB worse, {s}", LADDER, s, "fast", "worse_frac",
                   WORSE_FRAC_MAX, at_most=True) for s in GUARDED_SETS]
    out += [Target(15, f"`fast` seconds per image, {s}", LADDER, s, "fast", "sec_per_image", SECONDS_MAX,
                   at_most=True) for s in GUARDED_SETS]
    out += [Target(17, f"{BASELINE_NAMES.get(m, m)} gain over blurry, {BASELINE_DATA} test pairs", BASELINES, m, "",
                   "gain_db", aim) for m, aim in CPU_TARGETS_DB.items()]
    return tuple(out)


def _measured(target: Target, read: Callable[[str], pd.DataFrame | None]) -> dict:
    """``ours, ci_low, ci_high, n`` of one target from the result CSVs ``read`` gives by name (NaN and 0 where not
    measured)."""
    none = {"ours": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": 0}
    if target.result == LADDER and target.measure == "gain_db":
        per_image = read(f"{LADDER}_per_image")
        if per_image is None:
            return none
        rows = per_image[(per_image["set"] == target.row) & per_image["method"].isin(("blurry", target.method))]
        gains = gain_intervals(rows)  # the interval of this method only
        hit = gains[gains["method"] == target.method]
        if not len(hit):
            return none
        g = hit.iloc[0]
        return {"ours": g.gain_db, "ci_low": g.ci_low, "ci_high": g.ci_high, "n": int(g.n)}
    if target.result == LADDER:
        table = read(LADDER)
        hit = None if table is None else table[(table["set"] == target.row) & (table["method"] == target.method)]
        if hit is None or not len(hit):
            return none
        return {**none, "ours": float(hit.iloc[0][target.measure]), "n": int(hit.iloc[0]["n"])}
    table = read(target.result)
    hit = None if table is None else table[(table["model"] == target.row) & (table["data"] == BASELINE_DATA)]
    if hit is None or not len(hit):
        return none
    r = hit.iloc[0]
    return {"ours": float(r.diff_db), "ci_low": float(r.ci_low), "ci_high": float(r.ci_high), "n": int(r.n)}


def target_table(results: Path, profile: str = "cpu") -> pd.DataFrame:
    """Every target of :func:`project_targets` against ``results/<profile>/``: ``met`` is whether the mean reaches
    the aim (None where nothing is measured), and ``ci_low`` / ``ci_high`` the paired 95 % interval of a gain.

    Shape:
        -> one row per target, columns :data:`TARGET_COLUMNS`.
    """
    folder = Path(results) / profile
    tables: dict[str, pd.DataFrame | None] = {}

    def read(name: str) -> pd.DataFrame | None:  # each CSV read once per table
        if name not in tables:
            path = folder / f"{name}.csv"
            tables[name] = pd.read_csv(path) if path.is_file() else None
        return tables[name]

    rows = []
    for t in project_targets():
        m = _measured(t, read)
        met = None if not np.isfinite(m["ours"]) else bool(m["ours"] <= t.aim if t.at_most else m["ours"] >= t.aim)
        rows.append({"issue": t.issue, "target": t.what, "measure": t.measure, "aim": t.aim_text(), **m, "met": met,
                     "source": f"results/{profile}/{t.result}.csv"})
    return pd.DataFrame(rows, columns=TARGET_COLUMNS)


def target_markdown(table: pd.DataFrame) -> str:
    """The table as markdown: one line a target, its measure with the interval where there is one, and n."""
    lines = ["| issue | target | aim | ours | n | met |", "|---|---|---|---|---|---|"]
    for r in table.itertuples(index=False):
        if not np.isfinite(r.ours):
            ours, met = "not measured", "-"
        else:
            ours = f"{r.ours:+.2f}" if r.measure == "gain_db" else f"{r.ours:.2f}"
            if np.isfinite(r.ci_low) and np.isfinite(r.ci_high):
                ours += f" [{r.ci_low:+.2f}, {r.ci_high:+.2f}]"
            met = "yes" if r.met else "**no**"
        lines.append(f"| {r.issue} | {r.target} | {r.aim} | {ours} | {r.n or '-'} | {met} |")
    return "\n".join(lines)


__all__ = ["BASELINES", "GUARDED_SETS", "LADDER", "SECONDS_MAX", "TARGET_COLUMNS", "WORSE_FRAC_MAX", "Target",
           "project_targets", "target_markdown", "target_table"]
