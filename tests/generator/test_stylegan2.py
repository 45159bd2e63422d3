"""The StyleGAN2 generator and discriminator (kornia-style: smoke per preset, shapes, exceptions, gradients,
determinism, rosinality's state-dict names) and the native ops against explicit reference computations."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as Fnn

from blurkit.errors import UnknownNameError
from blurkit.generator.discriminator import StyleGAN2Discriminator
from blurkit.generator.stylegan2 import (
    GENERATOR_PRESETS,
    ModulatedConv2d,
    StyleGAN2Config,
    StyleGAN2Generator,
    from_unit,
    fused_leaky_relu,
    generator_preset,
    to_unit,
    upfirdn2d,
)
from tests.gradients import dead_parameters
from tests.tolerances import float64_copy, sum_tol, ulp_tol

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL_PRESETS = [name for name, cfg in GENERATOR_PRESETS.items() if cfg.size <= 64 and cfg.style_dim <= 128]


def tiny(size: int = 16, style_dim: int = 8, n_mlp: int = 2) -> StyleGAN2Config:
    """A config with a few channels per resolution (8 down to 4)."""
    n_res = int(math.log2(size)) - 1
    return StyleGAN2Config(size=size, style_dim=style_dim, n_mlp=n_mlp,
                           channels=tuple(max(4, 8 >> max(0, i - 2)) for i in range(n_res)))


def gen(cfg: StyleGAN2Config | str, seed: int = 0) -> StyleGAN2Generator:
    torch.manual_seed(seed)
    g = StyleGAN2Generator(cfg)
    with torch.no_grad():  # rosinality inits noise weights and biases at 0; give them values so tests see them
        for name, p in g.named_parameters():
            if name.endswith(("noise.weight", "activate.bias")) or name.endswith("bias") and "to_rgb" in name:
                p.normal_(0, 0.3)
    return g


@pytest.mark.parametrize("preset", SMALL_PRESETS)
def test_small_presets_generate_finite_images(preset: str) -> None:
    g = gen(preset)
    cfg = generator_preset(preset)
    z = g.sample_z(2, seed=0)
    img, latents = g(z, return_latents=True)
    assert img.shape == (2, 3, cfg.size, cfg.size) and bool(torch.isfinite(img).all())
    assert latents.shape == (2, cfg.n_latent, cfg.style_dim)
    logits = StyleGAN2Discriminator(preset)(img)
    assert logits.shape == (2, 1) and bool(torch.isfinite(logits).all())


def test_ffhq_256_preset_is_rosinalitys_config() -> None:
    cfg = generator_preset("ffhq-256")
    assert (cfg.size, cfg.style_dim, cfg.n_mlp, cfg.channel_multiplier, cfg.lr_mlp) == (256, 512, 8, 2, 0.01)
    assert list(cfg.widths().values()) == [512, 512, 512, 512, 512, 256, 128]
    assert cfg.n_latent == 14


@pytest.mark.parametrize("size", [16, 32, 64])
def test_output_shapes(size: int) -> None:
    g = gen(tiny(size))
    n_latent = 2 * int(math.log2(size)) - 2
    assert g.n_latent == n_latent and len(g.make_noise()) == g.num_layers == n_latent - 1
    img, latents = g([g.sample_z(3, seed=1)], return_latents=True)
    assert img.shape == (3, 3, size, size) and latents.shape == (3, n_latent, 8)
    assert g.synthesis_from_wplus(latents).shape == (3, 3, size, size)
    assert g(g.sample_z(3, seed=1))[1] is None
    assert g.get_latent(g.sample_z(3, seed=1)).shape == (3, 8)
    assert g.mean_latent(16, seed=0).shape == (1, 8)


def test_state_dict_names_follow_rosinality() -> None:
    """A 16 px generator with a 2-layer mapping, written out by hand in rosinality's order."""
    mod = ["conv.weight", "conv.modulation.weight", "conv.modulation.bias"]
    styled = [*mod, "noise.weight", "activate.bias"]
    up_styled = ["conv.weight", "conv.blur.kernel", *styled[1:]]
    expected = (
        ["style.1.weight", "style.1.bias", "style.2.weight", "style.2.bias", "input.input"]
        + [f"conv1.{k}" for k in styled] + ["to_rgb1.bias"] + [f"to_rgb1.{k}" for k in mod]
        + [f"convs.0.{k}" for k in up_styled] + [f"convs.1.{k}" for k in styled]
        + [f"convs.2.{k}" for k in up_styled] + [f"convs.3.{k}" for k in styled]
        + [f"to_rgbs.{i}.{k}" for i in (0, 1) for k in ["bias", "upsample.kernel", *mod]]
        + [f"noises.noise_{j}" for j in range(5)]
    )
    state = StyleGAN2Generator(tiny(16)).state_dict()
    assert list(state) == expected
    assert [tuple(state[f"noises.noise_{j}"].shape) for j in range(5)] == [(1, 1, r, r) for r in (4, 8, 8, 16, 16)]
    assert tuple(state["convs.0.conv.weight"].shape) == (1, 8, 8, 3, 3)
    assert tuple(state["to_rgb1.bias"].shape) == (1, 3, 1, 1) and tuple(state["conv1.noise.weight"].shape) == (1,)


