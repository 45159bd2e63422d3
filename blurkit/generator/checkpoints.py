"""Generator checkpoints: rosinality ``.pt`` files, NVIDIA stylegan2-ada(-pytorch) ``.pkl`` files and blurkit's own.

rosinality (:func:`load_rosinality`): a ``torch.save`` dict with ``g_ema`` (or a bare state dict), read with
``torch.load(weights_only=True)``. Size, widths, ``style_dim`` and ``n_mlp`` are read off the weight shapes;
``lr_mlp`` is not stored anywhere and is taken as rosinality's 0.01 unless given.

NVIDIA (:func:`load_stylegan2_ada_pkl`): a pickle of the network objects themselves, whose classes live in NVIDIA's
code (``torch_utils``, ``dnnlib``, ``training``) and whose reconstruction would execute the Python source stored in
the pickle. blurkit never imports or runs any of it: :mod:`blurkit.generator.network_pickle` reads such a pickle
into inert records and tensors (refusing any standard-library, torch or NumPy name beyond a few data constructors).
The ``G_ema`` parameters are then renamed onto the rosinality layout (r = 2**(k+3); j counts the styled
convolutions in order, as rosinality's ``noises.noise_j``):

- ``mapping.fc{i}.weight`` / ``.bias`` -> ``style.{i+1}.weight`` / ``.bias``; ``mapping.w_avg`` -> ``latent_avg``
  (the default truncation centre);
- ``synthesis.b4.const`` ``(C, 4, 4)`` -> ``input.input`` ``(1, C, 4, 4)``;
- ``synthesis.b4.conv1``, ``synthesis.b{r}.conv0``, ``synthesis.b{r}.conv1`` -> ``conv1``, ``convs.{2k}``,
  ``convs.{2k+1}``: ``weight`` ``(O, I, 3, 3)`` -> ``conv.weight`` ``(1, O, I, 3, 3)``; ``affine.weight`` /
  ``.bias`` -> ``conv.modulation.weight`` / ``.bias``; ``noise_strength`` ``()`` -> ``noise.weight`` ``(1,)``;
  ``bias`` -> ``activate.bias``; ``noise_const`` ``(r, r)`` -> ``noises.noise_j`` ``(1, 1, r, r)``;
- ``synthesis.b4.torgb``, ``synthesis.b{r}.torgb`` -> ``to_rgb1``, ``to_rgbs.{k}``: ``weight`` and ``affine.*`` as
  above, ``bias`` ``(3,)`` -> ``bias`` ``(1, 3, 1, 1)``.

Why the renaming is exact, read from stylegan2-ada-pytorch's ``training/networks.py`` and
``torch_utils/ops/conv2d_resample.py``: both codes use the same equalised-learning-rate gains (mapping
``lr_multiplier / sqrt(in)``, bias times ``lr_multiplier``, which the pickle records as ``bias_gain``); the affine
bias is stored with its init of 1 in both; NVIDIA's ToRGB style gain equals rosinality's ``1 / sqrt(in)`` weight
scale; noise is added after demodulation and before bias + leaky ReLU(0.2) * sqrt(2) in both; and the upsampling
layer is in both a stride-2 transposed convolution with the unflipped weight, then the [1, 3, 3, 1] filter times 4
padded by (1, 1) (so, unlike rosinality's converter of TensorFlow weights, no flip), with the RGB skip upsampled the
same way. Checked once by hand, not in the test suite (it needs NVIDIA's code): 32 and 64 px ``G_ema`` networks built
and pickled by stylegan2-ada-pytorch (commit d72cc7d, on the CPU, random weights, non-zero noise and biases) load
here and give their images to 6e-6 at an image scale of 15, truncated ones too. Not checked: a pickle written by
NVIDIA's own training run with the torch 1.7-1.9 of its time (the tensor globals are the same; the legacy storage
format they embed loads in torch's weights-only loader), and the released FFHQ/AFHQ pickles.

Approximations: (1) NVIDIA's demodulated convolutions do not scale the weight by ``1 / sqrt(fan_in)`` before
demodulating and rosinality's do, which changes only the weight of the ``1e-8`` in the demodulation denominator
(relative effect ~1e-8 * fan_in / the sum of squared modulated weights); (2) NVIDIA's configs clamp conv outputs to
+-256 (``conv_clamp``, noted in the loaded generator's ``provenance["notes"]``) and run the top resolutions in
float16; blurkit computes in float32 without clamping, so images differ at float16 rounding (of order 1e-3;
estimated, not measured) and wherever an activation would have passed 256. Refused: conditional generators
(``c_dim > 0``), the ``orig`` / ``resnet`` synthesis architectures, another resampling filter, StyleGAN3 and
TensorFlow pickles (convert those with NVIDIA's ``legacy.py`` first).

blurkit's own (:func:`save_generator` / :func:`load_generator`): config dict + state dict + latent_avg + provenance,
written atomically.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import torch

from blurkit.errors import BlurkitError
from blurkit.files import atomic_path
from blurkit.generator.network_pickle import Inert, check_exists, first_line, module_tensors, read_network_pickle
from blurkit.generator.stylegan2 import StyleGAN2Config, StyleGAN2Generator

FORMAT = "blurkit-stylegan2"
FORMAT_VERSION = 1


# ---------------------------------------------------------------------------------------------------- blurkit's own


def save_generator(gen: StyleGAN2Generator, path: str | os.PathLike, provenance: dict) -> Path:
    """Write ``gen`` (config, weights, latent_avg) with its ``provenance`` record to ``path`` atomically."""
    path = Path(path)
    obj = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": gen.config.to_dict(),
           "state_dict": {k: v.detach().cpu().clone() for k, v in gen.state_dict().items()},
           "latent_avg": None if gen.latent_avg is None else gen.latent_avg.detach().cpu().clone(),
           "provenance": json.loads(json.dumps(provenance, default=str))}  # plain JSON types: weights_only loads it
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path


def load_generator(path: str | os.PathLike, map_location: str | torch.device = "cpu", *,
                   manifest_entry: str | None = None) -> StyleGAN2Generator:
    """A generator saved by :func:`save_generator`, in eval mode; its record is in ``.provenance``."""
    path = Path(path)
    return _from_blurkit(_torch_load(path, map_location, manifest_entry), path)


def load_pretrained(path: str | os.PathLike, map_location: str | torch.device = "cpu", *,
                    manifest_entry: str | None = None) -> StyleGAN2Generator:
    """Any supported checkpoint: an NVIDIA ``.pkl``, a blurkit checkpoint or a rosinality ``.pt``."""
    path = Path(path)
    if path.suffix == ".pkl":
        return load_stylegan2_ada_pkl(path, manifest_entry=manifest_entry).to(map_location)
    obj = _torch_load(path, map_location, manifest_entry)
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        return _from_blurkit(obj, path)
    return _from_rosinality(obj, path, "g_ema", 0.01)


def _torch_load(path: Path, map_location: str | torch.device, manifest_entry: str | None) -> Any:
    check_exists(path, manifest_entry)
    try:  # rosinality's training checkpoints also hold its argparse options
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many kinds for a bad file
        raise BlurkitError(f"cannot read generator checkpoint '{path}': corrupt, not a torch file, or holding "
                           f"objects other than tensors ({first_line(exc)})") from None


def _from_blurkit(obj: Any, path: Path) -> StyleGAN2Generator:
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise BlurkitError(f"'{path}' is not a blurkit StyleGAN2 checkpoint (no format '{FORMAT}')")
    if obj.get("format_version") != FORMAT_VERSION:
        raise BlurkitError(f"'{path}' has StyleGAN2 checkpoint version {obj.get('format_version')}; this blurkit "
                           f"reads version {FORMAT_VERSION}")
    gen = _build(StyleGAN2Config.from_dict(obj["config"]), obj["state_dict"], path)
    gen.latent_avg = obj.get("latent_avg")
    gen.provenance = obj.get("provenance")
    return gen


def _build(cfg: StyleGAN2Config, state: dict[str, torch.Tensor], path: Path) -> StyleGAN2Generator:
    gen = StyleGAN2Generator(cfg)
    try:
        gen.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise BlurkitError(f"'{path}': unrecognised StyleGAN2 layout ({detail})") from None
    return gen.to(next(iter(state.values())).device).eval()


# ---------------------------------------------------------------------------------------------------- rosinality


def load_rosinality(path: str | os.PathLike, map_location: str | torch.device = "cpu", *, key: str = "g_ema",
                    lr_mlp: float = 0.01, manifest_entry: str | None = None) -> StyleGAN2Generator:
    """A generator from a rosinality ``stylegan2-pytorch`` checkpoint (``obj[key]`` or a bare state dict), in eval
    mode, with the file's ``latent_avg`` when it has one. ``lr_mlp`` must be the value it was trained with."""
    path = Path(path)
    return _from_rosinality(_torch_load(path, map_location, manifest_entry), path, key, lr_mlp)


