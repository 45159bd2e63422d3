"""Images of 1 x 1, 2 x 2, 1 x N and N x 1 px are deblurred (edge-padded inside the solver), not a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from blurkit.cli import main
from blurkit.data.images import read_image, write_image
from blurkit.deblur.solver import MIN_SIDE, deblur
from blurkit.space.kernel_space import KernelSpace

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model() -> KernelSpace:
    torch.manual_seed(0)
    return KernelSpace("smoke").eval()


@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (1, 3, 2, 2), (1, 3, 1, 9), (1, 3, 9, 1), (2, 1, 1, 5)])
def test_tiny_images_keep_their_shape(model: KernelSpace, shape: tuple[int, int, int, int]) -> None:
    y = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
    res = deblur(model, y, "smoke", progress=False)
    assert res.x.shape == y.shape and torch.isfinite(res.x).all()
    assert res.k.shape[0] == shape[0] and len(res.wall_s) == shape[0]
    assert min(shape[-2:]) < MIN_SIDE


def test_cli_deblurs_a_one_pixel_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_image(tmp_path / "dot.png", np.full((1, 1, 3), 0.5))
    assert main(["deblur", str(tmp_path / "dot.png"), "-o", str(tmp_path / "out"), "--profile", "smoke"]) == 0
    assert read_image(tmp_path / "out" / "dot.png").shape == (1, 1, 3)
    assert "Traceback" not in capsys.readouterr().err