def test_discriminator_names_follow_rosinality() -> None:
    names = list(StyleGAN2Discriminator(tiny(8)).state_dict())
    assert names == ["convs.0.0.weight", "convs.0.1.bias", "convs.1.conv1.0.weight", "convs.1.conv1.1.bias",
                     "convs.1.conv2.0.kernel", "convs.1.conv2.1.weight", "convs.1.conv2.2.bias",
                     "convs.1.skip.0.kernel", "convs.1.skip.1.weight", "final_conv.0.weight", "final_conv.1.bias",
                     "final_linear.0.weight", "final_linear.0.bias", "final_linear.1.weight", "final_linear.1.bias"]


def test_discriminator_takes_any_batch_and_checks_its_input() -> None:
    d = StyleGAN2Discriminator(tiny(16))
    assert d(torch.randn(3, 3, 16, 16)).shape == (3, 1)  # 3 is no multiple of the stddev group of 4
    with pytest.raises(ValueError, match=r"\(B, 3, 16, 16\)"):
        d(torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda g: g(torch.randn(2, 7)), r"z must be \(B, 8\)"),
        (lambda g: g(torch.randn(2, 6, 8)), r"z must be \(B, 8\)"),  # W+ only with input_is_latent
        (lambda g: g(torch.randn(2, 5, 8), input_is_latent=True), r"or W\+ \(B, 6, 8\)"),
        (lambda g: g([torch.randn(2, 8)] * 3), "one or two"),
        (lambda g: g([torch.randn(2, 8), torch.randn(3, 8)]), "one batch size"),
        (lambda g: g(torch.randn(2, 8), noise=[None] * 4), "5 maps"),
        (lambda g: g(torch.randn(2, 8), noise=[torch.randn(1, 1, 8, 8)] * 5), r"noise\[0\] must be"),
        (lambda g: g(torch.randn(2, 8), truncation=0.5), "truncation_latent"),
        (lambda g: g([torch.randn(2, 8)] * 2, inject_index=9), "inject_index"),
        (lambda g: g.synthesis_from_wplus(torch.randn(2, 8)), r"w_plus must be \(B, 6, 8\)"),
        (lambda g: g.get_latent(torch.randn(8)), r"z must be \(B, 8\)"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call(StyleGAN2Generator(tiny(16)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(size=48), "power of two"),
        (dict(size=4), "power of two >= 8"),
        (dict(channels=(8, 8)), "3 positive integers"),
        (dict(style_dim=0), "style_dim"),
        (dict(lr_mlp=0.0), "lr_mlp"),
        (dict(blur_kernel=(1,)), "blur_kernel"),
        (dict(size=2048), "explicit channels"),
    ],
)
def test_bad_configs_raise(kwargs: dict, match: str) -> None:
    base = dict(size=16, style_dim=8, n_mlp=1)
    with pytest.raises(ValueError, match=match):
        StyleGAN2Config(**{**base, **kwargs})


