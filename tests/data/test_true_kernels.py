"""True cell kernels rebuilt from a synthetic pair's recorded parameters (blurkit.data.true_kernels)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from blurkit.data.crf import CRF
from blurkit.data.domains import get_domain
from blurkit.data.kernels import convolve, eight_kernels
from blurkit.data.pairs import pair_folder
from blurkit.data.synthesis import synthesize_pair
from blurkit.data.true_kernels import (augment_kernels, camera_psfs, folder_kernels, padded_kernel, pair_kernels,
                                      recorded_params)
from blurkit.errors import BlurkitError
from imagegen import synthetic_pairs


def _texture(seed: int, size: int = 192) -> np.ndarray:
    """A smooth-plus-edges test photo (random blocks, then a light blur), so that blur is visible."""
    rng = np.random.default_rng(seed)
    img = np.kron(rng.random((size // 8, size // 8, 3)), np.ones((8, 8, 1)))
    return np.clip(img, 0, 1).astype(np.float32)


def _psnr(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)))


def test_uniform_pair_kernel_is_the_recorded_one() -> None:
    sharp, blur, params = synthesize_pair(_texture(0), "uniform-8", 64, np.random.default_rng(3))
    k = pair_kernels(params, "uniform-8", 64, 32, 31)
    assert k.shape == (2, 2, 31, 31) and np.allclose(k.sum(axis=(-2, -1)), 1, atol=1e-6)
    assert np.array_equal(k[0, 0], k[1, 1])
    again = convolve(torch.from_numpy(sharp).permute(2, 0, 1)[None], torch.from_numpy(k[0, 0]))
    # the same convolution as the synthesis, so equal up to float32 rounding of values in [0, 1]
    np.testing.assert_allclose(again[0].permute(1, 2, 0).numpy(), blur, rtol=0, atol=8 * np.finfo(np.float32).eps)


@pytest.mark.parametrize("domain", ["reds-like", "gopro-like", "hide-like"])
def test_camera_psfs_reproduce_the_rendered_blur(domain: str) -> None:
    dom = dataclasses.replace(get_domain(domain), objects=(0, 0))  # the PSF describes the camera only
    crf = CRF(dom.crf)
    for seed in range(2):
        sharp, blur, params = synthesize_pair(_texture(seed), dom, 64, np.random.default_rng(seed), noise=False)
        k = camera_psfs(params, dom, 64, 32, 31)
        assert k.shape == (2, 2, 31, 31) and np.allclose(k.sum(axis=(-2, -1)), 1, atol=1e-5) and k.min() >= 0
        x = crf.inverse(torch.from_numpy(sharp).permute(2, 0, 1)[None])
        y = crf.inverse(torch.from_numpy(blur).permute(2, 0, 1)[None])
        fit = np.mean([_psnr(convolve(x, torch.from_numpy(k[i, j]))[..., 32 * i:32 * i + 32, 32 * j:32 * j + 32],
                             y[..., 32 * i:32 * i + 32, 32 * j:32 * j + 32]) for i in range(2) for j in range(2)])
        # in the linear domain the PSFs fit the blur far better than no blur does (measured +12.9 to +21.6 dB)
        assert fit > _psnr(x, y) + 10, (domain, seed, fit, _psnr(x, y))


def test_augmented_kernels_follow_the_images() -> None:
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((1, 3, 64, 64), dtype=np.float32))
    kernels = torch.stack([torch.stack([torch.from_numpy(padded_kernel(eight_kernels()[2 * i + j], 31))
                                        for j in range(2)]) for i in range(2)])  # (2, 2, 31, 31): a cell each

    def blur(img: torch.Tensor, ks: torch.Tensor) -> torch.Tensor:  # each 32 px cell by its own kernel
        out = torch.zeros_like(img)
        for i in range(2):
            for j in range(2):
                out[..., 32 * i:32 * i + 32, 32 * j:32 * j + 32] = convolve(img, ks[i, j])[..., 32 * i:32 * i + 32,
                                                                                            32 * j:32 * j + 32]
        return out

    y = blur(x, kernels)
    for flip_h, flip_v, rot in [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1)]:
        xa, ya = x, y
        if flip_h:
            xa, ya = xa.flip(-1), ya.flip(-1)
        if flip_v:
            xa, ya = xa.flip(-2), ya.flip(-2)
        if rot:
            xa, ya = xa.rot90(1, (-2, -1)), ya.rot90(1, (-2, -1))
        got = blur(xa, augment_kernels(kernels, bool(flip_h), bool(flip_v), bool(rot)))
        torch.testing.assert_close(got, ya, rtol=0, atol=1e-5)  # float32 FFT-free sums of 961 taps of <= 1


def test_folder_kernels_read_the_manifest(tmp_path: Path) -> None:
    folder = synthetic_pairs(tmp_path, "uniform-8", 3, 64, photos=2)
    pairs = pair_folder(folder)
    ks = folder_kernels(pairs, 64, 64, 31)
    assert len(ks) == 3 and all(k.shape == (1, 1, 31, 31) for k in ks)
    with pytest.raises(BlurkitError, match="manifest"):
        folder_kernels([(tmp_path / "photos" / "p0.png", tmp_path / "photos" / "p1.png")], 64, 64, 31)
    with pytest.raises(ValueError, match="does not fit"):
        padded_kernel(eight_kernels()[3], 15)  # a 27 px kernel


def test_recorded_params_name_each_pair_and_refuse_in_one_line(tmp_path: Path) -> None:
    folder = synthetic_pairs(tmp_path, "uniform-8", 3, 64, photos=2)
    record, params = recorded_params(folder)
    assert record["size"] == 64 and sorted(params) == sorted(p[1].name for p in pair_folder(folder))
    for bad in ("", "{}", '{"pairs": [{"params": {}}]}'):  # no file, no pairs, a pair without a name
        (tmp_path / "bad").mkdir(exist_ok=True)
        (tmp_path / "bad" / "manifest.json").unlink(missing_ok=True)
        if bad:
            (tmp_path / "bad" / "manifest.json").write_text(bad)
        with pytest.raises(BlurkitError, match="recorded blur") as err:
            recorded_params(tmp_path / "bad")
        assert "\n" not in str(err.value)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["domain"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BlurkitError, match="names none"):  # the cell kernels need the domain; the params alone do not
        folder_kernels(pair_folder(folder), 64, 64, 31)
    assert recorded_params(folder)[1] == params
