"""Every command's --help: plain text, no type shown for a flag, no traceback."""

from __future__ import annotations

import click
import pytest
import typer
from typer.testing import CliRunner

from blurkit.cli import app


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


def test_every_command_group_is_walked() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"data list", "bench ladder", "baseline train", "deblur"} <= names
    deblur = dict(COMMANDS)[("deblur",)]
    assert any(getattr(p, "is_flag", False) for p in deblur.params)  # the flag check below has flags to check


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(p) or "blurkit" for p, _ in COMMANDS])
def test_help_has_no_type_on_flags(path: tuple[str, ...], cmd: click.Command) -> None:
    out = CliRunner().invoke(app, [*path, "--help"])
    assert out.exit_code == 0, out.output
    assert "<bool>" not in out.output and "Traceback" not in out.output
    flags = [p for p in cmd.params if getattr(p, "is_flag", False) and p.opts[0] != "--help"]
    for flag in flags:
        line = next(line for line in out.output.splitlines() if flag.opts[0] in line)
        assert "<" not in line.split(flag.opts[-1])[0], line  # no metavar between a flag's names
