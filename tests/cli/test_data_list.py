"""``blurkit data list``: an aligned table, status coloured on a terminal and plain in a pipe."""

from __future__ import annotations

import sys

import pytest

from blurkit.cli import main


def test_plain_in_a_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "status", "path", "detail"] and lines[0].startswith("name")  # left-aligned
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert all("\x1b[" not in line for line in lines)
    gopro = next(line for line in lines if line.startswith("gopro "))
    assert gopro.index("missing") == lines[0].index("status")  # columns line up


def test_coloured_on_a_terminal(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "\x1b[33mmissing\x1b[0m" in out  # yellow
