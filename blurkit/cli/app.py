"""The ``blurkit`` typer app and its entry point: user mistakes print one ``error:`` line and exit 2, no traceback.

Every command calls the same library functions as the notebooks; the command groups live in the sibling modules.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Any, get_args

import typer
from typer.core import TyperCommand

from blurkit.errors import BlurkitError

_TYPE_NAMES = {bool: "BOOLEAN", int: "INTEGER", float: "FLOAT", str: "TEXT", Path: "PATH"}  # click's type names


def _type_name(annotation: Any) -> str:
    known = (name for t, name in _TYPE_NAMES.items() if isinstance(annotation, type) and issubclass(annotation, t))
    return next(known, getattr(annotation, "__name__", str(annotation)).upper())


def _value_metavar(param: Any) -> str:
    """click's metavar for a typer parameter's value: its own metavar, else INTEGER, TEXT, PATH, DIRECTORY, [a|b], ...

    Typer's own help (0.29) writes ``<int>``, ``<path>``, ``<list[str]>``; a repeatable option shows its element type.
    """
    if param.metavar is not None:
        return param.metavar
    desc = param.type_descriptor
    if desc.is_choice:
        return "[" + "|".join(str(c.value if isinstance(c, Enum) else c) for c in desc.choices) + "]"
    if desc.is_path:
        return {"dir": "DIRECTORY", "file": "FILE"}.get(desc.path_type, "PATH")
    if desc.is_tuple:
        return " ".join(_type_name(a) for a in get_args(desc.annotation))
    name = _type_name(get_args(desc.annotation)[0] if desc.is_list else desc.annotation)
    return f"{name} RANGE" if desc.is_ranged else name


def _argument_metavar(param: Any, *, usage: bool) -> str:
    """An argument as click shows it: ``INPUTS...``, ``NAME``, in usage ``[NAME]`` when optional (typer: ``{name}``)."""
    name = param.metavar or param.name.upper()
    if usage and not param.required:
        name = f"[{name}]"
    return f"{name}..." if param.nargs != 1 else name


class PlainHelpCommand(TyperCommand):
    """A command whose --help is plain click: ``-o, --out PATH``, ``--seed INTEGER``, ``INPUTS...``, flags bare.

    Typer builds the help text and the defaults; only the names-and-metavar column and the usage line are click's.
    Parameters without typer's type descriptor (older typer, plain click) keep the record they make themselves.
    """

    def format_options(self, ctx: Any, formatter: Any) -> None:
        sections: dict[str, list[tuple[str, str]]] = {"argument": [], "option": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None and param.param_type_name in sections:
                names = self._names(param) if hasattr(param, "type_descriptor") else record[0]
                sections[param.param_type_name].append((names, record[1]))
        for title, rows in (("Arguments", sections["argument"]), ("Options", sections["option"])):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            typed_argument = param.param_type_name == "argument" and hasattr(param, "type_descriptor")
            pieces += [_argument_metavar(param, usage=True)] if typed_argument else param.get_usage_pieces(ctx)
        return pieces

    @staticmethod
    def _names(param: Any) -> str:
        if param.param_type_name == "argument":
            return _argument_metavar(param, usage=False)

        def joined(opts: list[str]) -> str:  # click's join_options: -o, --out
            text = ", ".join(sorted(opts, key=lambda o: len(o) - len(o.lstrip("-/"))))
            return text if param.is_flag or param.count else f"{text} {_value_metavar(param)}"

        return " / ".join(joined(opts) for opts in (param.opts, param.secondary_opts) if opts)


class BlurkitTyper(typer.Typer):
    """A typer app with plain click help (no rich panels) whose commands are :class:`PlainHelpCommand`."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("rich_markup_mode", None)
        super().__init__(**kwargs)

    def command(self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Any:
        return super().command(name, cls=cls or PlainHelpCommand, **kwargs)


app = BlurkitTyper(help="Reproduce 'Explore Image Deblurring via Encoded Blur Kernel Space' (CVPR 2021).",
                   no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)

PROFILE_OPT = typer.Option("smoke", "--profile", "-p", help="Profile: smoke (CI), cpu (laptop) or paper (GPU).")
THREADS_OPT = typer.Option(None, "--threads", help="CPU threads for torch.")


def set_threads(threads: int | None) -> None:
    """Set torch's CPU threads when ``--threads`` is given."""
    if threads:
        import torch

        torch.set_num_threads(threads)


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
