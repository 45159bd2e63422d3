"""The paper's reported numbers, from one cited file (``blurkit/resources/paper_numbers.json``).

They are shown beside ours, never in their place: :func:`compare` builds a table with ``paper`` and ``ours``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pandas as pd

from blurkit.errors import UnknownNameError

PAPER_NUMBERS = Path(__file__).parent / "resources" / "paper_numbers.json"


@lru_cache(maxsize=1)
def _load() -> dict:
    return json.loads(PAPER_NUMBERS.read_text(encoding="utf-8"))


def citation() -> str:
    return _load()["citation"]


def paper_table(name: str) -> dict[str, float]:
    """The values of one table, e.g. ``paper_table("table1_kernel_extraction_levin")``."""
    data = _load()
    if name not in data or not isinstance(data[name], dict) or "values" not in data[name]:
        known = [k for k, v in data.items() if isinstance(v, dict) and "values" in v]
        raise UnknownNameError(f"no paper table '{name}'; known: {', '.join(known)}")
    return dict(data[name]["values"])


def compare(name: str, ours: dict[str, float]) -> pd.DataFrame:
    """A table with one row per key: ``paper`` (from the cited file) and ``ours``; the paper's entries first.

    Claims are tested by the builders on paired per-image results (:mod:`blurkit.experiments.paired`), not here.
    """
    paper = paper_table(name)
    keys = list(paper) + [k for k in ours if k not in paper]
    return pd.DataFrame([{"entry": k, "paper": paper.get(k), "ours": ours.get(k)} for k in keys])
