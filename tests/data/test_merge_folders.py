"""Merging synthetic paired folders: links, one manifest, every pair's blur record kept; unlike sets refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blurkit.cli import main
from blurkit.data import dead_leaves as dl
from blurkit.data.datasets import resolve_pairs
from blurkit.data.default_data import folder_sources, synth_folder
from blurkit.data.images import read_image
from blurkit.data.true_kernels import folder_kernels


def test_merge_keeps_blur_records(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    leaves = dl.write_dead_leaves(tmp_path / "leaves", 2, 48, seed=0, progress=False)
    src = folder_sources(leaves / "sharp")
    a = synth_folder("reds-like", 2, 32, 0, tmp_path / "a", sources=src, progress=False)
    b = synth_folder("reds-like", 3, 32, 1, tmp_path / "b", sources=src, progress=False)
    assert main(["data", "merge", str(a), str(b), "-o", str(tmp_path / "m")]) == 0
    merged = resolve_pairs(tmp_path / "m")
    assert [p[0].name for p in merged] == ["00_00000.png", "00_00001.png", "01_00000.png", "01_00001.png",
                                           "01_00002.png"]
    assert read_image(merged[3][1]).tobytes() == read_image(b / "blur" / "00001.png").tobytes()
    kernels = folder_kernels(merged, 32, 32, 15)
    expect = folder_kernels(resolve_pairs(b), 32, 32, 15)[1]
    assert np.array_equal(kernels[3].numpy(), expect.numpy())
    capsys.readouterr()
    gopro = synth_folder("gopro-like", 1, 32, 0, tmp_path / "g", sources=src, progress=False)
    assert main(["data", "merge", str(a), str(gopro), "-o", str(tmp_path / "m2")]) != 0
    err = capsys.readouterr().err
    assert "only like sets merge" in err and err.strip().count("\n") == 0
    assert not (tmp_path / "m2").exists()
    assert main(["data", "merge", str(a), str(tmp_path / "leaves"), "-o", str(tmp_path / "m3")]) != 0
    assert "not a synthetic paired folder" in capsys.readouterr().err
