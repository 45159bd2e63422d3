"""Every command's --help: plain click text, click-style metavars (INTEGER, TEXT, PATH), no traceback."""

from __future__ import annotations

import re

import click
import pytest
import typer
from typer.testing import CliRunner

from blurkit.cli import app

TYPE_METAVAR = re.compile(r"<[^<>\s]+>|\{[^{}\s]+\}")  # typer's own style: <int>, <list[Path]>, {inputs}
CLICK_METAVAR = re.compile(r"[A-Z][A-Z_]*(?: [A-Z][A-Z_]*)*(?:\.\.\.)?")  # INTEGER, PATH, INPUTS..., INTEGER INTEGER


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    out: list[tuple[tuple[str, ...], click.Command]] = [(path, group)]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if hasattr(cmd, "list_commands"):  # a group (typer may vendor its own click)
            out += _commands(cmd, (*path, name))
        else:
            out.append(((*path, name), cmd))
    return out


COMMANDS = _commands(typer.main.get_command(app))  # type: ignore[arg-type]
IDS = [" ".join(p) or "blurkit" for p, _ in COMMANDS]


def _help(path: tuple[str, ...]) -> str:
    out = CliRunner().invoke(app, [*path, "--help"])
    assert out.exit_code == 0, out.output
    assert "Traceback" not in out.output
    return out.output


def _names(param: click.Parameter) -> str:
    """A parameter's names as help lists them: options by prefix length (-o, --out), an argument in capitals."""
    if param.param_type_name == "argument":
        return (param.name or "").upper()
    return ", ".join(sorted(param.opts, key=lambda o: len(o) - len(o.lstrip("-/"))))


def _first_column(text: str, names: str) -> str:
    """The names-and-metavar column of the help line that lists ``names`` (help text starts after two spaces)."""
    columns = [line.strip().split("  ")[0] for line in text.splitlines()]
    key = names.lower()
    column = next((c for c in columns if c.lower() == key or c.lower().startswith((f"{key} ", f"{key}..."))), None)
    assert column is not None, f"no help line for {names}:\n{text}"
    return column


def test_every_command_group_is_walked() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"data list", "bench ladder", "baseline train", "deblur", "evaluate", "data motion-blur"} <= names
    deblur = dict(COMMANDS)[("deblur",)]
    assert any(getattr(p, "is_flag", False) for p in deblur.params)  # the flag check below has flags to check
    kinds = {type(p).__name__ for _, c in COMMANDS for p in c.params}
    assert {"TyperArgument", "TyperOption"} <= kinds  # the metavar check below has both to check


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=IDS)
def test_help_has_no_type_on_flags(path: tuple[str, ...], cmd: click.Command) -> None:
    out = _help(path)
    assert "<bool>" not in out
    flags = [p for p in cmd.params if getattr(p, "is_flag", False) and p.opts[0] != "--help"]
    for flag in flags:
        line = next(line for line in out.splitlines() if flag.opts[0] in line)
        assert "<" not in line.split(flag.opts[-1])[0], line  # no metavar between a flag's names


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=IDS)
def test_help_shows_click_style_metavars(path: tuple[str, ...], cmd: click.Command) -> None:
    """Each valued option shows one click-style metavar (``--seed INTEGER``), never ``<int>`` or ``<list[str]>``;
    arguments show as ``INPUTS...`` in the list and in the usage line, never ``{inputs}``."""
    out = _help(path)
    usage = out.splitlines()[0]
    assert usage.startswith("Usage:") and not TYPE_METAVAR.search(usage), usage
    for param in cmd.params:
        if getattr(param, "hidden", False) or getattr(param, "is_flag", False) or param.name == "help":
            continue
        names = _names(param)
        column = _first_column(out, names)
        assert not TYPE_METAVAR.search(column), column
        metavar = column if param.param_type_name == "argument" else column[len(names):].strip()
        assert CLICK_METAVAR.fullmatch(metavar), f"{column!r}: metavar {metavar!r} is not click style"
        if param.param_type_name == "argument":
            assert metavar in usage, usage
