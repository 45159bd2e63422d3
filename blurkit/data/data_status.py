"""One table of every dataset blurkit knows: the real public ones, the photo sources and the default sets."""

from __future__ import annotations

import pandas as pd

from blurkit.data.default_data import DEFAULT_DOMAINS, default_dir
from blurkit.data.photos import load_manifest
from blurkit.data.real_datasets import list_datasets
from blurkit.files import sha256_file
from blurkit.profiles import PROFILES


def photo_status() -> pd.DataFrame:
    """Per photo source: how many photos are installed with the right checksum."""
    rows = []
    photos = load_manifest()
    for source in sorted({p.source for p in photos}):
        group = [p for p in photos if p.source == source]
        present = [p for p in group if p.source_path().is_file()]
        bad = [p.id for p in present if sha256_file(p.source_path()) != p.sha256]
        status = "corrupt" if bad else ("present" if len(present) == len(group) else
                                        "missing" if not present else "partial")
        detail = f"{len(present)}/{len(group)} photos" + (f"; checksum mismatch: {', '.join(bad)}" if bad else "")
        rows.append({"name": f"photos:{source}", "status": status, "path": "", "detail": detail})
    return pd.DataFrame(rows)


def default_status() -> pd.DataFrame:
    """Which default sets are built, per profile."""
    rows = []
    for prof in PROFILES:
        for domain in DEFAULT_DOMAINS:
            dirs = [default_dir(prof, domain, s) for s in ("train", "test")]
            ok = [(d / "manifest.json").exists() for d in dirs]
            status = "present" if all(ok) else ("missing" if not any(ok) else "partial")
            rows.append({"name": f"default:{prof}/{domain}", "status": status, "path": str(dirs[0].parent),
                         "detail": "" if all(ok) else f"run: blurkit data prepare --profile {prof}"})
    return pd.DataFrame(rows)


def status_table() -> pd.DataFrame:
    """Real datasets, photo sources and default sets, with their status."""
    real = list_datasets()[["name", "status", "path", "detail"]]
    return pd.concat([real, photo_status(), default_status()], ignore_index=True)