def _from_rosinality(obj: Any, path: Path, key: str, lr_mlp: float) -> StyleGAN2Generator:
    if isinstance(obj, dict) and isinstance(obj.get(key), dict):
        state = obj[key]
    elif isinstance(obj, dict) and "input.input" in obj:
        state = obj
    else:
        keys = sorted(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
        raise BlurkitError(f"'{path}': unrecognised generator layout (no '{key}' state dict, not a bare rosinality "
                           f"state dict; top-level keys {keys})")
    gen = _build(rosinality_config(state, lr_mlp, path), state, path)
    avg = obj.get("latent_avg") if obj is not state else None
    if isinstance(avg, torch.Tensor):
        gen.latent_avg = avg.reshape(1, -1).to(gen.device)
    gen.provenance = {"source": "rosinality stylegan2-pytorch", "path": str(path), "lr_mlp_assumed": lr_mlp}
    return gen


def rosinality_config(state: dict[str, torch.Tensor], lr_mlp: float = 0.01,
                      path: str | os.PathLike = "<state dict>") -> StyleGAN2Config:
    """The config of a rosinality generator state dict, read off its key names and weight shapes."""
    n_rgbs = sum(bool(re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k)) for k in state)
    n_mlp = sum(bool(re.fullmatch(r"style\.\d+\.weight", k)) for k in state)
    try:
        widths = [int(state["input.input"].shape[1])] + [int(state[f"convs.{2 * i}.conv.weight"].shape[1])
                                                         for i in range(n_rgbs)]
        style_dim = int(state["conv1.conv.modulation.weight"].shape[1])
        kernel = state["convs.0.conv.blur.kernel"] if n_rgbs else None
    except KeyError as exc:
        raise BlurkitError(f"'{path}': unrecognised generator layout (no {exc.args[0]!r})") from None
    size = 2 ** (n_rgbs + 2)
    taps: tuple[float, ...] = (1, 3, 3, 1)
    if kernel is not None and kernel.shape[0] != 4:  # only the tap count matters (the buffer itself is loaded)
        taps = tuple(float(v) for v in kernel.float().sum(1))
    for mult in (1, 2, 4):
        default = StyleGAN2Config(size=size, style_dim=style_dim, n_mlp=n_mlp, channel_multiplier=mult,
                                  lr_mlp=lr_mlp, blur_kernel=taps) if size <= 1024 else None
        if default is not None and list(default.widths().values()) == widths:
            return default
    return StyleGAN2Config(size=size, style_dim=style_dim, n_mlp=n_mlp, channels=tuple(widths), lr_mlp=lr_mlp,
                           blur_kernel=taps)


