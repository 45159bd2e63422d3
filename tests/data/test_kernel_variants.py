"""Controlled mistakes in a camera path (blurkit.data.kernel_variants) and the camera paths they start from."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from blurkit.data.kernel_variants import FIXED_VARIANTS, is_variant, path_variant, quadratic_fit, variant_kernel
from blurkit.data.kernels import rasterize
from blurkit.data.synthesis import sample_motion
from blurkit.data.domains import get_domain
from blurkit.data.true_kernels import camera_paths, camera_psfs
from blurkit.errors import UnknownNameError
from tolerances import sum_tol, ulp_tol

SIZE = 31
# rasterize splats 4 bilinear weights per sub-frame into float64 and stores float32 values summing to 1: each entry and
# the sum carry the float32 rounding of 1 plus the float64 sum of at most 4 T terms (T = 21 sub-frames)
KERNEL_EPS = ulp_tol(1.0, np.float32) + sum_tol(4 * 21, 1.0, np.float64)


def _path(b: tuple[float, float], c: tuple[float, float], t: int = 21) -> np.ndarray:
    s = np.linspace(-1, 1, t)[:, None]
    return np.asarray(b)[None] * s + np.asarray(c)[None] * s ** 2


def test_quadratic_and_line_recover_an_exact_quadratic_path() -> None:
    path = _path((4.5, -2.0), (1.5, 0.75))
    b, c = quadratic_fit(path)
    # a least-squares solve of an exactly consistent system errs by about cond(A) float64 ulps at the path's scale;
    # the normal equations square it, so allow cond(A)^2 to cover any solver
    s = np.linspace(-1, 1, len(path))
    cond = np.linalg.cond(np.stack([s, s ** 2], axis=1))
    tol = ulp_tol(path, np.float64, ulps=len(path) * cond ** 2)
    np.testing.assert_allclose(b, [4.5, -2.0], atol=tol)
    np.testing.assert_allclose(c, [1.5, 0.75], atol=tol)
    np.testing.assert_allclose(path_variant(path, "psf_quadratic"), path, atol=tol)
    np.testing.assert_allclose(path_variant(path, "psf_line"), _path((4.5, -2.0), (0, 0)), atol=tol)
    assert quadratic_fit(np.zeros((1, 2)))[0].tolist() == [0.0, 0.0]  # one sub-frame: no motion to fit


def test_centred_kernel_has_its_mass_at_the_centre() -> None:
    path = _path((3.0, 1.0), (2.0, -1.5))  # bent: its mass is off the middle sub-frame
    k = variant_kernel(path, "psf", SIZE)
    kc = variant_kernel(path, "psf_centred", SIZE)
    centre = (SIZE - 1) / 2
    assert np.hypot(*(np.array(ndimage.center_of_mass(k)) - centre)) > 0.5
    # bilinear splatting keeps the mean position, so the centred kernel's mass is at the centre up to rounding: each
    # coordinate is a sum of SIZE^2 weights times positions of at most SIZE px
    np.testing.assert_allclose(ndimage.center_of_mass(kc), (centre, centre), atol=SIZE * SIZE * KERNEL_EPS)


def test_mirror_is_the_point_reflected_kernel() -> None:
    path = _path((3.3, 1.7), (2.2, -1.1))
    np.testing.assert_allclose(variant_kernel(path, "psf_mirror", SIZE), variant_kernel(path, "psf", SIZE)[::-1, ::-1],
                               atol=KERNEL_EPS)


def test_a_quarter_turn_transposes_a_horizontal_segment() -> None:
    path = _path((5.0, 0.0), (0.0, 0.0))
    np.testing.assert_allclose(variant_kernel(path, "psf_rot90", SIZE), variant_kernel(path, "psf", SIZE).T,
                               atol=KERNEL_EPS)
    # cos and sin of -90 and 270 degrees agree to a float64 ulp, applied to a path of a few px
    np.testing.assert_allclose(path_variant(path, "psf_rot-90"), path_variant(path, "psf_rot270"),
                               atol=ulp_tol(path, np.float64, ulps=4))


def test_scale_zero_is_no_blur_and_scale_stretches() -> None:
    path = _path((4.0, 2.0), (1.0, 1.0))
    delta = np.zeros((SIZE, SIZE), np.float32)
    delta[SIZE // 2, SIZE // 2] = 1
    np.testing.assert_array_equal(variant_kernel(path, "psf_scale0", SIZE), delta)
    np.testing.assert_array_equal(path_variant(path, "psf_scale1.5"), 1.5 * path)  # the same float64 product


def test_names_and_bad_input() -> None:
    for name in (*FIXED_VARIANTS, "psf_rot10", "psf_rot-20", "psf_scale0.8"):
        assert is_variant(name)
        assert variant_kernel(_path((2.0, 1.0), (0.5, 0.5)), name, SIZE).sum() == pytest.approx(1, abs=KERNEL_EPS)
    for name in ("psf_", "psf_rot", "psf_scale", "psf_flip", "cells_32", "psfmirror"):
        assert not is_variant(name)
    with pytest.raises(UnknownNameError, match="unknown kernel variant 'psf_flip'"):
        path_variant(_path((1.0, 0.0), (0.0, 0.0)), "psf_flip")
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        path_variant(np.zeros((5, 3)), "psf")
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        path_variant(np.full((5, 2), np.nan), "psf")


@pytest.mark.parametrize("domain", ["reds-like", "gopro-like"])
def test_camera_paths_start_at_the_sharp_sub_frame_and_make_the_psfs(domain: str) -> None:
    motion = sample_motion(get_domain(domain), np.random.default_rng(4))
    params = {"exposure": motion.exposure, "camera": motion.camera}
    centres = np.array([[15.5, 15.5], [47.5, 15.5]])  # cells (0, 0) and (0, 1) of a 64 px crop, as (x, y)
    paths = camera_paths(params, domain, 64, centres)
    assert paths.shape == (2, get_domain(domain).n_subframes, 2)
    mid = paths.shape[1] // 2
    np.testing.assert_allclose(paths[:, mid], 0, atol=1e-9)  # no displacement at the middle (sharp) sub-frame
    psfs = camera_psfs(params, domain, 64, 32, SIZE)
    np.testing.assert_array_equal(psfs[0, 0], rasterize(-paths[0], SIZE))
    np.testing.assert_array_equal(psfs[0, 1], rasterize(-paths[1], SIZE))
