"""The command line: --help everywhere, one-line errors for user mistakes, the data commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from blurkit.cli import main
from imagegen import rand_rgb, save_png

COMMANDS = [[], ["data"], ["data", "list"], ["data", "prepare"], ["data", "synth"], ["data", "dead-leaves"],
            ["reproduce"], ["profiles"],
            ["train"], ["transfer"], ["estimate-kernel"], ["deblur"], ["bench"], ["bench", "train"],
            ["bench", "deblur"],
            ["data", "swap"], ["data", "augment"], ["data", "motion-blur"],
            ["baseline"], ["baseline", "train"], ["baseline", "deblur"]]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_help_on_every_command(cmd: list[str], capsys: pytest.CaptureFixture) -> None:
    assert main([*cmd, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage" in out and "--help" in out


def run_error(args: list[str], capsys: pytest.CaptureFixture) -> str:
    code = main(args)
    captured = capsys.readouterr()
    assert code != 0
    assert "Traceback" not in captured.err + captured.out
    return captured.err


def test_unknown_domain_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    err = run_error(["data", "synth", "--domain", "foggy", "--n", "1", "--size", "16", "--out", str(tmp_path / "o"),
                     "--from", str(tmp_path)], capsys)
    # --from has no images: that is reported first
    assert err.startswith("error: no images found")
    save_png(tmp_path / "img" / "a.png", rand_rgb(32, 32))
    err = run_error(["data", "synth", "--domain", "foggy", "--n", "1", "--size", "16", "--out", str(tmp_path / "o"),
                     "--from", str(tmp_path / "img")], capsys)
    assert err.strip().count("\n") == 0 and "unknown domain 'foggy'" in err


def test_bad_size_and_unreadable_image(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    save_png(tmp_path / "img" / "a.png", rand_rgb(32, 32))
    err = run_error(["data", "synth", "-d", "reds-like", "--n", "1", "--size", "64", "-o", str(tmp_path / "o"),
                     "--from", str(tmp_path / "img")], capsys)
    assert "smaller than the 64 px crop" in err and "'a'" in err
    err = run_error(["data", "synth", "-d", "reds-like", "--n", "1", "--size", "4", "-o", str(tmp_path / "o"),
                     "--from", str(tmp_path / "img")], capsys)
    assert "at least 8 px" in err
    (tmp_path / "img" / "b.png").write_bytes(b"not a png")
    err = run_error(["data", "synth", "-d", "reds-like", "--n", "2", "--size", "16", "-o", str(tmp_path / "o"),
                     "--from", str(tmp_path / "img")], capsys)
    assert "cannot read image" in err and "b.png" in err


def test_unknown_notebook_and_profile(capsys: pytest.CaptureFixture) -> None:
    assert "unknown notebook 'zz'" in run_error(["reproduce", "zz"], capsys)
    assert "unknown profile 'huge'" in run_error(["reproduce", "00", "--profile", "huge"], capsys)
    assert "not KEY=VALUE" in run_error(["reproduce", "00", "-P", "threads"], capsys)


def test_notebook_params_parse_as_json_or_text() -> None:
    from blurkit.experiments.notebooks import parse_params

    assert parse_params(["threads=1", 'models={"a": null}', "name=reds-like", "x="]) == {
        "threads": 1, "models": {"a": None}, "name": "reds-like", "x": ""}


def test_missing_option_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    code = main(["data", "synth", "--n", "1"])
    assert code == 2
    assert "Missing option" in capsys.readouterr().err


def test_synth_writes_pairs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    save_png(tmp_path / "img" / "a.png", rand_rgb(40, 40))
    assert main(["data", "synth", "-d", "hide-like", "--n", "2", "--size", "24", "-o", str(tmp_path / "o"),
                 "--from", str(tmp_path / "img")]) == 0
    assert sorted(p.name for p in (tmp_path / "o" / "blur").iterdir()) == ["00000.png", "00001.png"]
    assert "wrote 2 pairs" in capsys.readouterr().out
    threads = torch.get_num_threads()
    try:  # one thread gives the same bytes as torch's default
        assert main(["data", "synth", "-d", "hide-like", "--n", "2", "--size", "24", "-o", str(tmp_path / "o1"),
                     "--from", str(tmp_path / "img"), "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    for sub in ("sharp", "blur"):
        for f in (tmp_path / "o" / sub).iterdir():
            assert f.read_bytes() == (tmp_path / "o1" / sub / f.name).read_bytes()


def test_data_list_shows_missing_real_datasets(capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("gopro", "reds", "hide", "levin", "ffhq", "celeba-hq", "photos:pip:scikit-image",
                 "default:smoke/reds-like"):
        assert name in out
    assert "missing" in out and "present" in out  # pip photos are present, real datasets are not


def test_console_script_installed() -> None:
    exe = Path(sys.executable).parent / "blurkit"
    proc = subprocess.run([str(exe), "data", "synth", "--domain", "x", "--n", "1", "--size", "16", "-o", "/tmp/x",
                           "--from", "/nonexistent-dir"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


def test_ceiling_reference_and_operator_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    err = run_error(["bench", "ceiling", "--operator", "psf_mirror", "--reference", "psf", "--out-dir",
                     str(tmp_path)], capsys)
    assert err.strip().count("\n") == 0 and "the reference operator 'psf' is neither among this run's operators" in err
    assert not any(tmp_path.iterdir())  # refused before anything is written
