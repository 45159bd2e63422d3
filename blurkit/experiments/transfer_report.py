"""Evaluation and figures of blur transfer (Fig. 7): reconstruction PSNR on held-out pairs, transfer grids."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from skimage.metrics import peak_signal_noise_ratio

from blurkit.data.datasets import resolve_pairs
from blurkit.data.images import read_image
from blurkit.errors import BlurkitError
from blurkit.profiles import Profile
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.train import validate
from blurkit.space.transfer import transfer_images


def reconstruction_table(models: dict[str, KernelSpace], domains: Sequence[str], profile: str | Profile,
                         limit: int | None = None) -> pd.DataFrame:
    """PSNR of F(x, G(x, y)) against y on the held-out test pairs of each domain, for each model."""
    rows = []
    for mname, model in models.items():
        for domain in domains:
            pairs = resolve_pairs(domain, "test", profile)[:limit]
            rows.append({"model": mname, "test_domain": domain, "pairs": len(pairs),
                         "psnr_reconstruction": validate(model, pairs, torch.device("cpu")),
                         "psnr_other_pairs_code": other_pairs_code_psnr(model, pairs)})
    return pd.DataFrame(rows)


def reconstruction_per_pair(model: KernelSpace, domain: str, profile: str | Profile,
                            limit: int | None = None) -> pd.DataFrame:
    """Per held-out pair of a default set: what limits the reconstruction F(x, G(x, y)) vs y.

    Columns ``pair, moving_objects, psnr_blurry`` (y vs x: how strong the blur is), ``psnr_reconstruction`` and
    ``psnr_noise_free`` (y vs its noise-free render, :func:`blurkit.data.default_data.noise_free_blur`: the ceiling
    noise sets for any blur model).
    """
    import json

    from blurkit.data.default_data import default_set, noise_free_blur

    folder = default_set(domain, "test", profile)
    params = {p["name"]: p["params"] for p in json.loads((folder / "manifest.json").read_text())["pairs"]}
    rows = []
    model.eval()
    with torch.no_grad():
        for s, b in resolve_pairs(domain, "test", profile)[:limit]:
            x, y = read_image(s), read_image(b)
            xt, yt = (torch.from_numpy(a).permute(2, 0, 1)[None] for a in (x, y))
            pred = model.apply(xt, model.encode(xt, yt))[0].clamp(0, 1).permute(1, 2, 0).numpy()
            rows.append({"pair": b.name, "moving_objects": len(params[b.name].get("objects", [])),
                         "psnr_blurry": peak_signal_noise_ratio(x, y, data_range=1.0),
                         "psnr_reconstruction": peak_signal_noise_ratio(y, pred, data_range=1.0),
                         "psnr_noise_free": peak_signal_noise_ratio(noise_free_blur(folder, b.name), y,
                                                                    data_range=1.0)})
    return pd.DataFrame(rows)


def reconstruction_compare(models: dict[str, KernelSpace], domain: str, profile: str | Profile,
                           limit: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reconstruction F(x, G(x, y)) vs y of several kernel spaces on the same held-out pairs (an ablation).

    Returns the per-pair table of every model (:func:`reconstruction_per_pair` plus a ``model`` column) and a
    summary, one row per model: ``model, code_stride, steps, pairs, psnr_reconstruction`` (mean over pairs),
    ``psnr_no_object`` / ``psnr_moving_object`` (pairs without / with a moving object) and ``delta_vs_first``.
    """
    if not models:
        raise ValueError("reconstruction_compare needs at least one model")
    per_pair = []
    for name, model in models.items():
        df = reconstruction_per_pair(model, domain, profile, limit)
        per_pair.append(df.assign(model=name))
    table = pd.concat(per_pair, ignore_index=True)
    rows = []
    for (name, model), df in zip(models.items(), per_pair):
        moving = df["moving_objects"] > 0
        rows.append({"model": name, "code_stride": model.config.code_stride,
                     "steps": (model.provenance or {}).get("steps"), "pairs": len(df),
                     "psnr_reconstruction": df["psnr_reconstruction"].mean(),
                     "psnr_no_object": df.loc[~moving, "psnr_reconstruction"].mean(),
                     "psnr_moving_object": df.loc[moving, "psnr_reconstruction"].mean()})
    summary = pd.DataFrame(rows)
    summary["delta_vs_first"] = summary["psnr_reconstruction"] - summary["psnr_reconstruction"].iloc[0]
    return table[["model", *[c for c in table.columns if c != "model"]]], summary


