"""The ``blurkit`` typer app and its entry point: user mistakes print one ``error:`` line and exit 2, no traceback.

Every command calls the same library functions as the notebooks; the command groups live in the sibling modules.
"""

from __future__ import annotations

import sys

import typer

from blurkit.errors import BlurkitError

app = typer.Typer(help="Reproduce 'Explore Image Deblurring via Encoded Blur Kernel Space' (CVPR 2021).",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  rich_markup_mode=None)  # plain click help: flags show no type, valued options one metavar

PROFILE_OPT = typer.Option("smoke", "--profile", "-p", help="Profile: smoke (CI), cpu (laptop) or paper (GPU).")


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app, turning user errors into one line and a non-zero exit."""
    try:
        app(args=argv, standalone_mode=False)
    except BlurkitError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except typer.Exit as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except typer.TyperException as exc:  # usage errors: typer's own click exceptions
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"error: {exc}", err=True)
        return int(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except OSError as exc:  # e.g. a read-only output folder or a full disk
        typer.echo(f"error: {exc}", err=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
