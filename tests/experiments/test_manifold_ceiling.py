"""The manifold ceiling: projecting sharp images onto a generator (kernel prior ``none``) and its paired verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from blurkit.data.images import write_image
from blurkit.deblur.generator_prior import deblur_generator, gaussian_fit, generator_prior_config, project_to_sphere_
from blurkit.errors import BlurkitError, ImageSizeError
from blurkit.experiments.manifold_ceiling import ceiling_summary, manifold_ceiling, projection_rows
from blurkit.generator.stylegan2 import StyleGAN2Generator, generator_preset, to_unit
from blurkit.space.losses import psnr

pytestmark = pytest.mark.usefixtures("one_thread")
SMOKE = generator_prior_config("smoke")


@pytest.fixture(scope="module")
def gen() -> StyleGAN2Generator:
    torch.manual_seed(0)
    return StyleGAN2Generator(generator_preset("smoke")).eval()  # 32 px


def _on_manifold(gen: StyleGAN2Generator, seed: int) -> torch.Tensor:
    fit = gaussian_fit(gen, SMOKE.fit_samples, SMOKE.fit_seed)
    v = project_to_sphere_(torch.randn(1, gen.n_latent, gen.style_dim, generator=torch.Generator().manual_seed(seed)),
                           [2])
    with torch.no_grad():
        return to_unit(gen.synthesis_from_wplus(fit.to_wplus(v))).clamp(0, 1)


def _folder(tmp_path, images: list[torch.Tensor]):  # type: ignore[no-untyped-def]
    tmp_path.mkdir(exist_ok=True)
    for i, x in enumerate(images):
        blurry = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
        for sub, img in (("sharp", x), ("blur", blurry)):
            (tmp_path / sub).mkdir(exist_ok=True)
            write_image(tmp_path / sub / f"{i:03d}.png", img[0].permute(1, 2, 0).numpy())
    return tmp_path


def test_identity_prior_fits_the_image_itself(gen) -> None:  # type: ignore[no-untyped-def]
    x = _on_manifold(gen, 3)
    cfg = SMOKE.replace(kernel_prior="none", steps=40, guard=False)
    res = deblur_generator(None, gen, x, cfg, seed=1, progress=False, reference=x)
    solve = res.trace[res.trace.phase == "solve"]
    assert res.k.shape == (1, 0) and res.guard == [None]
    # the search moves towards x: its final fit is closer to x than where it started
    assert float(psnr(res.x, x)) > float(solve.psnr.iloc[0]) + 1.0


def test_projection_rows_and_files(gen, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = _folder(tmp_path / "pairs", [_on_manifold(gen, s) for s in (3, 4, 5)])
    out = manifold_ceiling(gen, folder, tmp_path / "res", n=2, config="smoke", name="ceil", progress=False)
    rows = pd.read_csv(tmp_path / "res" / "ceil_per_image.csv")
    assert rows.image.tolist() == [0, 1] and np.isfinite(rows.projection_psnr).all()
    assert (rows.blurry_psnr < 60).all()  # the 3 px box blur changed the images
    assert (tmp_path / "res" / "ceil.meta.json").is_file() and len(out) == 1 and out.over_blurry_n.item() == 2
    again = projection_rows(gen, [(folder / "sharp" / "000.png", folder / "blur" / "000.png")], "smoke",
                            progress=False)
    # seeded: the same fit again (the CSV keeps 3 decimals)
    assert again.projection_psnr.item() == pytest.approx(rows.projection_psnr.iloc[0], abs=5e-4)


def test_projection_needs_pairs_of_the_generator_size(gen, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BlurkitError, match="empty"):
        projection_rows(gen, [], "smoke", progress=False)
    folder = _folder(tmp_path, [torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0))])
    pairs = [(folder / "sharp" / "000.png", folder / "blur" / "000.png")]
    with pytest.raises(ImageSizeError):
        projection_rows(gen, pairs, "smoke", progress=False)


def test_ceiling_summary_verdicts() -> None:
    blurry = np.array([20.0, 22.0, 19.0, 25.0, 21.0, 23.0])
    spread = np.array([0.3, -0.2, 0.1, 0.0, -0.3, 0.1])
    below = pd.DataFrame({"projection_psnr": blurry - 2 + spread, "blurry_psnr": blurry})
    s = ceiling_summary(below).iloc[0]
    assert s.over_blurry_verdict == "fails" and s.over_target_verdict == "fails"
    assert s.over_blurry_diff_db == pytest.approx(-2 + spread.mean(), abs=1e-3)
    above = below.assign(projection_psnr=blurry + 5 + spread)
    s = ceiling_summary(above).iloc[0]
    assert s.over_blurry_verdict == "holds" and s.over_target_verdict == "holds"
    between = below.assign(projection_psnr=blurry + 1 + spread)
    s = ceiling_summary(between).iloc[0]
    assert s.over_blurry_verdict == "holds" and s.over_target_verdict == "fails"
    with pytest.raises(BlurkitError, match="at least 2"):
        ceiling_summary(below.iloc[:1])


def test_cli_ceiling(gen, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from blurkit.cli import app
    from blurkit.generator.checkpoints import save_generator

    save_generator(gen, tmp_path / "g.pt", {})
    folder = _folder(tmp_path / "pairs", [_on_manifold(gen, s) for s in (3, 4)])
    res = CliRunner().invoke(app, ["gan", "ceiling", "-g", str(tmp_path / "g.pt"), "--data", str(folder),
                                   "--results-dir", str(tmp_path / "res"), "--config", "smoke", "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert "projection" in res.output and "(n 2)" in res.output
    assert (tmp_path / "res" / "manifold_ceiling.csv").is_file()
    bad = CliRunner().invoke(app, ["gan", "ceiling", "-g", str(tmp_path / "g.pt"), "--data", str(tmp_path / "nope"),
                                   "--results-dir", str(tmp_path / "res")])
    assert bad.exit_code != 0 and "not a paired folder" in str(bad.output) + str(bad.exception)