def parse_model_labels(specs: Sequence[str]) -> dict[str, str]:
    """``["LABEL=MODEL", ...]`` -> ``{LABEL: MODEL}``; a bare ``MODEL`` is its own label. Duplicates are refused."""
    out: dict[str, str] = {}
    for spec in specs:
        label, sep, model = spec.partition("=")
        label, model = (label, model) if sep else (spec, spec)
        if not label or not model:
            raise BlurkitError(f"--model '{spec}': expected LABEL=MODEL or MODEL")
        if label in out:
            raise BlurkitError(f"--model: the label '{label}' is given twice")
        out[label] = model
    return out


def compare_models_cli(specs: Sequence[str], domain: str, profile: str | Profile, name: str,
                       out_dir: str | Path | None = None, limit: int | None = None) -> pd.DataFrame:
    """``blurkit reconstruct``: :func:`reconstruction_compare` of the given models, saved with provenance under
    ``out_dir`` (default ``results/<profile>``) as ``<name>.csv`` and ``<name>_per_pair.csv``; returns the summary."""
    from blurkit.files import sha256_file
    from blurkit.paths import RESULTS_DIR
    from blurkit.profiles import get_profile
    from blurkit.provenance import provenance, save_result, timed
    from blurkit.space.kernel_space import checkpoint_path

    prof = get_profile(profile)
    labels = parse_model_labels(specs)
    models = {label: KernelSpace.load(spec) for label, spec in labels.items()}
    used = {}
    for label, spec in labels.items():
        prov = models[label].provenance or {}
        used[label] = {"model": spec, "sha256": sha256_file(checkpoint_path(spec)),
                       "code_stride": models[label].config.code_stride, "steps": prov.get("steps"),
                       "final_val_psnr": prov.get("final_val_psnr"), "command": prov.get("command"),
                       "git_commit": prov.get("git_commit")}
    with timed() as t:
        per_pair, summary = reconstruction_compare(models, domain, prof, limit)
    record = provenance(config={"data": domain, "profile": prof.name, "limit": limit, "models": used}, seed=None,
                        wall_time_s=t["wall_time_s"])
    out = Path(out_dir) if out_dir is not None else RESULTS_DIR / prof.name
    save_result(per_pair, f"{name}_per_pair", out, record)
    save_result(summary, name, out, record)
    return summary


def tone_curve_figure(models: dict[str, KernelSpace]) -> Figure | None:
    """The learned tone curve of every model that has one (:mod:`blurkit.space.tone_curve`) beside the inverse
    response curve of the camera its domain simulates (when the label names a default domain); ``None`` when no
    model has a curve."""
    from blurkit.data.crf import CRF
    from blurkit.data.domains import DOMAINS
    from blurkit.plots import tone_curves

    grid = torch.linspace(0, 1, 257)
    learned, cameras = {}, {}
    for label, model in models.items():
        curve = model.F.tone
        if curve is None:
            continue
        with torch.no_grad():
            learned[label] = (grid.numpy(), curve(grid).numpy())
        if label in DOMAINS:
            crf = DOMAINS[label].crf
            cameras[f"{label} ({crf})"] = (grid.numpy(), CRF(crf).inverse(grid).numpy())
    return tone_curves(learned, cameras) if learned else None


