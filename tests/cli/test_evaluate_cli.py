"""``blurkit evaluate`` on the command line: the tables it prints, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from blurkit.cli import main
from blurkit.deblur.deblur_config import DEBLUR_PRESETS
from imagegen import rand_rgb, save_png


def _pairs(root: Path, n: int = 2) -> Path:
    for i in range(n):
        save_png(root / "sharp" / f"{i}.png", rand_rgb(12, 12, i))
        save_png(root / "blur" / f"{i}.png", rand_rgb(12, 12, 50 + i))
    return root


def test_evaluate_writes_the_tables_and_reports_resumed_cells(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data, out = _pairs(tmp_path / "pairs"), tmp_path / "out"
    args = ["evaluate", "--data", str(data), "--method", "identity", "-o", str(out), "--threads", "1"]
    assert main(args) == 0
    assert "2 cell(s) computed now, 2 in all" in capsys.readouterr().out
    assert main([*args, "--method", "classical"]) == 0
    assert "2 cell(s) computed now, 4 in all" in capsys.readouterr().out
    assert pd.read_csv(out / "summary.csv").method.tolist() == ["identity", "classical"]


@pytest.mark.parametrize("method, message", [
    ("sharpen", "error: unknown method 'sharpen'; choose from: identity, ours[:PRESET], selfdeblur[:PRESET], "
                "classical, srn:RUN_DIR, deblurganv2:RUN_DIR"),
    ("ours:turbo",
     "error: unknown deblur preset 'turbo' in method 'ours:turbo'; presets: " + ", ".join(DEBLUR_PRESETS)),
])
def test_an_unknown_method_is_one_line(tmp_path: Path, method: str, message: str) -> None:
    data = _pairs(tmp_path / "pairs")
    done = subprocess.run([sys.executable, "-m", "blurkit.cli", "evaluate", "--data", str(data), "--method",
                           "identity", "--method", method, "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [message]
    assert not (tmp_path / "out").exists()  # nothing computed before the methods are checked


def test_unknown_data_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["evaluate", "--data", "nowhere-set", "--method", "identity", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown dataset 'nowhere-set'")
