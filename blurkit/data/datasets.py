"""One resolver for every kind of paired data: a folder, a default set, or a real public dataset."""

from __future__ import annotations

from pathlib import Path

from blurkit.data.default_data import DEFAULT_DOMAINS, default_set
from blurkit.data.pairs import Pair, pair_folder
from blurkit.data.real_datasets import gopro_pairs, hide_pairs, reds_pairs
from blurkit.errors import UnknownNameError
from blurkit.profiles import Profile

_REAL_SPLITS = {"gopro": ("train", "test"), "reds": ("train", "val"), "hide": ("train", "test")}


def has_test_split(name_or_dir: str | Path) -> bool:
    """Whether ``name_or_dir`` names a dataset with its own test split (a default set or a real dataset).

    A ``sharp/ + blur/`` folder has none: :func:`resolve_pairs` gives the same pairs for every split.
    """
    return str(name_or_dir) in DEFAULT_DOMAINS or str(name_or_dir) in _REAL_SPLITS


def resolve_pairs(name_or_dir: str | Path, split: str = "train", profile: str | Profile = "smoke") -> list[Pair]:
    """(sharp, blur) paths of a named dataset or of a ``sharp/ + blur/`` folder.

    Names: the default sets (``reds-like``, ``gopro-like``, ``hide-like``, ``uniform-8``, built per profile) and
    the real datasets ``gopro``, ``reds``, ``hide`` (under ``$BLURKIT_DATA``; ``test`` means ``val`` for REDS).
    """
    name = str(name_or_dir)
    if name in DEFAULT_DOMAINS:
        return pair_folder(default_set(name, split, profile))
    if name in _REAL_SPLITS:
        real_split = "val" if (name == "reds" and split == "test") else split
        loader = {"gopro": gopro_pairs, "reds": reds_pairs, "hide": hide_pairs}[name]
        return loader(split=real_split)
    path = Path(name).expanduser()
    if path.is_dir():
        return pair_folder(path)
    known = ", ".join([*DEFAULT_DOMAINS, *_REAL_SPLITS])
    raise UnknownNameError(f"unknown dataset '{name}': not a folder, nor one of: {known}")
