"""``blurkit reproduce`` (notebooks through papermill), ``blurkit profiles`` and ``blurkit report``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from blurkit.cli.app import PROFILE_OPT, app


@app.command("reproduce")
def reproduce(
    name: str = typer.Argument(..., help="Notebook name or number (e.g. 00_data, 00) or 'all'."),
    profile: str = PROFILE_OPT,
    results_dir: Optional[Path] = typer.Option(None, help="Default: $BLURKIT_RESULTS_DIR, else results/<profile>/."),
    seed: int = typer.Option(0, help="Seed passed to the notebooks."),
    param: list[str] = typer.Option([], "--param", "-P", help="Another notebook parameter, KEY=VALUE (VALUE read "
                                    "as JSON when it parses, else as a string); repeatable, e.g. -P threads=1."),
) -> None:
    """Run notebooks headless with papermill; results go to results/<profile>/."""
    from blurkit.experiments.notebooks import find_notebook, list_notebooks, parse_params, run_notebook
    from blurkit.profiles import get_profile

    prof = get_profile(profile)
    extra = parse_params(param)
    paths = list_notebooks() if name == "all" else [find_notebook(name)]
    for path in paths:
        out, secs = run_notebook(path, prof.name, results_dir, seed, extra=extra)
        typer.echo(f"{path.stem}: {secs:.1f} s -> {out}")


@app.command("profiles")
def profiles(nets: bool = typer.Option(False, "--nets", help="List the kernel-space network presets instead.")) -> None:
    """List the profiles and their settings (or, with --nets, the network presets)."""
    if nets:
        from blurkit.experiments.report import net_presets_table

        typer.echo(net_presets_table().to_markdown(index=False))
        return
    from blurkit.profiles import PROFILES

    for prof in PROFILES.values():
        typer.echo(f"{prof.name:6s} {prof.description}\n       {prof.to_dict()}")


@app.command("report")
def report(check: bool = typer.Option(False, "--check", help="Only list stale pages; exit 1 if any.")) -> None:
    """Regenerate the README status table, docs/results.md and the preset table from results/."""
    from blurkit.experiments.report import stale_pages, write_report
    from blurkit.paths import REPO_DIR

    pages = stale_pages() if check else write_report()
    for page in pages:
        typer.echo(f"{'stale' if check else 'wrote'} {page.relative_to(REPO_DIR)}")
    if check and pages:
        raise typer.Exit(1)
    if not pages:
        typer.echo("generated pages are up to date")
