"""A file that is not an image gets one line saying so, naming the file and no Python object."""

from __future__ import annotations

from pathlib import Path

import pytest

from blurkit.cli import main
from blurkit.data.images import read_image
from blurkit.errors import ImageReadError


def test_text_file_named_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "notes.png"
    fake.write_text("hello, not an image")
    with pytest.raises(ImageReadError) as err:
        read_image(fake)
    msg = str(err.value)
    assert "notes.png" in msg and "not a PNG/JPEG/TIFF/BMP/WebP image" in msg and "object at 0x" not in msg
    assert main(["deblur", str(fake), "-o", str(tmp_path / "out"), "--profile", "smoke"]) == 2
    out = capsys.readouterr().err.strip()
    assert out.count("\n") == 0 and out.startswith("error:") and "0x" not in out