def reconstruction_scatter(per_pair: pd.DataFrame, title: str = "") -> Figure:
    """Reconstruction PSNR against blur strength (PSNR of y vs x), one dot per pair, by moving objects.

    ``per_pair`` is a :func:`reconstruction_per_pair` table; the noise-free ceiling of each pair is drawn as a tick.
    """
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for n, group in per_pair.groupby("moving_objects"):
        dots = ax.scatter(group.psnr_blurry, group.psnr_reconstruction, s=22,
                          label=f"{n} moving object{'s' if n != 1 else ''} (mean {group.psnr_reconstruction.mean():.2f} dB)")
        ax.scatter(group.psnr_blurry, group.psnr_noise_free, marker="_", s=40, color=dots.get_facecolor()[0])
    lo = float(min(per_pair.psnr_blurry.min(), per_pair.psnr_reconstruction.min())) - 1
    ax.plot([lo, 50], [lo, 50], color="0.7", lw=0.8, label="reconstruction = blurry vs sharp")
    ax.set_xlabel("blurry y vs sharp x (dB): weaker blur to the right")
    ax.set_ylabel("F(x, G(x, y)) vs y (dB)")
    ax.set_title(title + "\n(ticks: y vs its noise-free render, the ceiling)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def other_pairs_code_psnr(model: KernelSpace, pairs: list) -> float:
    """Mean PSNR of ``F(x_i, G(x_j, y_j))`` against ``y_i`` with j the next pair: the code of *another* pair.

    Equal to the reconstruction PSNR ``F(x_i, G(x_i, y_i))`` when F ignores k (the kernel space has collapsed to
    one average blur); clearly lower when the codes carry each pair's blur. NaN with fewer than two pairs.
    """
    if len(pairs) < 2:
        return float("nan")
    imgs = [(read_image(s), read_image(b)) for s, b in pairs]
    vals = []
    model.eval()
    with torch.no_grad():
        for i, (x, y) in enumerate(imgs):
            xo, yo = imgs[(i + 1) % len(imgs)]
            xt, yt = (torch.from_numpy(a).permute(2, 0, 1)[None] for a in (x, y))
            if xo.shape != x.shape:
                continue
            k = model.encode(*(torch.from_numpy(a).permute(2, 0, 1)[None] for a in (xo, yo)))
            vals.append(peak_signal_noise_ratio(y, model.apply(xt, k)[0].clamp(0, 1).permute(1, 2, 0).numpy(),
                                                data_range=1.0))
    return float(np.mean(vals)) if vals else float("nan")


def transfer_grid(rows: list[dict], scale: float = 1.9) -> Figure:
    """One row per transfer: target x_hat, source x, source y, transferred y_hat.

    Each row dict has ``label``, ``target``, ``x``, ``y``, ``y_hat`` (images ``(H, W, C)`` in [0, 1]).
    """
    cols = ("target x\u0302", "source x", "source y", "transferred y\u0302")
    fig, axes = plt.subplots(len(rows), 4, figsize=(4 * scale, len(rows) * scale), squeeze=False)
    for r, row in enumerate(rows):
        for c, key in enumerate(("target", "x", "y", "y_hat")):
            ax = axes[r, c]
            img = np.clip(row[key], 0, 1)
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None,
                      vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(cols[c], fontsize=9)
        axes[r, 0].set_ylabel(row["label"], fontsize=8)
    fig.tight_layout(pad=0.3)
    return fig


def transfer_rows(model: KernelSpace, label: str, pairs: list, targets: list[tuple[str, np.ndarray]]) -> list[dict]:
    """Transfer the blur of ``pairs[i]`` onto ``targets[i]`` (zip), as rows for :func:`transfer_grid`."""
    rows = []
    for (s, b), (tname, tgt) in zip(pairs, targets):
        x, y = read_image(s), read_image(b)
        rows.append({"label": f"{label} \u2192 {tname}", "target": tgt, "x": x, "y": y,
                     "y_hat": transfer_images(model, x, y, tgt)})
    return rows


def transfer_ground_truth_table(models: dict[str, KernelSpace], domains: Sequence[str], profile: str | Profile,
                                n_sources: int = 8, n_targets: int = 4, seed: int = 0) -> pd.DataFrame:
    """Blur transfer against its ground truth, which synthetic domains make available.

    For held-out source pair i of a domain and a crop x_hat of another test photo, the true transferred image is
    x_hat re-rendered with pair i's recorded motion (:func:`blurkit.data.synthesis.synthesize_pair` with ``motion=``,
    noise off). Reports the mean PSNR of F(x_hat, G(x_i, y_i)) against it, beside the PSNR of leaving x_hat sharp.
    """
    import json

    from blurkit.data.default_data import default_set, pair_rng
    from blurkit.data.photos import load_manifest, load_photo
    from blurkit.data.synthesis import synthesize_pair

    photos = {p.id: p for p in load_manifest()}
    rows = []
    for domain in domains:
        folder = default_set(domain, "test", profile)
        m = json.loads((folder / "manifest.json").read_text())
        pairs = m["pairs"][:n_sources]
        target_ids = sorted({p["source"] for p in m["pairs"]})
        cache: dict[str, np.ndarray] = {}
        for mname, model in models.items():
            got, base = [], []
            for i, pr in enumerate(pairs):
                x, y = read_image(folder / "sharp" / pr["name"]), read_image(folder / "blur" / pr["name"])
                others = [t for t in target_ids if t != pr["source"]]
                for j in range(n_targets):
                    tid = others[(i + j) % len(others)]
                    if tid not in cache:
                        cache[tid] = load_photo(photos[tid])
                    rng = pair_rng(seed, "transfer-target", "test", i * n_targets + j)
                    xt, yt, _ = synthesize_pair(cache[tid], domain, m["size"], rng, noise=False, motion=pr["params"])
                    pred = transfer_images(model, x, y, xt)
                    got.append(peak_signal_noise_ratio(yt, pred, data_range=1.0))
                    base.append(peak_signal_noise_ratio(yt, xt, data_range=1.0))
            rows.append({"model": mname, "domain": domain, "transfers": len(got),
                         "psnr_transfer_vs_truth": float(np.mean(got)), "psnr_sharp_vs_truth": float(np.mean(base))})
    return pd.DataFrame(rows)

