"""Generator checkpoints: rosinality ``.pt``, NVIDIA stylegan2-ada ``.pkl`` (read without importing or running any
of the pickle's code; dangerous pickles refused) and blurkit's own, each built here from random weights and checked
to give the source generator's images; missing, corrupt and foreign files give one-line errors."""

from __future__ import annotations

import argparse
import contextlib
import importlib.abc
import math
import pickle
import subprocess
import sys
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest
import torch

from blurkit.errors import BlurkitError
from blurkit.generator.checkpoints import (
    load_generator,
    load_pretrained,
    load_rosinality,
    load_stylegan2_ada_pkl,
    rosinality_config,
    save_generator,
)
from blurkit.generator.network_pickle import Inert, read_network_pickle
from blurkit.generator.stylegan2 import StyleGAN2Config, StyleGAN2Generator, generator_preset

pytestmark = pytest.mark.usefixtures("one_thread")

CFG = StyleGAN2Config(size=16, style_dim=8, n_mlp=2, channels=(8, 8, 4))
NVIDIA_ROOTS = ("torch_utils", "dnnlib", "training")
NEVER_RUN = "raise SystemExit('blurkit ran the source code stored in a network pickle')\n"


def source_generator(cfg: StyleGAN2Config = CFG, seed: int = 0) -> StyleGAN2Generator:
    """Random weights, with non-zero noise weights and biases (rosinality starts them at 0)."""
    torch.manual_seed(seed)
    g = StyleGAN2Generator(cfg).eval()
    with torch.no_grad():
        for name, p in g.named_parameters():
            if name.endswith(("noise.weight", "activate.bias")) or (name.endswith("bias") and "to_rgb" in name):
                p.normal_(0, 0.3)
    return g


def images(g: StyleGAN2Generator, seed: int = 1) -> torch.Tensor:
    with torch.no_grad():
        return g(g.sample_z(2, seed), randomize_noise=False)[0]


def one_line_error(call: Callable[[], Any], *parts: str) -> str:
    with pytest.raises(BlurkitError) as err:
        call()
    msg = str(err.value)
    assert "\n" not in msg and all(p in msg for p in parts), msg
    return msg


# ---------------------------------------------------------------------------------------------------- rosinality


def test_rosinality_checkpoint_loads_with_the_source_outputs(tmp_path: Path) -> None:
    g = source_generator()
    avg = torch.randn(8)
    torch.save({"g_ema": g.state_dict(), "latent_avg": avg}, tmp_path / "g.pt")
    loaded = load_rosinality(tmp_path / "g.pt")
    assert loaded.config.widths() == CFG.widths() and loaded.config.n_mlp == 2 and loaded.config.style_dim == 8
    assert torch.equal(images(loaded), images(g))
    assert torch.equal(loaded.latent_avg, avg.reshape(1, 8)) and not loaded.training


def test_rosinality_bare_state_dict_and_training_checkpoint(tmp_path: Path) -> None:
    g = source_generator(seed=2)
    torch.save(g.state_dict(), tmp_path / "bare.pt")
    assert torch.equal(images(load_rosinality(tmp_path / "bare.pt")), images(g))
    optim = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(2)}}, "param_groups": [{"lr": 0.002}]}
    torch.save({"g": g.state_dict(), "d": {"convs.0.0.weight": torch.zeros(1)}, "g_ema": g.state_dict(),
                "g_optim": optim, "args": argparse.Namespace(size=16, iter=10), "ada_aug_p": 0.1},
               tmp_path / "train.pt")
    assert torch.equal(images(load_rosinality(tmp_path / "train.pt")), images(g))
    assert load_rosinality(tmp_path / "train.pt", lr_mlp=0.02).config.lr_mlp == 0.02


def test_rosinality_config_is_read_off_the_shapes() -> None:
    with torch.device("meta"):  # shapes only: no memory, no time
        state = StyleGAN2Generator("ffhq-256").state_dict()
    assert rosinality_config(state) == generator_preset("ffhq-256")
    assert rosinality_config(source_generator().state_dict()) == CFG


