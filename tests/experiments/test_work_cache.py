"""Work folders notice changed inputs: data fingerprints, stale datasets and runs set aside and made again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from blurkit.baselines.baseline_train import train_baseline
from blurkit.data.datasets import resolve_pairs
from blurkit.data.pairs import pair_folder, pairs_sha256
from blurkit.errors import BlurkitError, StaleError
from blurkit.experiments.baseline_report import combine_folders, ensure_baseline
from blurkit.experiments.work_cache import rebuilt, run_is_stale, set_aside
from blurkit.space.train import train
from imagegen import rand_rgb, save_png, synthetic_pairs

pytestmark = pytest.mark.usefixtures("one_thread")


def _folder(root: Path, n: int, seed: int, size: int = 16) -> Path:
    for i in range(n):
        save_png(root / "sharp" / f"{i:03d}.png", rand_rgb(size, size, seed=seed + i))
        save_png(root / "blur" / f"{i:03d}.png", rand_rgb(size, size, seed=seed + 100 + i))
    return root


@pytest.fixture
def pair_dir(tmp_path: Path) -> Path:
    return synthetic_pairs(tmp_path, "gopro-like", 6, 64)


def test_pairs_fingerprint_follows_bytes_and_links(tmp_path: Path) -> None:
    a = _folder(tmp_path / "a", 3, 0)
    pairs = pair_folder(a)
    before = pairs_sha256(pairs)
    assert pairs_sha256(pair_folder(a)) == before  # stable
    assert pairs_sha256(pairs[:2]) != before
    linked = combine_folders({"p": a}, tmp_path / "links")
    link_sha = pairs_sha256(resolve_pairs(linked))
    save_png(a / "blur" / "001.png", rand_rgb(16, 16, seed=999))  # the same name, other pixels
    assert pairs_sha256(pair_folder(a)) != before
    assert pairs_sha256(resolve_pairs(linked)) != link_sha  # links are followed


def test_set_aside_replaces_an_older_stale_copy(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    (run / "x").mkdir(parents=True)
    set_aside(run, "first")
    run.mkdir()
    (run / "y").write_text("new")
    aside = set_aside(run, "second")
    assert aside == tmp_path / "run.stale" and not run.exists()
    assert [p.name for p in aside.iterdir()] == ["y"]
    assert "second" in capsys.readouterr().err


def test_rebuilt_retries_once_after_setting_a_stale_folder_aside(tmp_path: Path) -> None:
    out = tmp_path / "data"
    out.mkdir()
    calls = []

    def make() -> Path:
        calls.append(out.exists())
        if len(calls) == 1:
            raise StaleError("made by another model")
        return out

    assert rebuilt(make, out) == out and calls == [True, False]
    assert (tmp_path / "data.stale").is_dir()
    with pytest.raises(BlurkitError, match="other"):  # any other error goes through untouched
        rebuilt(lambda: (_ for _ in ()).throw(BlurkitError("other")), out)


def test_run_is_stale_by_fingerprint_or_by_file_times(tmp_path: Path) -> None:
    pairs = pair_folder(_folder(tmp_path / "a", 2, 0))
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"x")
    assert not run_is_stale(ckpt, pairs_sha256(pairs), pairs)
    assert run_is_stale(ckpt, "0" * 64, pairs)
    past = ckpt.stat().st_mtime - 100
    os.utime(ckpt, (past, past))  # an old run without a fingerprint: its data is newer than it
    assert run_is_stale(ckpt, None, pairs)
    os.utime(ckpt, (past + 1000, past + 1000))
    assert not run_is_stale(ckpt, None, pairs)


def test_combine_folders_drops_links_of_removed_files(tmp_path: Path) -> None:
    a = _folder(tmp_path / "a", 3, 0)
    out = combine_folders({"m": a}, tmp_path / "both")
    for sub in ("sharp", "blur"):
        (a / sub / "002.png").unlink()
    combine_folders({"m": a}, out)
    assert [s.name for s, _ in resolve_pairs(out)] == ["m-000.png", "m-001.png"]


def test_kernel_space_resume_refuses_changed_data(pair_dir: Path, tmp_path: Path) -> None:
    train("smoke", pair_dir, tmp_path / "run", steps=4, stop_after=2, progress=False)
    save_png(pair_dir / "blur" / "00000.png", rand_rgb(64, 64, seed=5))
    with pytest.raises(StaleError, match="training data changed"):
        train("smoke", pair_dir, tmp_path / "run", steps=4, resume=True, progress=False)


def test_ensure_baseline_reuses_a_finished_run_and_retrains_on_changed_data(pair_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "srn"
    ensure_baseline("srn", "smoke", pair_dir, run, progress=False)
    first = torch.load(run / "model.pt", weights_only=True)["provenance"]["created"]
    stamp = (run / "model.pt").stat().st_mtime_ns
    ensure_baseline("srn", "smoke", pair_dir, run, progress=False)  # finished, same data: reused
    assert (run / "model.pt").stat().st_mtime_ns == stamp
    save_png(pair_dir / "blur" / "00001.png", rand_rgb(64, 64, seed=6))
    ensure_baseline("srn", "smoke", pair_dir, run, progress=False)  # the data changed: trained again
    assert (tmp_path / "srn.stale" / "model.pt").is_file()
    assert torch.load(tmp_path / "srn.stale" / "model.pt", weights_only=True)["provenance"]["created"] == first
    assert (run / "model.pt").stat().st_mtime_ns != stamp


def test_a_begun_baseline_run_on_changed_data_is_refused_then_set_aside(pair_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "srn"
    train_baseline("srn", "smoke", pair_dir, run, steps=4, stop_after=2, progress=False)
    save_png(pair_dir / "blur" / "00002.png", rand_rgb(64, 64, seed=7))
    with pytest.raises(StaleError):
        train_baseline("srn", "smoke", pair_dir, run, steps=4, resume=True, progress=False)
    ensure_baseline("srn", "smoke", pair_dir, run, progress=False)
    assert (run / "model.pt").is_file() and (tmp_path / "srn.stale" / "last.pt").is_file()


def test_ensure_baseline_retrains_a_run_made_by_other_code(pair_dir: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from blurkit.baselines import baseline_train as bt
    from blurkit.experiments import baseline_report as br

    run = tmp_path / "srn"
    ensure_baseline("srn", "smoke", pair_dir, run, progress=False)
    assert bt.run_code_sha256(torch.load(run / "model.pt", weights_only=True)) == bt.code_sha256("srn")
    stamp = (run / "model.pt").stat().st_mtime_ns
    ensure_baseline("srn", "smoke", pair_dir, run, progress=False)  # same code and data: reused
    assert (run / "model.pt").stat().st_mtime_ns == stamp
    edited = bt.code_sha256("srn")[::-1]  # as if srn.py had been edited since the run
    monkeypatch.setattr(bt, "code_sha256", lambda model: edited)
    monkeypatch.setattr(br, "code_sha256", lambda model: edited)
    ensure_baseline("srn", "smoke", pair_dir, run, progress=False)
    assert (tmp_path / "srn.stale" / "model.pt").is_file()
    assert bt.run_code_sha256(torch.load(run / "model.pt", weights_only=True)) == edited


def test_code_fingerprint_follows_the_network_source() -> None:
    from blurkit.baselines.baseline_train import code_sha256

    assert code_sha256("srn") != code_sha256("deblurganv2")
    assert code_sha256("srn") == code_sha256("srn")


def test_code_fingerprint_ignores_documentation_not_code() -> None:
    from blurkit.baselines.baseline_train import code_fingerprint

    src = 'def f(x):\n    """Doc."""\n    return x + 1  # one\n\n\nclass A:\n    """Doc."""\n\n    k = 2\n'
    reworded = ('"""Module doc."""\n\n# a comment\ndef f(x):\n    """Other words."""\n'
                '    return (x +\n            1)\n\n\nclass A:\n    """More."""\n    k = 2\n')
    assert code_fingerprint(src) == code_fingerprint(reworded)
    assert code_fingerprint(src) != code_fingerprint(src.replace("x + 1", "x + 2"))
    assert code_fingerprint(src) != code_fingerprint(src.replace("k = 2", "k = 3"))
    only_doc = 'def g():\n    """Doc."""\n'  # a body of a docstring alone stays valid
    assert code_fingerprint(only_doc) != code_fingerprint('def g():\n    return 1\n')
