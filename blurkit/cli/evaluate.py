"""``blurkit evaluate``: any methods on any folder or dataset, resumable, sharded under torchrun."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from blurkit.cli.app import PROFILE_OPT, THREADS_OPT, app, set_threads


@app.command("evaluate")
def evaluate_cmd(
    data: str = typer.Option(..., "--data", "-d", help="A folder with sharp/ + blur/ (or blurry images only: no "
                             "reference), a default domain (reds-like, ...) or a real dataset (gopro, reds, hide)."),
    method: list[str] = typer.Option(..., "--method", help="Repeatable: identity, ours[:PRESET], "
                                     "selfdeblur[:PRESET], classical, srn:RUN_DIR, deblurganv2:RUN_DIR."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: per_image.csv, summary.csv, figure, cells."),
    model: str = typer.Option("default", "--model", "-m", help="Kernel space of the ours methods: a shipped name "
                              "or a model.pt path."),
    n: Optional[int] = typer.Option(None, "--n", help="Only the first N images (sorted by name)."),
    split: str = typer.Option("test", "--split", help="Split of a named dataset (test means val for REDS)."),
    profile: str = PROFILE_OPT,
    seed: int = typer.Option(0, "--seed", help="Image i of the sorted list gets seed + i."),
    threads: Optional[int] = THREADS_OPT,
) -> None:
    """Evaluate methods on images; a re-run computes only the missing (image, method) cells.

    Under torchrun every rank takes a shard of the images and rank 0 writes the tables.
    """
    from blurkit.experiments.evaluate import evaluate
    from blurkit.experiments.sharding import join, leave

    set_threads(threads)
    shard = join()
    try:
        res = evaluate(data, method, out, model=model, n=n, split=split, profile=profile, seed=seed, shard=shard)
    finally:
        leave()
    if res is not None:
        typer.echo(res.summary.round(3).to_string(index=False))
        typer.echo(f"{res.computed} cell(s) computed now, {len(res.per_image)} in all -> {out}")
