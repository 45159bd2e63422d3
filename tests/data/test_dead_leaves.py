"""Dead-leaves images: determinism, shapes, the r^-3 radius law, bad input, the folder and its use by `data synth`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from blurkit.cli import main
from blurkit.data import dead_leaves as dl
from blurkit.data.default_data import folder_sources, synth_folder
from blurkit.data.images import read_image
from blurkit.errors import BlurkitError

PLAIN = dl.LeafConfig(shading=0.0, stripe_prob=0.0)  # flat leaves: every pixel is a mix of palette colours


def test_same_seed_same_image_and_shapes() -> None:
    a = dl.dead_leaves(32, dl.leaf_rng(3, 0))
    b = dl.dead_leaves(32, dl.leaf_rng(3, 0))
    c = dl.dead_leaves(32, dl.leaf_rng(3, 1))
    assert a.shape == (32, 32, 3) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= 0.0 and a.max() <= 1.0


def test_one_colour_palette_covers_every_pixel() -> None:
    colour = np.array([[0.2, 0.5, 0.7]], np.float32)
    img = dl.dead_leaves(24, dl.leaf_rng(0, 0), PLAIN, palette=colour)
    np.testing.assert_array_equal(img, np.broadcast_to(colour[0], img.shape))


def test_two_colour_palette_gives_edges_between_them() -> None:
    black_white = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], np.float32)
    img = dl.dead_leaves(64, dl.leaf_rng(0, 0), PLAIN, palette=black_white)
    assert np.array_equal(img[..., 0], img[..., 2])  # grey: only the palette's colours are mixed
    pure = np.isin(img[..., 0], (0.0, 1.0)).mean()
    assert 0.5 < pure < 1.0  # mostly flat leaves, with anti-aliased (mixed) pixels on their edges
    assert 0.1 < img.mean() < 0.9


def test_radii_follow_the_power_law() -> None:
    rng = np.random.default_rng(0)
    r_min, r_max = 1.0, 50.0
    radii = np.array([dl._radius(rng, r_min, r_max) for _ in range(4000)])
    cdf = lambda r: (r_min ** -2 - np.asarray(r) ** -2) / (r_min ** -2 - r_max ** -2)  # noqa: E731
    assert radii.min() >= r_min and radii.max() <= r_max
    assert stats.kstest(radii, cdf).pvalue > 0.01
    assert stats.kstest(rng.uniform(r_min, r_max, 4000), cdf).pvalue < 1e-6  # the test tells a wrong law apart


def test_photo_palette_draws_photo_colours() -> None:
    red = np.zeros((8, 8, 3), np.float32)
    red[..., 0] = 1.0
    pal = dl.photo_palette([red, np.ones((4, 6, 3), np.float32)], 10, np.random.default_rng(0))
    assert pal.shape == (10, 3)
    assert {tuple(c) for c in pal} == {(1.0, 0.0, 0.0), (1.0, 1.0, 1.0)}


@pytest.mark.parametrize("call, message", [
    (lambda: dl.dead_leaves(8, dl.leaf_rng(0, 0)), "size must be an integer >= 16"),
    (lambda: dl.dead_leaves(32, dl.leaf_rng(0, 0), palette=np.zeros((3, 4))), "palette must have shape (K, 3)"),
    (lambda: dl.LeafConfig(r_min=5.0, r_max=2.0), "need 0 < r_min < r_max"),
    (lambda: dl.LeafConfig(stripe_prob=2.0), "stripe_prob must lie in [0, 1]"),
    (lambda: dl.photo_palette([], 4, np.random.default_rng(0)), "at least one photo"),
])
def test_bad_input_is_one_line(call, message: str) -> None:
    with pytest.raises(BlurkitError) as exc:
        call()
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_folder_is_whole_and_feeds_synthesis(tmp_path: Path) -> None:
    out = dl.write_dead_leaves(tmp_path / "leaves", 3, 48, seed=1, progress=False)
    files = sorted((out / "sharp").iterdir())
    assert [f.name for f in files] == ["00000.png", "00001.png", "00002.png"]
    np.testing.assert_allclose(read_image(files[1]), dl.dead_leaves(48, dl.leaf_rng(1, 1)), atol=0.5 / 255 + 1e-6)
    record = json.loads((out / "provenance.json").read_text())
    assert record["seed"] == 1 and record["config"]["n"] == 3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    with pytest.raises(BlurkitError, match="already exists"):
        dl.write_dead_leaves(out, 1, 48, progress=False)
    pairs = synth_folder("reds-like", 2, 32, 0, tmp_path / "pairs", sources=folder_sources(out / "sharp"),
                         progress=False)
    assert len(list((pairs / "blur").iterdir())) == 2


def test_crash_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(dl, "write_image", boom)
    with pytest.raises(RuntimeError):
        dl.write_dead_leaves(tmp_path / "leaves", 2, 32, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "dead-leaves", "--n", "2", "--size", "32", "--palette", "uniform",
                 "-o", str(tmp_path / "a")]) == 0
    assert len(list((tmp_path / "a" / "sharp").iterdir())) == 2
    capsys.readouterr()
    assert main(["data", "dead-leaves", "--n", "1", "--palette", "neon", "-o", str(tmp_path / "b")]) != 0
    err = capsys.readouterr().err
    assert "--palette must be 'photos' or 'uniform'" in err and err.strip().count("\n") == 0