# ---------------------------------------------------------------------------------------------------- NVIDIA pickles


def load_stylegan2_ada_pkl(path: str | os.PathLike, *, key: str = "G_ema",
                           manifest_entry: str | None = None) -> StyleGAN2Generator:
    """A generator from an NVIDIA stylegan2-ada(-pytorch) network pickle (``data[key]``), in eval mode on the CPU,
    with ``latent_avg`` = the pickle's ``mapping.w_avg``. See the module docstring for the mapping and its limits."""
    path = Path(path)
    data = read_network_pickle(path, manifest_entry=manifest_entry)
    if isinstance(data, tuple) and any(isinstance(d, Inert) and "tflib" in d.pickle_global for d in data):
        raise BlurkitError(f"'{path}' is a TensorFlow StyleGAN2 pickle; convert it with stylegan2-ada-pytorch's "
                           f"legacy.py first")
    if not isinstance(data, dict) or key not in data:
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise BlurkitError(f"'{path}': unrecognised network pickle (no '{key}'; top level {keys})")
    nv, attrs = module_tensors(data[key])
    cfg, state, notes = _ada_to_rosinality(nv, attrs, path)
    gen = _build(cfg, state, path)
    if "mapping.w_avg" in nv:
        gen.latent_avg = nv["mapping.w_avg"].float().reshape(1, -1).clone()
    gen.provenance = {"source": "NVIDIA stylegan2-ada-pytorch pickle", "path": str(path), "notes": notes}
    return gen