def test_config_round_trips_through_json_and_names_unknown_keys() -> None:
    for cfg in [*GENERATOR_PRESETS.values(), tiny(32)]:
        assert StyleGAN2Config.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="unknown keys"):
        StyleGAN2Config.from_dict({"size": 16, "depth": 3})
    with pytest.raises(UnknownNameError, match="ffhq-256"):
        generator_preset("nope")


def test_gradients_reach_every_w_of_wplus_and_every_parameter() -> None:
    g = gen(tiny(16))
    w_plus = g.get_latent(g.sample_z(2, seed=3)).detach().unsqueeze(1).repeat(1, g.n_latent, 1).requires_grad_()
    img = g.synthesis_from_wplus(w_plus, noise=g.make_noise(seed=0))
    (img.square().mean() + img.mean()).backward()
    grad = w_plus.grad
    assert grad is not None and bool(torch.isfinite(grad).all())
    assert bool((grad.abs().amax(dim=2) > 0).all()), "some layer's w gets no gradient"
    g.zero_grad()
    img, _ = g(g.sample_z(2, seed=4), randomize_noise=True)
    img.square().mean().backward()
    assert dead_parameters(g.named_parameters()) == []


def test_fixed_noise_is_deterministic_and_random_noise_is_not() -> None:
    g = gen(tiny(16))
    z = g.sample_z(2, seed=5)
    assert torch.equal(z, g.sample_z(2, seed=5))
    a, _ = g(z, randomize_noise=False)
    b, _ = g(z, randomize_noise=False)
    assert torch.equal(a, b)
    n1, n2 = g.make_noise(seed=7), g.make_noise(seed=7)
    assert torch.equal(g(z, noise=n1)[0], g(z, noise=n2)[0])
    assert not torch.equal(g(z)[0], g(z)[0])
    assert torch.equal(g.mean_latent(32, seed=1), g.mean_latent(32, seed=1))


def test_each_sample_is_generated_as_if_alone() -> None:
    """The grouped (per-sample) modulated convolutions do not mix the batch; in float64, to one float32 ulp."""
    g = float64_copy(gen(tiny(32)))
    z = g.sample_z(3, seed=2).double()
    with torch.no_grad():
        batch, _ = g(z, randomize_noise=False)
        for i in range(3):
            alone, _ = g(z[i:i + 1], randomize_noise=False)
            assert (alone - batch[i:i + 1]).abs().max() <= ulp_tol(batch)


def test_truncation_and_style_mixing() -> None:
    g = gen(tiny(16))
    z1, z2 = g.sample_z(2, seed=8), g.sample_z(2, seed=9)
    w1, w2 = g.get_latent(z1), g.get_latent(z2)
    _, lat = g([z1, z2], return_latents=True, inject_index=2)
    assert torch.equal(lat[:, :2], w1[:, None].expand(2, 2, 8)) and torch.equal(lat[:, 2:], w2[:, None].expand(2, 4, 8))
    centre = g.mean_latent(16, seed=0)
    img, _ = g(z1, truncation=0.0, truncation_latent=centre, randomize_noise=False)
    assert torch.allclose(img[0], img[1], atol=ulp_tol(img.detach(), ulps=64))  # everything pulled onto the centre
    g.latent_avg = centre
    assert torch.equal(g(z1, truncation=0.5, randomize_noise=False)[0],
                       g(z1, truncation=0.5, truncation_latent=centre, randomize_noise=False)[0])


def test_to_unit_maps_stylegan_range_to_blurkit_range() -> None:
    x = torch.tensor([-1.5, -1.0, 0.0, 1.0, 2.0])
    assert torch.equal(to_unit(x), torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]))
    y = torch.rand(10)
    assert torch.allclose(to_unit(from_unit(y)), y, atol=ulp_tol(y, ulps=2))


def test_fused_leaky_relu_matches_its_definition() -> None:
    gen_ = torch.Generator().manual_seed(0)
    x, b = torch.randn(2, 5, 3, 4, generator=gen_) * 3, torch.randn(5, generator=gen_)
    v = x.double() + b.double().view(1, 5, 1, 1)
    ref = torch.where(v >= 0, v, 0.2 * v) * math.sqrt(2)
    # one rounding each for the bias add, the slope, the gain and the float32 value of sqrt(2)
    assert (fused_leaky_relu(x, b).double() - ref).abs().max() <= ulp_tol(ref, ulps=4)
    assert torch.equal(fused_leaky_relu(x), Fnn.leaky_relu(x, 0.2) * math.sqrt(2))


