"""The PSF field of a code: a known uniform kernel is rendered exactly at every grid point."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from toymodels import box_blur_kernel_space

from blurkit.data.images import read_image
from blurkit.deblur.psf import point_grid, psf_field, save_psf_png
from blurkit.space.kernel_space import KernelSpace

pytestmark = pytest.mark.usefixtures("one_thread")


def test_point_grid() -> None:
    g = point_grid(64, 96, 32)
    assert g.shape == (1, 3, 64, 96) and int(g[0, 0].sum()) == 6 and g[0, 0, 16, 48] == 1


def test_uniform_kernel_is_rendered_at_every_grid_point(tmp_path: Path) -> None:
    ks = box_blur_kernel_space(5)
    k = torch.zeros(1, ks.config.kdim, 1, 1)
    field = psf_field(ks, k, (64, 96), spacing=32)
    want = np.zeros((64, 96))
    for i in range(16, 64, 32):
        for j in range(48 - 32, 96, 32):
            want[i, j - 2:j + 3] = 1.0  # the box, scaled to peak 1
    np.testing.assert_allclose(field, want, atol=1e-5)  # float32 FFT rounding of values <= 1
    save_psf_png(str(tmp_path / "psf.png"), ks, k, (64, 96))
    png = read_image(tmp_path / "psf.png", mode="gray")[..., 0]
    np.testing.assert_allclose(png, want, atol=1 / 255)


def test_paper_head_falls_back_to_f_on_points() -> None:
    torch.manual_seed(0)
    ks = KernelSpace("smoke-residual").eval()
    field = psf_field(ks, torch.zeros(1, ks.config.kdim, 1, 1), (32, 32), spacing=16)
    assert field.shape == (32, 32) and 0 <= field.min() and field.max() <= 1 and field.max() > 0
