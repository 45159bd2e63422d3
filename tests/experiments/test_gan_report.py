"""The text generator's honest quality measures: readability against the vocabulary and memorisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from blurkit.cli.app import app
from blurkit.data.images import write_image
from blurkit.deblur import ocr
from blurkit.experiments import gan_report
from blurkit.experiments.gan_report import nearest_neighbour_psnr, readability, summarise
from blurkit.generator.checkpoints import save_generator
from blurkit.generator.stylegan2 import StyleGAN2Generator, generator_preset

pytestmark = pytest.mark.usefixtures("one_thread")


def test_readability_scores_the_nearest_word() -> None:
    vocab = ["garden", "river", "cat"]
    assert readability("Garden", vocab) == ("garden", 1.0)
    assert readability("rivr", vocab) == ("river", pytest.approx(0.8))
    assert readability("  ", vocab) == ("", 0.0)
    assert readability("zzzzzzzzzz", vocab)[1] == 0.0


def test_nearest_neighbour_psnr_matches_brute_force() -> None:
    g = torch.Generator().manual_seed(0)
    train = torch.rand(37, 3, 8, 8, generator=g)
    images = torch.cat([train[5:6], torch.rand(3, 3, 8, 8, generator=g)])
    psnr, idx = nearest_neighbour_psnr(images, train, chunk=10)
    mse = ((images[:, None] - train[None]) ** 2).flatten(2).mean(2)
    assert idx.tolist() == mse.argmin(1).tolist()
    expect = (-10 * torch.log10(mse.min(1).values)).numpy()
    assert idx[0] == 5 and psnr[0] >= 100  # an exact copy: mse clamped at 1e-12
    np.testing.assert_allclose(psnr[1:], expect[1:], rtol=1e-5)
    u8 = (train * 255).round().to(torch.uint8)
    assert nearest_neighbour_psnr(u8[:2].float() / 255, u8)[1].tolist() == [0, 1]


def test_summarise_gives_intervals_per_kind() -> None:
    per = pd.DataFrame({"kind": ["sample"] * 4 + ["real-test"] * 4, "readability": [0, 0.5, 1, 0.5, 1, 1, 1, 1],
                        "nn_psnr": [20, 21, 22, 23, 15, 15, 15, 15.0]})
    s = summarise(per).set_index(["kind", "measure"])
    assert s.loc[("sample", "readability"), "mean"] == 0.5 and s.loc[("sample", "readability"), "n"] == 4
    assert s.loc[("sample", "nn_psnr"), "ci_low"] <= 21.5 <= s.loc[("sample", "nn_psnr"), "ci_high"]
    assert s.loc[("real-test", "readability"), "ci_low"] == s.loc[("real-test", "readability"), "ci_high"] == 1


@pytest.mark.skipif(ocr.shutil.which("tesseract") is None, reason="tesseract-ocr not installed")
def test_report_and_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for i in range(6):
            write_image(tmp_path / "text" / split / "sharp" / f"{i:05d}.png", rng.random((32, 32, 3), dtype=np.float32))
    monkeypatch.setattr(gan_report, "text_crops_dir", lambda profile, split: tmp_path / "text" / split)
    torch.manual_seed(0)
    save_generator(StyleGAN2Generator(generator_preset("smoke")), tmp_path / "g.pt", {"note": "random weights"})
    res = CliRunner().invoke(app, ["gan", "report", "--model", str(tmp_path / "g.pt"), "--profile", "smoke",
                                   "--results-dir", str(tmp_path / "out"), "--n", "4"])
    assert res.exit_code == 0, res.output
    per = pd.read_csv(tmp_path / "out" / "gan_text_per_image.csv")
    assert per.kind.value_counts().to_dict() == {"sample": 4, "real-test": 4}
    assert "sample    readability" in res.output
    for f in ("gan_text_summary.csv", "gan_text_samples.png", "gan_text_nearest.png"):
        assert (tmp_path / "out" / f).is_file()
