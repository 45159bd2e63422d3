"""The embedded default data: paired folders synthesised from the manifest's photos, per domain and split.

Layout: ``$BLURKIT_DATA/default/<profile>/<domain>/<split>/{sharp,blur}/<name>.png`` with ``manifest.json``
(domain, seed, parameters of every pair) and ``provenance.json`` beside them. A pair's randomness depends only on
``(seed, domain, split, index)``, so the same seed gives byte-identical files.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from blurkit.data.domains import DOMAINS, DYNAMIC_DOMAINS, get_domain
from blurkit.data.images import is_image_file, read_image, write_image
from blurkit.data.photos import available, load_manifest, load_photo, manifest_hash, prepare_photos, select
from blurkit.data.synthesis import SYNTHESIS_VERSION, synthesize_pair
from blurkit.errors import BlurkitError, DatasetMissingError, ImageSizeError
from blurkit.files import write_text
from blurkit.paths import data_root
from blurkit.profiles import Profile, get_profile
from blurkit.progress import progress_bar
from blurkit.provenance import provenance, timed, write_json

DEFAULT_DOMAINS: tuple[str, ...] = (*DYNAMIC_DOMAINS, "uniform-8")
_SPLIT_CODE = {"train": 1, "test": 2}


@dataclass(frozen=True)
class Source:
    """A sharp image the synthesis cuts crops from."""

    id: str
    load: Callable[[], np.ndarray]


def pair_rng(seed: int, domain: str, split: str, index: int) -> np.random.Generator:
    """The generator of one pair: depends only on its seed, domain, split and index."""
    return np.random.default_rng([seed, zlib.crc32(domain.encode()), _SPLIT_CODE.get(split, 0), index])


def photo_sources(split: str, root: Path | None = None, prepare: bool = True) -> list[Source]:
    """The prepared manifest photos of a split (prepared on the fly when missing)."""
    photos = select(load_manifest(), split=split, kind="photo")
    if prepare and len(available(photos, root)) < len(photos):
        prepare_photos(root, photos)
    ready = available(photos, root)
    if not ready:
        raise BlurkitError(f"no {split} photos are prepared under {(root or data_root()) / 'photos'}; "
                           "run: blurkit data prepare")
    return [Source(p.id, lambda p=p: load_photo(p, root)) for p in ready]


def folder_sources(folder: Path) -> list[Source]:
    """Every image of a folder of the user's own sharp images."""
    files = sorted(f for f in Path(folder).iterdir() if f.is_file() and is_image_file(f)) if Path(folder).is_dir() else []
    if not files:
        raise BlurkitError(f"no images found in '{folder}'")
    return [Source(f.stem, lambda f=f: read_image(f, mode="rgb")) for f in files]


