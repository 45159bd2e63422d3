"""Merge synthetic paired folders (``sharp/``, ``blur/``, ``manifest.json``) of one domain and size into one.

For training on several synthesised sets at once (the default pairs plus pairs cut from other sources, such as
dead-leaves images), with the blur records kept, so that kernel supervision (:mod:`blurkit.data.true_kernels`) still
finds every pair's true kernels. The merged folder links to the inputs' files (no copies): input ``i``'s pair
``NAME`` becomes ``<i:02d>_NAME``. It appears whole or not at all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from blurkit.errors import BlurkitError
from blurkit.files import new_folder, write_text
from blurkit.provenance import provenance, write_json

_SUBDIRS = ("sharp", "blur")


def _manifest(folder: Path) -> dict:
    try:
        record = json.loads((folder / "manifest.json").read_text())
        record["pairs"], record["domain"], record["size"]  # noqa: B018 (the keys a merge needs)
        return record
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BlurkitError(f"'{folder}' is not a synthetic paired folder: its manifest.json cannot be read "
                           f"({type(exc).__name__})") from None


def merge_folders(folders: Sequence[str | os.PathLike], out: str | os.PathLike) -> Path:
    """Link the pairs of ``folders`` into ``out/{sharp,blur}`` with one manifest; returns ``out``.

    All inputs must record the same domain and crop size.
    """
    if len(folders) < 2:
        raise BlurkitError(f"merging needs at least two folders, got {len(folders)}")
    records = [(Path(f).resolve(), _manifest(Path(f))) for f in folders]
    first = records[0][1]
    for folder, rec in records[1:]:
        if rec["domain"] != first["domain"] or rec["size"] != first["size"]:
            raise BlurkitError(f"'{folder}' records domain {rec['domain'].get('name')} at {rec['size']} px, the first "
                               f"folder {first['domain'].get('name')} at {first['size']} px: only like sets merge")
    with new_folder(out) as tmp:
        for sub in _SUBDIRS:
            (tmp / sub).mkdir()
        pairs = []
        for i, (folder, rec) in enumerate(records):
            for pair in rec["pairs"]:
                name = f"{i:02d}_{pair['name']}"
                for sub in _SUBDIRS:
                    src = folder / sub / pair["name"]
                    if not src.is_file():
                        raise BlurkitError(f"'{src}' is listed in its manifest but missing")
                    os.symlink(src, tmp / sub / name)
                pairs.append({**pair, "name": name, "merged_from": i})
        merged = {key: value for key, value in first.items() if key not in ("pairs", "n", "seed")}
        merged.update(n=len(pairs), pairs=pairs, merged_from=[str(f) for f, _ in records])
        write_text(tmp / "manifest.json", json.dumps(merged, indent=1, sort_keys=True) + "\n")  # as synth_folder does
        write_json(tmp / "provenance.json", provenance(config={"folders": [str(f) for f, _ in records]}))
    return Path(out)