def _ada_to_rosinality(nv: dict[str, torch.Tensor], attrs: dict[str, dict],
                       path: Path) -> tuple[StyleGAN2Config, dict[str, torch.Tensor], list[str]]:
    def bad(why: str) -> BlurkitError:
        return BlurkitError(f"'{path}': unrecognised stylegan2-ada generator layout ({why})")

    fcs = sorted(int(m.group(1)) for k in nv if (m := re.fullmatch(r"mapping\.fc(\d+)\.weight", k)))
    if not fcs or "synthesis.b4.const" not in nv or fcs != list(range(len(fcs))):
        raise bad("no mapping.fc0 ... or synthesis.b4.const; StyleGAN3 and other networks are not supported")
    if any(k.startswith("mapping.embed.") for k in nv):
        raise bad("a conditional generator (c_dim > 0)")
    style_dim = int(nv["mapping.fc0.weight"].shape[1])
    if any(tuple(nv[f"mapping.fc{i}.weight"].shape) != (style_dim, style_dim) for i in fcs):
        raise bad("mapping layers whose widths differ from z_dim = w_dim")
    res = sorted({int(m.group(1)) for k in nv if (m := re.match(r"synthesis\.b(\d+)\.", k))})
    if res != [2 ** i for i in range(2, len(res) + 2)] or len(res) < 2:
        raise bad(f"synthesis blocks {res}, not 4, 8, ..., size")
    if any(f"synthesis.b{r}.torgb.weight" not in nv for r in res) or any(".skip." in k for k in nv):
        raise bad("not the 'skip' synthesis architecture")
    filt = nv.get(f"synthesis.b{res[1]}.conv0.resample_filter")  # setup_filter([1, 3, 3, 1]): 2-D, sum 1
    want = _filter_2d(1.0) if filt is not None and filt.ndim == 2 else torch.tensor([1.0, 3, 3, 1]) / 8
    if filt is not None and (filt.shape != want.shape or not torch.allclose(filt.float(), want)):
        raise bad("a resampling filter other than [1, 3, 3, 1]")
    for name, a in attrs.items():
        if re.fullmatch(r"mapping\.fc\d+|synthesis\.b\d+\.conv[01]", name) and a.get("activation") != "lrelu":
            raise bad(f"activation {a.get('activation')!r} in {name}")
    lr_mlp = float(attrs.get("mapping.fc0", {}).get("bias_gain", 0.01))
    widths = [int(nv["synthesis.b4.const"].shape[0])] + [int(nv[f"synthesis.b{r}.conv0.weight"].shape[0])
                                                         for r in res[1:]]
    cfg = StyleGAN2Config(size=res[-1], style_dim=style_dim, n_mlp=len(fcs), channels=tuple(widths), lr_mlp=lr_mlp)
    sd: dict[str, torch.Tensor] = {"input.input": nv["synthesis.b4.const"][None]}
    for i in fcs:
        sd[f"style.{i + 1}.weight"], sd[f"style.{i + 1}.bias"] = nv[f"mapping.fc{i}.weight"], nv[f"mapping.fc{i}.bias"]

    def modconv(src: str, dst: str) -> None:
        sd[f"{dst}.conv.weight"] = nv[f"{src}.weight"][None]
        sd[f"{dst}.conv.modulation.weight"] = nv[f"{src}.affine.weight"]
        sd[f"{dst}.conv.modulation.bias"] = nv[f"{src}.affine.bias"]

    def layer(src: str, dst: str, j: int) -> None:
        modconv(src, dst)
        sd[f"{dst}.activate.bias"] = nv[f"{src}.bias"]
        r = 2 ** ((j + 5) // 2)
        strength = nv.get(f"{src}.noise_strength")  # absent with use_noise=False: no noise
        sd[f"{dst}.noise.weight"] = torch.zeros(1) if strength is None else strength.reshape(1)
        sd[f"noises.noise_{j}"] = nv.get(f"{src}.noise_const", torch.zeros(r, r)).reshape(1, 1, r, r)

    def torgb(src: str, dst: str) -> None:
        modconv(src, dst)
        sd[f"{dst}.bias"] = nv[f"{src}.bias"].reshape(1, 3, 1, 1)

    if nv["synthesis.b4.torgb.weight"].shape[0] != 3:
        raise bad(f"{nv['synthesis.b4.torgb.weight'].shape[0]} image channels, not 3")
    layer("synthesis.b4.conv1", "conv1", 0)
    torgb("synthesis.b4.torgb", "to_rgb1")
    for k, r in enumerate(res[1:]):
        layer(f"synthesis.b{r}.conv0", f"convs.{2 * k}", 2 * k + 1)
        layer(f"synthesis.b{r}.conv1", f"convs.{2 * k + 1}", 2 * k + 2)
        torgb(f"synthesis.b{r}.torgb", f"to_rgbs.{k}")
    for k in range(len(res) - 1):  # the fixed [1, 3, 3, 1] filters (checked above)
        sd[f"convs.{2 * k}.conv.blur.kernel"] = _filter_2d(4)
        sd[f"to_rgbs.{k}.upsample.kernel"] = _filter_2d(4)
    clamps = sorted({a["conv_clamp"] for a in attrs.values() if a.get("conv_clamp") is not None})
    notes = [f"conv_clamp {clamps} not applied (blurkit does not clamp)"] if clamps else []
    if not math.isclose(lr_mlp, 0.01):
        notes.append(f"mapping lr_multiplier {lr_mlp}")
    return cfg, {k: v.float().contiguous() for k, v in sd.items()}, notes


def _filter_2d(gain: float) -> torch.Tensor:
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    return torch.outer(taps, taps) / 64 * gain
