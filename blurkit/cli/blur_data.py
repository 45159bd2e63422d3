"""``blurkit data swap | augment | motion-blur``: blur-swapped and blur-augmented paired folders (Sec. 4.1.2, 4.4).

:func:`register` adds the commands to the ``data`` sub-app of :mod:`blurkit.cli`. Errors are
:class:`~blurkit.errors.BlurkitError` and are printed as one line by :func:`blurkit.cli.main`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from blurkit.cli.app import THREADS_OPT, set_threads

_DATA_HELP = ("a default set (reds-like, gopro-like, hide-like, uniform-8), a real dataset (gopro, reds, hide) or a "
              "folder with sharp/ and blur/")


def _summary(out: Path) -> str:
    m = json.loads((out / "manifest.json").read_text())
    return f"{m['n']} of {m['n_total']} pairs in {out}"


MODEL_OPT = typer.Option("default", "--model", "-m", help="'default' (shipped reds-like), a shipped name, or a "
                         "model.pt path.")
OUT_OPT = typer.Option(..., "--out", "-o", help="Output folder (sharp/, blur/, manifest.json); an unfinished one is "
                       "resumed.")
SPLIT_OPT = typer.Option("train", "--split", help="Split of named datasets.")
PROFILE_OPT = typer.Option("smoke", "--profile", "-p", help="Profile of default sets.")
LIMIT_OPT = typer.Option(None, "--limit", help="Write only the first N pairs.")
DEVICE_OPT = typer.Option(None, "--device", help="cpu or cuda (default: cuda when present).")


def register(data_app: typer.Typer) -> None:
    """Add the ``swap``, ``augment`` and ``motion-blur`` commands to ``data_app``."""

    @data_app.command("swap")
    def data_swap(
        model: str = MODEL_OPT,
        data: str = typer.Option(..., "--data", help=f"Dataset to swap: {_DATA_HELP}."),
        out: Path = OUT_OPT,
        seed: int = typer.Option(0, "--seed", help="Seed of the target draws: the same seed gives byte-identical "
                                 "files."),
        split: str = SPLIT_OPT,
        profile: str = PROFILE_OPT,
        limit: Optional[int] = LIMIT_OPT,
        batch_size: int = typer.Option(4, "--batch-size", help="Pairs per forward pass."),
        device: Optional[str] = DEVICE_OPT,
        threads: Optional[int] = THREADS_OPT,
        noise: Optional[str] = typer.Option(None, "--noise", help="Add this domain's sensor noise (e.g. gopro-like) "
                                            "to every swapped image; off: the paper's swap, which has none."),
    ) -> None:
        """Blur-swap a dataset (Sec. 4.1.2): each pair's encoded blur on a random sharp image of the same dataset."""
        from blurkit.space.blur_swap import swap_dataset

        set_threads(threads)
        path = swap_dataset(model, data, out, seed, split=split, profile=profile, limit=limit,
                            batch_size=batch_size, device=device, noise=noise)
        typer.echo(f"blur swap: {_summary(path)}")

    @data_app.command("augment")
    def data_augment(
        model: str = MODEL_OPT,
        kernels_from: str = typer.Option(..., "--kernels-from", help=f"Pairs whose blur is encoded: {_DATA_HELP}."),
        images_from: str = typer.Option(..., "--images-from", help="Sharp images to blur: a folder of images or "
                                        "any dataset --kernels-from takes."),
        out: Path = OUT_OPT,
        seed: int = typer.Option(0, "--seed", help="Seed of the kernel draws: the same seed gives byte-identical "
                                 "files."),
        split: str = SPLIT_OPT,
        profile: str = PROFILE_OPT,
        limit: Optional[int] = LIMIT_OPT,
        batch_size: int = typer.Option(4, "--batch-size", help="Pairs per forward pass."),
        device: Optional[str] = DEVICE_OPT,
        threads: Optional[int] = THREADS_OPT,
    ) -> None:
        """Blur augmentation (Sec. 4.4): encoded kernels of one dataset applied to the images of another."""
        from blurkit.space.blur_augment import augment_dataset

        set_threads(threads)
        path = augment_dataset(model, kernels_from, images_from, out, seed, split=split, profile=profile,
                               limit=limit, batch_size=batch_size, device=device)
        typer.echo(f"blur augmentation: {_summary(path)}")

    @data_app.command("motion-blur")
    def data_motion_blur(
        images_from: str = typer.Option(..., "--images-from", help="Sharp images to blur: a folder of images or "
                                        f"{_DATA_HELP}."),
        out: Path = OUT_OPT,
        seed: int = typer.Option(0, "--seed", help="Seed of the kernels: the same seed gives byte-identical files."),
        kernel_sizes: tuple[int, int] = typer.Option((13, 27), "--kernel-sizes", help="Range of kernel sides "
                                                     "(px, odd sides drawn)."),
        split: str = SPLIT_OPT,
        profile: str = PROFILE_OPT,
        limit: Optional[int] = LIMIT_OPT,
        batch_size: int = typer.Option(8, "--batch-size", help="Images per convolution batch."),
        threads: Optional[int] = THREADS_OPT,
    ) -> None:
        """Conventional motion-blur augmentation with blurkit's seeded kernels (stands in for imgaug's MotionBlur)."""
        from blurkit.space.blur_augment import motion_blur_dataset

        set_threads(threads)
        path = motion_blur_dataset(images_from, out, seed, split=split, profile=profile, limit=limit,
                                   batch_size=batch_size, kernel_sizes=kernel_sizes, device="cpu")
        typer.echo(f"motion blur: {_summary(path)}")


__all__ = ["register"]
