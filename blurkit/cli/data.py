"""``blurkit data``: list, prepare the embedded default data, synthesise blur (plus swap / augment / motion-blur)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from blurkit.cli.app import PROFILE_OPT, THREADS_OPT, BlurkitTyper, app, set_threads
from blurkit.cli.blur_data import register as register_blur_data

data_app = BlurkitTyper(help="Datasets: list, prepare the embedded default data, synthesise blur, blur-swap and "
                         "augment with a kernel space.", no_args_is_help=True)
app.add_typer(data_app, name="data")
register_blur_data(data_app)  # data swap / augment / motion-blur (Sec. 3.4, 4.1.2, 4.4)


@data_app.command("list")
def data_list() -> None:
    """Show every dataset (real and embedded default) as present / missing / corrupt."""
    import sys

    import pandas as pd
    from tabulate import tabulate

    from blurkit.data.data_status import status_table

    table: pd.DataFrame = status_table().fillna("")
    colours = {"present": "green", "missing": "yellow", "corrupt": "red"}
    if sys.stdout.isatty():  # status coloured on a terminal, plain text in a pipe or a log
        table["status"] = [typer.style(v, fg=colours.get(v)) for v in table["status"]]
    typer.echo(tabulate(table.values.tolist(), headers=list(table.columns), tablefmt="simple",
                        disable_numparse=True))


@data_app.command("prepare")
def data_prepare(profile: str = PROFILE_OPT,
                 force: bool = typer.Option(False, help="Re-verify and rebuild the prepared photos."),
                 threads: Optional[int] = THREADS_OPT) -> None:
    """Verify the photos' checksums, store them, and build the default sets of a profile."""
    from blurkit.data.default_data import build_default
    from blurkit.data.photos import prepare_photos
    from blurkit.paths import data_root
    from blurkit.profiles import get_profile

    set_threads(threads)
    prof = get_profile(profile)
    report = prepare_photos(force=force)
    typer.echo(report.summary())
    built = build_default(prof)
    typer.echo(f"default sets for profile '{prof.name}' ({len(built)}) under {data_root() / 'default' / prof.name}")


@data_app.command("text")
def data_text(profile: str = PROFILE_OPT) -> None:
    """Render the scene-text domain's sharp crops (fonts of data_manifests/text_fonts.json, split by font and word).

    Blur them like any folder of sharp images: blurkit data synth --domain gopro-like --from DIR/sharp ...
    """
    from blurkit.data.text_crops import build_text_crops

    built = build_text_crops(profile)
    for split, path in built.items():
        typer.echo(f"{split}: {path}")


@data_app.command("dead-leaves")
def data_dead_leaves(
    n: int = typer.Option(..., "--n", help="Number of images."),
    size: int = typer.Option(256, "--size", help="Side of the square images (px)."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives byte-identical files."),
    out: Path = typer.Option(..., "--out", "-o", help="New output folder (gets sharp/ and provenance.json)."),
    palette: str = typer.Option("photos", help="Leaf colours: 'photos' (pixels of the train photos) or 'uniform'."),
) -> None:
    """Write procedural dead-leaves images (textured disks, r^-3 radii): extra sharp sources for `data synth --from`."""
    import numpy as np

    from blurkit.data.dead_leaves import photo_palette, write_dead_leaves
    from blurkit.data.default_data import photo_sources
    from blurkit.errors import BlurkitError

    if palette not in ("photos", "uniform"):
        raise BlurkitError(f"--palette must be 'photos' or 'uniform', got '{palette}'")
    colours = None
    if palette == "photos":
        colours = photo_palette([s.load() for s in photo_sources("train")], 65536, np.random.default_rng(seed))
    path = write_dead_leaves(out, n, size, seed, palette=colours)
    typer.echo(f"wrote {n} images to {path / 'sharp'}")


@data_app.command("merge")
def data_merge(
    folders: list[Path] = typer.Argument(..., help="Synthetic paired folders of one domain and size."),
    out: Path = typer.Option(..., "--out", "-o", help="New output folder (links, one manifest)."),
) -> None:
    """Merge synthetic paired folders into one for training, keeping every pair's blur record (true kernels)."""
    from blurkit.data.merge_folders import merge_folders

    path = merge_folders(folders, out)
    typer.echo(f"merged {len(folders)} folders into {path}")


@data_app.command("synth")
def data_synth(
    domain: str = typer.Option(..., "--domain", "-d", help="reds-like, gopro-like, hide-like or uniform-8."),
    n: int = typer.Option(..., "--n", help="Number of pairs."),
    size: int = typer.Option(..., "--size", help="Side of the square crops (px)."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives byte-identical files."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (gets sharp/, blur/, manifest.json)."),
    split: str = typer.Option("train", "--split", help="Which photos to cut from: train or test."),
    from_dir: Optional[Path] = typer.Option(None, "--from", help="Use your own sharp images instead of the photos."),
    threads: Optional[int] = THREADS_OPT,
) -> None:
    """Write a paired folder of synthetic blurry images (sharp/ and blur/, same file names).

    Beside another busy job, --threads 1 is faster than torch's default (on 2 cores, 128 px reds-like pairs: 16
    against 9 pairs per second beside a busy pure-Python loop; 17 against 1.6 beside a one-thread torch notebook)."""
    from blurkit.data.default_data import folder_sources, photo_sources, synth_folder

    set_threads(threads)
    sources = folder_sources(from_dir) if from_dir else photo_sources(split)
    path = synth_folder(domain, n, size, seed, out, split, sources)
    typer.echo(f"wrote {n} pairs to {path}")
