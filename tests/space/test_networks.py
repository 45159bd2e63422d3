"""The kernel-space networks F and G (kornia-style test classes: smoke, exception, cardinality, gradcheck, ...)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from blurkit.errors import BlurkitError, UnknownNameError
from blurkit.provenance import provenance
from blurkit.space import kernel_space as ks_mod
from blurkit.space.blocks import (
    DOWNSCALE,
    PostprocessBlock,
    PreprocessBlock,
    ResBlock,
    crop_to,
    kernel_size_for,
    pad_to_multiple,
)
from blurkit.space.extractor import KernelExtractor
from blurkit.space.kernel_space import KernelSpace, resize_kernel
from blurkit.space.netconfig import NET_PRESETS, KernelSpaceConfig, net_preset
from blurkit.space.operator import BlurOperator
from tests.tolerances import float64_copy, ulp_tol

SMOKE = NET_PRESETS["smoke"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(preset: str = "smoke", seed: int = 0) -> KernelSpace:
    torch.manual_seed(seed)
    return KernelSpace(preset)


def _pair(b: int, h: int, w: int, seed: int = 1, c: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, h, w, generator=g), torch.rand(b, c, h, w, generator=g)


# Parameter counts of the paper's networks, by hand from supplement Tables 1-4.
# conv(i, o, s) = i*o*s*s + o;  ResBlock(c) = 2 * conv(c, c, 3);  TransConv(i, o, 3) = i*o*9 + o.
_RES64 = 2 * (64 * 64 * 9 + 64)  # 73_856
_PRB = (3 * 64 * 9 + 64) + 2 * (64 * 64 * 9 + 64) + 10 * _RES64  # Table 1: 814_208
_POB = 20 * _RES64 + 2 * (64 * 256 * 9 + 256) + (64 * 64 * 9 + 64) + (64 * 3 * 9 + 3)  # Table 2: 1_811_203
PAPER_G = (
    2 * _PRB  # separate PrBs for x and y
    + (128 * 64 * 49 + 64)  # Conv(128, 64, 7)
    + (64 * 128 * 9 + 128) + (128 * 256 * 9 + 256) + (256 * 512 * 9 + 512) + 2 * (512 * 512 * 9 + 512)
    + 4 * 2 * (512 * 512 * 9 + 512)  # ResBlock(512) x 4
)  # Table 3
PAPER_F = (
    _PRB
    + (64 * 64 * 9 + 64) + (64 * 128 * 9 + 128) + (128 * 256 * 9 + 256) + (256 * 512 * 9 + 512) + (512 * 512 * 9 + 512)
    + (1024 * 512 * 9 + 512) + (1024 * 256 * 9 + 256) + (512 * 128 * 9 + 128)
    + (256 * 64 * 9 + 64) + (128 * 64 * 9 + 64)
    + _POB
)  # Table 4


class TestNetConfig:
    def test_presets_round_trip(self) -> None:
        for name, cfg in NET_PRESETS.items():
            d = json.loads(json.dumps(cfg.to_dict()))
            assert KernelSpaceConfig.from_dict(d) == cfg
            assert net_preset(name) is cfg
        assert NET_PRESETS["paper"] == KernelSpaceConfig()  # the defaults are the paper's

    def test_exception(self) -> None:
        with pytest.raises(ValueError, match=r"g_widths\[-1\] \(64\) must equal kdim \(32\)"):
            KernelSpaceConfig(nf=8, kdim=32, f_widths=(8,) * 5, g_widths=(8, 8, 8, 8, 64))
        with pytest.raises(ValueError, match="f_widths must list 5"):
            KernelSpaceConfig(nf=8, kdim=8, f_widths=(8,) * 4, g_widths=(8,) * 5)
        with pytest.raises(ValueError, match="nf must be an integer >= 1"):
            KernelSpaceConfig(nf=0, kdim=8, f_widths=(8,) * 5, g_widths=(8,) * 5)
        with pytest.raises(ValueError, match="unknown keys"):
            KernelSpaceConfig.from_dict({**SMOKE.to_dict(), "dropout": 0.1})
        with pytest.raises(UnknownNameError, match="huge"):
            net_preset("huge")


class TestBlocks:
    def test_resblock_is_identity_plus_branch(self) -> None:
        torch.manual_seed(0)
        block = ResBlock(4)
        x = torch.randn(2, 4, 8, 8)
        branch = block.conv2(torch.nn.functional.leaky_relu(block.conv1(x), 0.1))
        torch.testing.assert_close(block(x), x + branch)
        assert branch.abs().max() > 0

    def test_cardinality(self) -> None:
        x = torch.rand(2, 3, 32, 48)
        f = PreprocessBlock(8, 1)(x)
        assert f.shape == (2, 8, 8, 12)
        assert PostprocessBlock(8, 1)(f).shape == (2, 3, 32, 48)

    @pytest.mark.parametrize("size", [(1, 1), (13, 37), (128, 128), (200, 64)])
    def test_pad_and_crop(self, size: tuple[int, int]) -> None:
        h, w = size
        x = torch.rand(1, 2, h, w)
        p, orig = pad_to_multiple(x)
        assert orig == (h, w)
        assert p.shape[-2:] == (DOWNSCALE * math.ceil(h / 128), DOWNSCALE * math.ceil(w / 128))
        torch.testing.assert_close(crop_to(p, orig), x, rtol=0, atol=0)

    def test_pad_modes(self) -> None:
        x = torch.rand(1, 1, 13, 37)  # pads of 115 and 91 px exceed the image: replicate repeats the edge
        p, _ = pad_to_multiple(x)
        torch.testing.assert_close(p[..., 13:, :37], x[..., 12:13, :].expand(-1, -1, 115, -1))
        torch.testing.assert_close(p[..., :13, 37:], x[..., :, 36:37].expand(-1, -1, -1, 91))
        x = torch.rand(1, 1, 200, 64)  # height pad 56 < 200 reflects; width pad 64 == 64 replicates
        p, _ = pad_to_multiple(x)
        torch.testing.assert_close(p[..., 200, :64], x[..., 198, :])
        torch.testing.assert_close(p[..., :200, 127], x[..., :, 63])
        assert torch.all(pad_to_multiple(torch.full((1, 3, 1, 1), 0.3))[0] == 0.3)

    def test_exception(self) -> None:
        with pytest.raises(ValueError, match="4-D"):
            pad_to_multiple(torch.rand(3, 8, 8))
        with pytest.raises(ValueError, match="larger"):
            crop_to(torch.rand(1, 1, 8, 8), (9, 8))


class TestBlurOperator:
    @pytest.mark.parametrize("preset", ["smoke", "cpu"])
    def test_smoke(self, preset: str) -> None:
        ks = _model(preset)
        x, y = _pair(2, 32, 32)
        out = ks(x, y)
        assert out.shape == x.shape and torch.isfinite(out).all()

    def test_paper_preset(self) -> None:
        ks = _model("paper")
        assert ks.num_parameters("G") == PAPER_G  # exact: one missing ResBlock(64) would be 73_856 short
        assert ks.num_parameters("F") == PAPER_F
        assert ks.num_parameters() == ks.num_parameters("F") + ks.num_parameters("G")
        assert PAPER_F + PAPER_G == 41_638_403  # the hand count itself
        with torch.no_grad():
            x, y = _pair(1, 32, 32)
            k = ks.encode(x, y)
            out = ks.apply(x, k)
        assert k.shape == (1, 512, 1, 1) and out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()

    def test_exception(self) -> None:
        F = BlurOperator(SMOKE)
        x = torch.rand(2, 3, 130, 40)  # needs k (B, 16, 2, 1)
        with pytest.raises(ValueError, match=re.escape("(2, 16, 1, 1)") + ".*" + re.escape("(2, 3, 130, 40)")):
            F(x, torch.zeros(2, 16, 1, 1))
        with pytest.raises(ValueError, match=re.escape("(2, 8, 2, 1)")):
            F(x, torch.zeros(2, 8, 2, 1))  # wrong kdim
        with pytest.raises(ValueError, match="does not fit"):
            F(x, torch.zeros(16, 2, 1))  # 3-D k
        with pytest.raises(ValueError, match="does not fit"):
            F(x, torch.zeros(3, 16, 2, 1))  # batch 3 for 2 images
        with pytest.raises(ValueError, match="1 or 3 channels"):
            F(torch.rand(1, 4, 16, 16), torch.zeros(1, 16, 1, 1))
        with pytest.raises(ValueError, match="4-D"):
            F(torch.rand(3, 16, 16), torch.zeros(1, 16, 1, 1))
        F(x, torch.zeros(2, 16, 2, 1))  # the right shape works ...
        F(x, torch.zeros(1, 16, 2, 1))  # ... and a batch of one kernel is shared

    @pytest.mark.parametrize("size", [(1, 1), (13, 37), (130, 129), (200, 64)])
    def test_cardinality(self, size: tuple[int, int]) -> None:
        ks = _model()
        x, y = _pair(1, *size)
        with torch.no_grad():
            k = ks.encode(x, y)
            out = ks.apply(x, k)
        assert k.shape == (1, SMOKE.kdim, math.ceil(size[0] / 128), math.ceil(size[1] / 128))
        assert k.shape[-2:] == kernel_size_for(*size)
        assert out.shape == x.shape

    def test_grayscale(self) -> None:
        ks = _model()
        x, y = _pair(2, 20, 24, c=1)
        x3, y3 = x.expand(-1, 3, -1, -1), y.expand(-1, 3, -1, -1)
        with torch.no_grad():
            k = ks.encode(x, y)
            torch.testing.assert_close(k, ks.encode(x3, y3))
            out = ks.apply(x, k)
            assert out.shape == (2, 1, 20, 24)
            torch.testing.assert_close(out, ks.apply(x3, k).mean(dim=1, keepdim=True))

    def test_output_is_x_plus_small_residual(self) -> None:
        # Documented choice: the last conv starts scaled by RESIDUAL_INIT_SCALE, so a fresh F is close to x.
        ks = _model("smoke-residual")
        x, y = _pair(2, 32, 32)
        with torch.no_grad():
            k = ks.encode(x, y)
            out, r = ks.apply(x, k), ks.F.residual(x, k)
        torch.testing.assert_close(out, x + r)
        assert 0 < r.abs().mean() < 1e-2

    def test_kernel_and_batch(self) -> None:
        ks = _model()
        x, y = _pair(2, 32, 32)
        with torch.no_grad():
            k = ks.encode(x, y)
            out = ks.apply(x, k)
            assert (ks.apply(x, k + 1.0) - out).abs().max() > 1e-3  # k conditions F (measured 0.015)
            assert (k[0] - k[1]).abs().max() > 0  # different pairs, different kernels
        # No mixing across the batch, compared in float64 (tests/tolerances.py): in float32 a batch of 1 and of 2 may
        # take different convolution algorithms (6e-7 apart on this CPU); in float64 they agree to ~1e-15, and a
        # float32 ulp of the output scale stays far below what mixing two images would change.
        ks64, x64, y64 = float64_copy(ks), x.double(), y.double()
        with torch.no_grad():
            k64 = ks64.encode(x64, y64)
            out64 = ks64.apply(x64, k64)
            for i in range(2):
                one = slice(i, i + 1)
                torch.testing.assert_close(ks64.apply(x64[one], k64[one]), out64[one], atol=ulp_tol(out64), rtol=0)
                torch.testing.assert_close(ks64.encode(x64[one], y64[one]), k64[one], atol=ulp_tol(k64), rtol=0)

    def test_gradients(self) -> None:
        ks = _model()
        x, y = _pair(2, 32, 32)
        loss = (ks(x, y) - y).abs().mean()
        loss.backward()
        for name, p in ks.named_parameters():
            assert p.grad is not None, name
            assert torch.isfinite(p.grad).all(), name
            assert p.grad.abs().max() > 0, name

    def test_gradcheck(self) -> None:
        cfg = KernelSpaceConfig(
            nf=4, kdim=4, f_widths=(4,) * 5, g_widths=(4,) * 5, n_res_pre=1, n_res_post=1, n_res_g=1
        )
        torch.manual_seed(0)
        F = BlurOperator(cfg).double()
        x = torch.rand(1, 3, 2, 2, dtype=torch.float64, requires_grad=True)
        k = torch.randn(1, 4, 1, 1, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(F, (x, k), eps=1e-6, atol=1e-5)

    def test_determinism(self) -> None:
        x, y = _pair(2, 24, 24)
        with torch.no_grad():
            a, b, c = _model(seed=3)(x, y), _model(seed=3)(x, y), _model(seed=4)(x, y)
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert (a - c).abs().max() > 0


class TestKernelExtractor:
    def test_exception(self) -> None:
        G = KernelExtractor(SMOKE)
        with pytest.raises(ValueError, match=re.escape("(1, 3, 16, 16)") + ".*" + re.escape("(1, 3, 16, 17)")):
            G(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 17))
        with pytest.raises(ValueError, match="same shape"):
            G(torch.rand(2, 3, 16, 16), torch.rand(1, 3, 16, 16))
        with pytest.raises(ValueError, match="1 or 3 channels"):
            G(torch.rand(1, 2, 16, 16), torch.rand(1, 2, 16, 16))
        with pytest.raises(ValueError, match="4-D"):
            G(torch.rand(3, 16, 16), torch.rand(3, 16, 16))

    def test_sees_both_images(self) -> None:
        torch.manual_seed(0)
        G = KernelExtractor(SMOKE)
        x, y = _pair(1, 32, 32)
        with torch.no_grad():
            k = G(x, y)
            assert (G(x, y.flip(-1)) - k).abs().max() > 0
            assert (G(x.flip(-1), y) - k).abs().max() > 0


class TestKernelSpace:
    def test_save_load_round_trip(self, tmp_path: Path) -> None:
        ks = _model()
        rec = provenance(config=ks.config, seed=0)
        path = ks.save(tmp_path / "sub" / "ks.pt", provenance=rec, extra={"step": 7})
        assert [p.name for p in path.parent.iterdir()] == ["ks.pt"]  # no temporary file left behind
        back = KernelSpace.load(path)
        assert back.config == ks.config and back.provenance == rec and back.extra == {"step": 7}
        assert not back.training
        x, y = _pair(2, 40, 40)
        with torch.no_grad():
            torch.testing.assert_close(back(x, y), ks(x, y), rtol=0, atol=0)
        loaded = KernelSpace.load(str(path))
        assert loaded.config == ks.config

    def test_load_errors(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(ks_mod, "MODELS_DIR", tmp_path / "models")
        want = r"reds-like\.pt.*blurkit train --profile cpu --data reds-like --out"
        with pytest.raises(BlurkitError, match=want) as e:
            KernelSpace.load("default")
        assert "\n" not in str(e.value)
        with pytest.raises(BlurkitError, match=re.escape(str(tmp_path / "nope.pt"))):
            KernelSpace.load(tmp_path / "nope.pt")
        bad = tmp_path / "corrupt.pt"
        bad.write_bytes(b"not a checkpoint at all")
        with pytest.raises(BlurkitError, match=re.escape(str(bad))):
            KernelSpace.load(bad)
        other = tmp_path / "other.pt"
        torch.save({"weights": torch.zeros(3)}, other)
        with pytest.raises(BlurkitError, match=re.escape(str(other))):
            KernelSpace.load(other)
        # a shipped name resolves to MODELS_DIR once the file exists
        _model().save(tmp_path / "models" / "reds-like.pt")
        assert KernelSpace.load("default").config == SMOKE

    def test_transfer_across_sizes(self) -> None:
        ks = _model()
        xs, ys = _pair(1, 64, 64, seed=2)  # k is 1x1
        xt, _ = _pair(2, 200, 140, seed=3)  # needs k 2x2
        with torch.no_grad():
            out = ks.transfer(xs, ys, xt)
            assert out.shape == xt.shape
            k = ks.encode(xs, ys)
            torch.testing.assert_close(out, ks.apply(xt, k.expand(2, -1, 2, 2)))
            xs2, ys2 = _pair(1, 256, 130, seed=4)  # k 2x2 -> target 64x64 needs 1x1 (bilinear)
            out2 = ks.transfer(xs2, ys2, xt[:1, :, :64, :64])
            k2 = ks.encode(xs2, ys2)
            torch.testing.assert_close(out2, ks.apply(xt[:1, :, :64, :64], k2.mean(dim=(-2, -1), keepdim=True)))

    def test_resize_kernel(self) -> None:
        k = torch.arange(4.0).reshape(1, 1, 2, 2)
        assert resize_kernel(k, (2, 2)) is k
        torch.testing.assert_close(resize_kernel(k[..., :1, :1] + 5, (3, 2)), torch.full((1, 1, 3, 2), 5.0))
        big = resize_kernel(k, (4, 4))
        assert big.shape == (1, 1, 4, 4) and big[0, 0, 0, 0] == 0 and big[0, 0, -1, -1] == 3