def test_foreign_torch_files_are_refused_in_one_line(tmp_path: Path) -> None:
    torch.save({"model": {"w": torch.zeros(1)}}, tmp_path / "other.pt")
    one_line_error(lambda: load_rosinality(tmp_path / "other.pt"), "unrecognised generator layout", "model")
    state = source_generator().state_dict()
    del state["to_rgbs.1.bias"]
    torch.save({"g_ema": state}, tmp_path / "short.pt")
    one_line_error(lambda: load_rosinality(tmp_path / "short.pt"), "unrecognised StyleGAN2 layout",
                   "to_rgbs.1.bias")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    one_line_error(lambda: load_rosinality(tmp_path / "junk.pt"), "cannot read generator checkpoint", "junk.pt")


@pytest.mark.parametrize("loader", [load_rosinality, load_stylegan2_ada_pkl, load_generator, load_pretrained])
def test_a_missing_file_names_the_path_and_manifest_entry(loader: Callable, tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "ffhq.pkl"
    one_line_error(lambda: loader(path), str(path), "does not exist")
    one_line_error(lambda: loader(path, manifest_entry="ffhq-256"), str(path), "manifest entry 'ffhq-256'")


# ---------------------------------------------------------------------------------------------------- blurkit's own


def test_own_checkpoint_round_trip(tmp_path: Path) -> None:
    g = source_generator(seed=3)
    g.latent_avg = g.mean_latent(16, seed=0)
    save_generator(g, tmp_path / "model.pt", {"seed": 3, "data": tmp_path / "crops"})
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # the temporary file was renamed, not left
    loaded = load_generator(tmp_path / "model.pt")
    assert loaded.config == g.config and torch.equal(loaded.latent_avg, g.latent_avg)
    assert loaded.provenance == {"seed": 3, "data": str(tmp_path / "crops")}
    assert torch.equal(images(loaded), images(g))
    assert torch.equal(images(load_pretrained(tmp_path / "model.pt")), images(g))
    torch.save({"format": "blurkit-stylegan2", "format_version": 99}, tmp_path / "future.pt")
    one_line_error(lambda: load_generator(tmp_path / "future.pt"), "version 99")
    one_line_error(lambda: load_generator(tmp_path / "none.pt"), "does not exist")


# ---------------------------------------------------------------------------------------------------- NVIDIA pickles


@contextlib.contextmanager
def nvidia_modules_for_pickling() -> Iterator[types.SimpleNamespace]:
    """Stand-ins for NVIDIA's modules, importable only while the test writes its pickle (pickle checks that every
    global it writes can be looked up); removed before anything is read back."""
    names = ["torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util", "dnnlib.tflib",
             "dnnlib.tflib.network"]
    mods = {n: types.ModuleType(n) for n in names}

    def _reconstruct_persistent_obj(meta: dict) -> None:
        raise AssertionError("NVIDIA's reconstruction must never run")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    mods["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    easy = type("EasyDict", (dict,), {"__module__": "dnnlib.util"})
    mods["dnnlib.util"].EasyDict = easy
    network = type("Network", (), {"__module__": "dnnlib.tflib.network"})
    mods["dnnlib.tflib.network"].Network = network
    saved = {n: sys.modules.get(n) for n in names}
    sys.modules.update(mods)
    try:
        yield types.SimpleNamespace(reconstruct=_reconstruct_persistent_obj, EasyDict=easy, Network=network)
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:  # pragma: no cover - NVIDIA's code is not installed here
                sys.modules[n] = m


class Persistent:
    """Pickles like a ``@persistence.persistent_class`` module: ``_reconstruct_persistent_obj(meta)``."""

    def __init__(self, reconstruct: Callable, class_name: str, state: dict) -> None:
        self.reconstruct, self.class_name, self.state = reconstruct, class_name, state

    def __reduce__(self) -> tuple:
        meta = dict(type="class", version=4, module_src=NEVER_RUN, class_name=self.class_name, state=self.state)
        return self.reconstruct, (meta,)


def nvidia_generator(g: StyleGAN2Generator, fake: types.SimpleNamespace, conv_clamp: float | None = None,
                     conditional: bool = False) -> Persistent:
    """``g`` as NVIDIA's ``training.networks.Generator`` would pickle it (names and shapes of its G_ema)."""
    sd = {k: v.detach().clone() for k, v in g.state_dict().items()}
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    filt = torch.outer(taps, taps) / 64  # upfirdn2d.setup_filter([1, 3, 3, 1])

    def module(cls: str, params: dict | None = None, buffers: dict | None = None, modules: dict | None = None,
               **attrs: Any) -> Persistent:
        state = {"training": False, "_parameters": OrderedDict((k, torch.nn.Parameter(v, requires_grad=False))
                                                               for k, v in (params or {}).items()),
                 "_buffers": OrderedDict(buffers or {}), "_modules": OrderedDict(modules or {}), **attrs}
        return Persistent(fake.reconstruct, cls, state)

    def fc(weight: torch.Tensor, bias: torch.Tensor, activation: str, lr: float) -> Persistent:
        return module("FullyConnectedLayer", {"weight": weight, "bias": bias}, activation=activation,
                      weight_gain=np.float64(lr / math.sqrt(weight.shape[1])), bias_gain=lr)

    def affine(prefix: str) -> Persistent:
        return fc(sd[f"{prefix}.conv.modulation.weight"], sd[f"{prefix}.conv.modulation.bias"], "linear", 1)

    def layer(prefix: str, j: int) -> Persistent:
        return module("SynthesisLayer", {"weight": sd[f"{prefix}.conv.weight"][0],
                                         "noise_strength": sd[f"{prefix}.noise.weight"].reshape(()),
                                         "bias": sd[f"{prefix}.activate.bias"]},
                      {"resample_filter": filt, "noise_const": sd[f"noises.noise_{j}"][0, 0]},
                      {"affine": affine(prefix)}, activation="lrelu", conv_clamp=conv_clamp)

    def torgb(prefix: str) -> Persistent:
        return module("ToRGBLayer", {"weight": sd[f"{prefix}.conv.weight"][0], "bias": sd[f"{prefix}.bias"].flatten()},
                      modules={"affine": affine(prefix)}, conv_clamp=conv_clamp)

    blocks = {"b4": module("SynthesisBlock", {"const": sd["input.input"][0]}, {"resample_filter": filt},
                           {"conv1": layer("conv1", 0), "torgb": torgb("to_rgb1")}, architecture="skip")}
    for k in range(len(g.to_rgbs)):
        blocks[f"b{2 ** (k + 3)}"] = module(
            "SynthesisBlock", buffers={"resample_filter": filt}, architecture="skip",
            modules={"conv0": layer(f"convs.{2 * k}", 2 * k + 1), "conv1": layer(f"convs.{2 * k + 1}", 2 * k + 2),
                     "torgb": torgb(f"to_rgbs.{k}")})
    lr = g.config.lr_mlp
    fcs = {f"fc{i}": fc(sd[f"style.{i + 1}.weight"], sd[f"style.{i + 1}.bias"], "lrelu", lr)
           for i in range(g.config.n_mlp)}
    if conditional:
        fcs["embed"] = fc(torch.zeros(8, 3), torch.zeros(8), "linear", 1)
    mapping = module("MappingNetwork", buffers={"w_avg": torch.arange(8.0)}, modules=fcs, z_dim=8, w_dim=8)
    init = fake.EasyDict(z_dim=8, c_dim=0, w_dim=8, img_resolution=g.size, mapping_kwargs=fake.EasyDict())
    return module("Generator", modules={"synthesis": module("SynthesisNetwork", modules=blocks), "mapping": mapping},
                  _init_kwargs=init, z_dim=8, w_dim=8)


def write_nvidia_pickle(path: Path, g: StyleGAN2Generator, protocol: int = 4, **kwargs: Any) -> None:
    with nvidia_modules_for_pickling() as fake:
        G = nvidia_generator(g, fake, **kwargs)
        data = dict(training_set_kwargs=fake.EasyDict(path="crops.zip"), G=G, D=None, G_ema=G, augment_pipe=None)
        path.write_bytes(pickle.dumps(data, protocol=protocol))
    assert not any(n.split(".")[0] in NVIDIA_ROOTS for n in sys.modules)


class ImportSpy(importlib.abc.MetaPathFinder):
    """Records every attempt to import NVIDIA's packages (and lets it fail)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name.split(".")[0] in NVIDIA_ROOTS:
            self.seen.append(name)
        return None


@contextlib.contextmanager
def spy_on_imports() -> Iterator[ImportSpy]:
    spy = ImportSpy()
    sys.meta_path.insert(0, spy)
    try:
        yield spy
    finally:
        sys.meta_path.remove(spy)


@pytest.mark.parametrize("protocol", [2, 4])
def test_nvidia_pickle_loads_without_importing_its_code(tmp_path: Path, protocol: int) -> None:
    g = source_generator(seed=4)
    write_nvidia_pickle(tmp_path / "network.pkl", g, protocol)
    with spy_on_imports() as spy:
        loaded = load_stylegan2_ada_pkl(tmp_path / "network.pkl")
        data = read_network_pickle(tmp_path / "network.pkl")
    assert spy.seen == [] and not any(n.split(".")[0] in NVIDIA_ROOTS for n in sys.modules)
    assert loaded.config.widths() == CFG.widths() and loaded.config.lr_mlp == CFG.lr_mlp
    assert torch.equal(images(loaded), images(g))
    assert torch.equal(loaded.latent_avg, torch.arange(8.0).reshape(1, 8))
    assert loaded.provenance["notes"] == []
    # unknown classes became inert records of what the pickle held
    assert isinstance(data["G_ema"], Inert) and data["G_ema"].pickle_global.startswith("torch_utils.persistence.")
    assert data["G_ema"].args[0]["class_name"] == "Generator" and data["G_ema"].args[0]["module_src"] == NEVER_RUN
    assert isinstance(data["training_set_kwargs"], Inert) and data["training_set_kwargs"].items == {"path": "crops.zip"}
    assert torch.equal(images(load_pretrained(tmp_path / "network.pkl")), images(g))


def test_nvidia_pickle_notes_what_is_approximated_and_refuses_what_is_not_supported(tmp_path: Path) -> None:
    g = source_generator(seed=5)
    write_nvidia_pickle(tmp_path / "clamped.pkl", g, conv_clamp=256.0)
    assert load_stylegan2_ada_pkl(tmp_path / "clamped.pkl").provenance["notes"] == [
        "conv_clamp [256.0] not applied (blurkit does not clamp)"]
    write_nvidia_pickle(tmp_path / "cond.pkl", g, conditional=True)
    one_line_error(lambda: load_stylegan2_ada_pkl(tmp_path / "cond.pkl"), "conditional", "cond.pkl")
    (tmp_path / "other.pkl").write_bytes(pickle.dumps({"G": OrderedDict(a=torch.zeros(2))}))
    one_line_error(lambda: load_stylegan2_ada_pkl(tmp_path / "other.pkl"), "unrecognised network pickle", "G_ema")
    with nvidia_modules_for_pickling() as fake:
        (tmp_path / "tf.pkl").write_bytes(pickle.dumps((fake.Network(), fake.Network(), fake.Network())))
    one_line_error(lambda: load_stylegan2_ada_pkl(tmp_path / "tf.pkl"), "TensorFlow", "legacy.py")
    (tmp_path / "junk.pkl").write_bytes(b"\x80\x04junk")
    one_line_error(lambda: load_stylegan2_ada_pkl(tmp_path / "junk.pkl"), "cannot read network pickle")


class Evil:
    """A pickle that runs ``fn(*args)`` when an ordinary unpickler reads it."""

    def __init__(self, fn: Callable, *args: Any) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self) -> tuple:
        return self.fn, self.args


@pytest.mark.parametrize("make", [
    lambda marker: Evil(__import__("os").system, f"touch {marker}"),
    lambda marker: Evil(eval, f"open({str(marker)!r}, 'w')"),
    lambda marker: Evil(subprocess.Popen, ["touch", str(marker)]),
    lambda marker: Evil(getattr, OrderedDict(), "clear"),
], ids=["os.system", "builtins.eval", "subprocess.Popen", "builtins.getattr"])
def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path, make: Callable) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"G_ema": make(marker)}))
    one_line_error(lambda: load_stylegan2_ada_pkl(tmp_path / "evil.pkl"), "refusing to load", "evil.pkl")
    assert not marker.exists()