def synth_folder(domain: str, n: int, size: int, seed: int, out: Path, split: str = "train",
                 sources: Sequence[Source] | None = None, progress: bool = True) -> Path:
    """Write ``n`` sharp/blurry pairs of a domain into ``out/{sharp,blur}`` with a manifest.

    Pair ``i`` is cut from source ``i % len(sources)``. Returns ``out``.
    """
    dom = get_domain(domain)
    if n < 1:
        raise BlurkitError(f"--n must be at least 1, got {n}")
    if size < 8:
        raise ImageSizeError(f"--size must be at least 8 px, got {size}")
    sources = list(sources) if sources is not None else photo_sources(split)
    out = Path(out)
    cache: dict[str, np.ndarray] = {}
    pairs = []
    with timed() as t:
        for i in progress_bar(range(n), desc=f"{dom.name} {split}", unit="pair", disable=not progress, leave=False):
            src = sources[i % len(sources)]
            if src.id not in cache:
                cache.clear()  # keep one photo in memory
                cache[src.id] = src.load()
            photo = cache[src.id]
            try:
                sharp, blur, params = synthesize_pair(photo, dom, size, pair_rng(seed, dom.name, split, i))
            except ImageSizeError as exc:
                raise ImageSizeError(f"source '{src.id}': {exc}") from None
            name = f"{i:05d}.png"
            write_image(out / "sharp" / name, sharp)
            write_image(out / "blur" / name, blur)
            pairs.append({"name": name, "source": src.id, "params": params})
    manifest = {"domain": dom.to_dict(), "synthesis_version": SYNTHESIS_VERSION, "seed": seed, "size": size, "split": split, "n": n,
                "photo_manifest_sha256": manifest_hash(), "pairs": pairs}
    write_text(out / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    write_json(out / "provenance.json", provenance(config={"domain": dom.name, "n": n, "size": size, "split": split},
                                                   seed=seed, wall_time_s=t["wall_time_s"]))
    return out


def noise_free_blur(folder: str | os.PathLike, name: str) -> np.ndarray:
    """The blurry image of pair ``name`` of a default set rendered again with its noise left out.

    Same photo, crop, motion and CRF (the pair's generator is replayed; noise is its last draw), so the PSNR of
    the stored blurry image against this one is the best any blur model can reach on that pair.

    Shape: out ``(H, W, 3)`` float32 in [0, 1], the size of the stored pair.
    """
    folder = Path(folder)
    m = json.loads((folder / "manifest.json").read_text())
    entry = next((p for p in m["pairs"] if p["name"] == name), None)
    if entry is None:
        raise BlurkitError(f"'{name}' is not a pair of the default set at '{folder}'")
    photo = next((p for p in load_manifest() if p.id == entry["source"]), None)
    if photo is None:
        raise BlurkitError(f"pair '{name}' of '{folder}' comes from photo '{entry['source']}', which the photo "
                           "manifest no longer lists; rebuild the set with: blurkit data prepare")
    index = int(Path(name).stem)
    _, blur, _ = synthesize_pair(load_photo(photo), m["domain"]["name"], m["size"],
                                 pair_rng(m["seed"], m["domain"]["name"], m["split"], index), noise=False)
    return blur


def default_dir(profile: str | Profile, domain: str, split: str, root: Path | None = None) -> Path:
    prof = get_profile(profile)
    return (root or data_root()) / "default" / prof.name / get_domain(domain).name / split


def build_default(profile: str | Profile, root: Path | None = None, domains: Sequence[str] = DEFAULT_DOMAINS,
                  progress: bool = True) -> dict[str, Path]:
    """Build every default set of a profile that is not built yet; returns ``{"<domain>/<split>": dir}``."""
    prof = get_profile(profile)
    built = {}
    for split in ("train", "test"):
        sources = photo_sources(split, root)
        per_photo = prof.data.train_pairs_per_photo if split == "train" else prof.data.test_pairs_per_photo
        n = per_photo * len(sources)
        for domain in domains:
            out = default_dir(prof, domain, split, root)
            if not _is_current(out, prof, n, domain):
                synth_folder(domain, n, prof.data.crop, prof.data.seed, out, split, sources, progress)
            built[f"{domain}/{split}"] = out
    return built


def _is_current(out: Path, prof: Profile, n: int, domain: str) -> bool:
    try:
        m = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return (m.get("n") == n and m.get("synthesis_version") == SYNTHESIS_VERSION
            and m.get("domain") == json.loads(json.dumps(get_domain(domain).to_dict())) and m.get("size") == prof.data.crop and m.get("seed") == prof.data.seed
            and m.get("photo_manifest_sha256") == manifest_hash()
            and all((out / d / p["name"]).exists() for p in m["pairs"] for d in ("sharp", "blur")))


def default_set(domain: str, split: str, profile: str | Profile, root: Path | None = None) -> Path:
    """The folder of a built default set; a clear error says how to build it when it is missing."""
    out = default_dir(profile, domain, split, root)
    if not (out / "manifest.json").exists():
        raise DatasetMissingError(f"default set '{domain}' ({split}, profile {get_profile(profile).name}) is not built "
                                  f"at {out}; run: blurkit data prepare --profile {get_profile(profile).name}")
    return out


def known_domains() -> list[str]:
    return list(DOMAINS)