def _upfirdn_reference(x: np.ndarray, k: np.ndarray, up: int, down: int, pad: tuple[int, int, int, int]) -> np.ndarray:
    """Definition by loops, float64: zero-insert, pad (negative = crop), true convolution, keep every down-th."""
    px0, px1, py0, py1 = pad
    b, c, h, w = x.shape
    u = np.zeros((b, c, h * up, w * up))
    u[:, :, ::up, ::up] = x
    p = np.zeros((b, c, h * up + py0 + py1, w * up + px0 + px1))
    for i, j in itertools.product(range(p.shape[2]), range(p.shape[3])):
        if 0 <= i - py0 < h * up and 0 <= j - px0 < w * up:
            p[:, :, i, j] = u[:, :, i - py0, j - px0]
    kh, kw = k.shape
    out = np.zeros((b, c, (p.shape[2] - kh) // down + 1, (p.shape[3] - kw) // down + 1))
    for a, bb in itertools.product(range(out.shape[2]), range(out.shape[3])):
        for r, s in itertools.product(range(kh), range(kw)):
            out[:, :, a, bb] += p[:, :, a * down + r, bb * down + s] * k[kh - 1 - r, kw - 1 - s]
    return out


@pytest.mark.parametrize("up, down, pad", [(1, 1, (0, 0, 0, 0)), (2, 1, (2, 1, 2, 1)), (1, 2, (1, 1, 2, 0)),
                                           (3, 2, (-1, 2, 0, 3)), (2, 2, (1, 2, 1, 2))])
def test_upfirdn2d_matches_its_definition(up: int, down: int, pad: tuple[int, int, int, int]) -> None:
    rng = np.random.default_rng(0)
    x, k = rng.standard_normal((2, 3, 7, 5)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32)
    ref = _upfirdn_reference(x.astype(np.float64), k.astype(np.float64), up, down, pad)
    out = upfirdn2d(torch.from_numpy(x), torch.from_numpy(k), up=up, down=down, pad=pad).numpy()
    assert out.shape == ref.shape
    # each output sums kh * kw products, each at most max|x| * max|k|
    assert np.abs(out - ref).max() <= sum_tol(k.size, k.size * np.abs(x).max() * np.abs(k).max())


def test_upfirdn2d_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="2-D kernel"):
        upfirdn2d(torch.zeros(1, 1, 4, 4), torch.ones(3))
    with pytest.raises(ValueError, match="smaller than"):
        upfirdn2d(torch.zeros(1, 1, 2, 2), torch.ones(4, 4))


def test_modulated_conv_matches_per_sample_definition() -> None:
    """Style-scaled weights, demodulated to unit norm per output channel, then a plain convolution per sample."""
    torch.manual_seed(0)
    conv = ModulatedConv2d(4, 5, 3, style_dim=6).double()
    with torch.no_grad():
        conv.modulation.bias.normal_()
    x, style = torch.randn(3, 4, 6, 7, dtype=torch.float64), torch.randn(3, 6, dtype=torch.float64)
    with torch.no_grad():
        out = conv(x, style)
        s = style @ (conv.modulation.weight * conv.modulation.scale).T + conv.modulation.bias
        for i in range(3):
            w = conv.weight[0] * conv.scale * s[i].view(1, 4, 1, 1)
            w = w / w.square().sum(dim=(1, 2, 3), keepdim=True).add(1e-8).sqrt()
            ref = Fnn.conv2d(x[i:i + 1], w, padding=1)
            assert (out[i:i + 1] - ref).abs().max() <= ulp_tol(ref, torch.float64, ulps=64)


def test_config_widths_and_replace() -> None:
    cfg = dataclasses.replace(generator_preset("ffhq-256"), channel_multiplier=1)
    assert cfg.widths()[256] == 64 and tiny(16).widths() == {4: 8, 8: 8, 16: 8}
