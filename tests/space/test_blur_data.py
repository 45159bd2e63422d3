"""Blur-swapped (Sec. 4.1.2) and blur-augmented (Sec. 4.4) datasets: determinism, resuming, manifests, errors, CLI.

Tiny pair folders (mixed sizes) and an untrained smoke kernel space; every run takes well under a second.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from blurkit.cli.blur_data import register
from blurkit.data.datasets import resolve_pairs
from blurkit.data.images import read_image
from blurkit.data.kernels import convolve
from blurkit.errors import BlurkitError, DatasetLayoutError, StaleError, UnknownNameError
from blurkit.experiments.work_cache import rebuilt
from blurkit.space import blur_swap
from blurkit.space.blur_augment import augment_dataset, motion_blur_dataset, seeded_motion_kernel
from blurkit.space.blur_swap import swap_dataset, weights_hash
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.transfer import transfer_images
from imagegen import rand_rgb, save_png

pytestmark = pytest.mark.usefixtures("one_thread")

SIZES = [(32, 32), (40, 48), (32, 32), (40, 48), (32, 32)]  # x and x_hat often differ in size


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("blur-data")
    for i, (h, w) in enumerate(SIZES):
        save_png(root / "d" / "sharp" / f"p{i}.png", rand_rgb(h, w, seed=i))
        save_png(root / "d" / "blur" / f"p{i}.png", rand_rgb(h, w, seed=50 + i))
    save_png(root / "faces" / "a.png", rand_rgb(36, 28, seed=90))
    save_png(root / "faces" / "b.png", rand_rgb(24, 24, seed=91)[..., 0])  # grayscale
    save_png(root / "faces" / "c.png", rand_rgb(30, 30, seed=92))
    torch.manual_seed(0)
    model = KernelSpace("smoke").save(root / "m.pt", provenance={"note": "untrained"})
    torch.manual_seed(1)
    other = KernelSpace("smoke").save(root / "other.pt", provenance={"note": "other"})
    return {"root": root, "data": root / "d", "faces": root / "faces", "model": model, "other": other}


def files(out: Path) -> dict[str, bytes]:
    return {f"{d}/{p.name}": p.read_bytes() for d in ("sharp", "blur") for p in sorted((out / d).iterdir())}


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def swap(world: dict[str, Path], out: Path, seed: int = 0, **kw) -> Path:
    return swap_dataset(world["model"], world["data"], out, seed, progress=False, device="cpu", **kw)


def test_swap_is_deterministic_and_seeded(world: dict[str, Path], tmp_path: Path) -> None:
    a, b = swap(world, tmp_path / "a", batch_size=2), swap(world, tmp_path / "b", batch_size=2)
    c = swap(world, tmp_path / "c", seed=1, batch_size=2)
    assert files(a) == files(b) and len(files(a)) == 10
    assert (a / "manifest.json").read_bytes() == (b / "manifest.json").read_bytes()
    assert files(c) != files(a)
    assert [e["target_index"] for e in manifest(c)["pairs"]] != [e["target_index"] for e in manifest(a)["pairs"]]
    assert [(s.name, y.name) for s, y in resolve_pairs(a)] == [(f"0000{i}.png",) * 2 for i in range(5)]
    assert (a / "provenance.json").is_file()


def test_swap_manifest_records_sources_targets_model_and_seed(world: dict[str, Path], tmp_path: Path) -> None:
    out = swap(world, tmp_path / "o", seed=3)
    m = manifest(out)
    assert m["kind"] == "blur-swap" and m["seed"] == 3 and m["n"] == m["n_total"] == 5 and m["complete"]
    ks = KernelSpace.load(world["model"])
    assert m["model"]["name"] == str(world["model"]) and m["model"]["weights_sha256"] == weights_hash(ks)
    assert len(m["model"]["provenance_sha256"]) == 64
    assert m["settings"]["data"] == str(world["data"].resolve()) and m["settings"]["seed"] == 3
    pairs = resolve_pairs(world["data"])
    for i, e in enumerate(m["pairs"]):
        assert e["index"] == i and e["rng"] == [3, i] and e["target_index"] != i  # x_hat != x
        assert (Path(e["source_sharp"]), Path(e["source_blur"])) == (pairs[i][0].resolve(), pairs[i][1].resolve())
        assert Path(e["target_sharp"]) == pairs[e["target_index"]][0].resolve()


def test_swap_output_is_the_transfer_of_its_recorded_pair(world: dict[str, Path], tmp_path: Path) -> None:
    out = swap(world, tmp_path / "o", batch_size=3)
    ks = KernelSpace.load(world["model"])
    checked = 0
    for e in manifest(out)["pairs"]:
        x, y, t = (read_image(e[k]) for k in ("source_sharp", "source_blur", "target_sharp"))
        if x.shape == t.shape:
            continue  # check the pairs whose source and target sizes differ (k resized to the target)
        want = transfer_images(ks, x, y, t)
        got = read_image(out / "blur" / e["name"])
        assert got.shape == t.shape
        assert np.abs(got - want).max() <= 0.5 / 255 + 1e-5  # only the 8-bit rounding
        assert np.array_equal(read_image(out / "sharp" / e["name"]), t)
        checked += 1
    assert checked >= 1


def test_swap_resumes_without_rewriting_finished_outputs(world: dict[str, Path], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    straight = files(swap(world, tmp_path / "straight", batch_size=2))
    out = tmp_path / "resumed"
    monkeypatch.setattr(blur_swap, "MANIFEST_EVERY_S", 0.0)
    listed: list[int] = []
    # a first, limited run: outputs 0-2 (its batch {2, 3} computed whole); the manifest follows every batch
    swap(world, out, limit=3, batch_size=2, on_batch=lambda names: listed.append(manifest(out)["n"]))
    assert listed == [2, 3] and manifest(out)["n"] == 3 and not manifest(out)["complete"]
    lagging = (out / "manifest.json").read_bytes()

    def interrupt(names: list[str]) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # killed right after the next batch was written
        swap(world, out, batch_size=2, on_batch=interrupt)
    assert manifest(out)["n"] == 4  # the manifest already lists what was finished
    (out / "manifest.json").write_bytes(lagging)  # as if killed before the manifest caught up: files decide
    (out / "blur" / "00001.png").unlink()  # a lost output
    (out / "sharp" / ".00004.png.abc.tmp").write_bytes(b"half")  # debris of a killed atomic write
    kept = {p: p.stat().st_mtime_ns for d in ("sharp", "blur") for p in (out / d).glob("0*.png")}
    written: list[str] = []
    swap(world, out, batch_size=2, on_batch=written.extend)
    assert sorted(written) == ["00001.png", "00004.png"]
    assert files(out) == straight and manifest(out)["complete"]
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items() if p.name != "00001.png")
    assert not list((out / "sharp").glob(".*.tmp"))
    written.clear()
    swap(world, out, batch_size=2, on_batch=written.extend)  # nothing left to do
    assert written == []


def test_out_folder_of_another_job_is_refused(world: dict[str, Path], tmp_path: Path) -> None:
    out = swap(world, tmp_path / "o", limit=1)
    with pytest.raises(BlurkitError, match=r"different blur-swap \(seed was 0, now 1\)"):
        swap(world, out, seed=1)
    with pytest.raises(StaleError, match="model_weights_sha256"):  # a retrained model: stale, not a user slip
        swap_dataset(world["other"], world["data"], out, 0, progress=False)
    rebuilt(lambda: swap_dataset(world["other"], world["data"], out, 0, limit=1, progress=False), out)
    aside = out.with_name("o.stale")  # the experiments' way: set aside, made again with the new model
    assert manifest(aside)["settings"]["model_weights_sha256"] == weights_hash(KernelSpace.load(world["model"]))
    assert manifest(out)["settings"]["model_weights_sha256"] == weights_hash(KernelSpace.load(world["other"]))
    shutil.rmtree(out)
    aside.rename(out)
    with pytest.raises(BlurkitError, match="not a motion-blur dataset"):
        motion_blur_dataset(world["data"], out, 0, progress=False)
    with pytest.raises(BlurkitError, match="already holds images"):  # a paired folder without our manifest
        swap(world, world["data"])
    (tmp_path / "file").write_text("x")
    with pytest.raises(BlurkitError, match="is a file"):
        swap(world, tmp_path / "file")
    swap_dataset(KernelSpace.load(world["model"]), world["data"], out, 0, progress=False)  # same weights: resumes
    assert manifest(out)["complete"] and manifest(out)["model"]["name"] == "in-memory"


def test_bad_inputs_give_clear_errors(world: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "empty" / "sharp").mkdir(parents=True)
    (tmp_path / "empty" / "blur").mkdir()
    with pytest.raises(DatasetLayoutError, match="no image files"):
        swap_dataset(world["model"], tmp_path / "empty", tmp_path / "o", 0, progress=False)
    with pytest.raises(UnknownNameError, match="unknown dataset 'nonesuch'"):
        swap_dataset(world["model"], "nonesuch", tmp_path / "o", 0, progress=False)
    with pytest.raises(BlurkitError, match="no trained kernel space"):
        swap_dataset("no-such-model", world["data"], tmp_path / "o", 0, progress=False)
    with pytest.raises(BlurkitError, match="--seed"):
        swap(world, tmp_path / "o", seed=-1)
    with pytest.raises(BlurkitError, match="--limit"):
        swap(world, tmp_path / "o", limit=0)
    with pytest.raises(DatasetLayoutError, match="no image files"):
        motion_blur_dataset(tmp_path / "empty" / "sharp", tmp_path / "o", 0, progress=False)
    with pytest.raises(BlurkitError, match="kernel sizes"):
        motion_blur_dataset(world["faces"], tmp_path / "o", 0, kernel_sizes=(8, 8), progress=False)
    assert not (tmp_path / "o").exists()  # nothing was started


def test_single_pair_dataset_swaps_with_itself(world: dict[str, Path], tmp_path: Path) -> None:
    one = tmp_path / "one"
    for d in ("sharp", "blur"):
        (one / d).mkdir(parents=True)
        shutil.copy(world["data"] / d / "p1.png", one / d / "p1.png")
    out = swap_dataset(world["model"], one, tmp_path / "o", 0, progress=False, device="cpu")
    assert manifest(out)["pairs"][0]["target_index"] == 0


def test_augment_encodes_d1_kernels_onto_d2_images(world: dict[str, Path], tmp_path: Path) -> None:
    def run(out: Path, seed: int = 0) -> Path:
        return augment_dataset(world["model"], world["data"], world["faces"], out, seed, batch_size=2,
                               progress=False, device="cpu")

    a, b, c = run(tmp_path / "a"), run(tmp_path / "b"), run(tmp_path / "c", seed=5)
    assert files(a) == files(b) and len(files(a)) == 6
    assert [e["source_index"] for e in manifest(a)["pairs"]] != [e["source_index"] for e in manifest(c)["pairs"]]
    m = manifest(a)
    assert m["kind"] == "blur-augment" and m["n"] == 3 and len(resolve_pairs(a)) == 3
    assert [Path(e["target_sharp"]).name for e in m["pairs"]] == ["a.png", "b.png", "c.png"]
    ks = KernelSpace.load(world["model"])
    e = m["pairs"][1]  # the grayscale target: read as RGB
    want = transfer_images(ks, read_image(e["source_sharp"]), read_image(e["source_blur"]),
                           read_image(e["target_sharp"]))
    got = read_image(a / "blur" / e["name"])
    assert got.shape == (24, 24, 3) and np.abs(got - want).max() <= 0.5 / 255 + 1e-5
    # a paired dataset as images_from: its sharp images are used
    d = augment_dataset(world["model"], world["data"], world["data"], tmp_path / "d", 0, progress=False, device="cpu")
    assert manifest(d)["n"] == 5


def test_motion_blur_is_seeded_and_regenerable(world: dict[str, Path], tmp_path: Path) -> None:
    a = motion_blur_dataset(world["faces"], tmp_path / "a", 7, batch_size=2, kernel_sizes=(5, 11), progress=False)
    b = motion_blur_dataset(world["faces"], tmp_path / "b", 7, batch_size=2, kernel_sizes=(5, 11), progress=False)
    c = motion_blur_dataset(world["faces"], tmp_path / "c", 8, batch_size=2, kernel_sizes=(5, 11), progress=False)
    assert files(a) == files(b) and files(a) != files(c)
    m = manifest(a)
    assert m["kind"] == "motion-blur" and m["settings"]["kernel_sizes"] == [5, 11] and len(resolve_pairs(a)) == 3
    for e in m["pairs"]:
        k = seeded_motion_kernel(*e["kernel_seed"], sizes=(5, 11))
        assert k.shape == (e["kernel_size"],) * 2 and e["kernel_size"] in (5, 7, 9, 11)
        x = read_image(e["target_sharp"])
        want = convolve(torch.from_numpy(x).permute(2, 0, 1)[None], k)[0].permute(1, 2, 0).clamp(0, 1).numpy()
        assert np.abs(read_image(a / "blur" / e["name"]) - want).max() <= 0.5 / 255 + 1e-5
    # resuming a motion-blur folder with a lost output restores it byte for byte
    (a / "sharp" / "00002.png").unlink()
    motion_blur_dataset(world["faces"], a, 7, batch_size=2, kernel_sizes=(5, 11), progress=False)
    assert files(a) == files(b)


def test_cli_commands(world: dict[str, Path], tmp_path: Path) -> None:
    app, data_app = typer.Typer(), typer.Typer()
    app.add_typer(data_app, name="data")
    register(data_app)
    runner = CliRunner()
    res = runner.invoke(app, ["data", "swap", "--model", str(world["model"]), "--data", str(world["data"]),
                              "--out", str(tmp_path / "s"), "--seed", "2", "--limit", "2", "--threads", "1",
                              "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "2 of 5 pairs" in res.output and manifest(tmp_path / "s")["seed"] == 2
    res = runner.invoke(app, ["data", "swap", "--model", str(world["model"]), "--data", str(world["data"]),
                              "--out", str(tmp_path / "n"), "--limit", "1", "--noise", "hide-like", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert manifest(tmp_path / "n")["settings"]["noise"] == "hide-like"
    res = runner.invoke(app, ["data", "augment", "-m", str(world["model"]), "--kernels-from", str(world["data"]),
                              "--images-from", str(world["faces"]), "-o", str(tmp_path / "a"), "--seed", "1",
                              "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "3 of 3 pairs" in res.output
    res = runner.invoke(app, ["data", "motion-blur", "--images-from", str(world["faces"]), "-o", str(tmp_path / "m"),
                              "--seed", "4", "--kernel-sizes", "3", "7"])
    assert res.exit_code == 0, res.output
    assert manifest(tmp_path / "m")["settings"]["kernel_sizes"] == [3, 7]
    res = runner.invoke(app, ["data", "swap", "--model", str(world["model"]), "--data", "nonesuch",
                              "--out", str(tmp_path / "x")])
    assert isinstance(res.exception, UnknownNameError)
    for cmd in ("swap", "augment", "motion-blur"):
        res = runner.invoke(app, ["data", cmd, "--help"])
        assert res.exit_code == 0 and "--out" in res.output


def test_swap_of_a_named_default_set(world: dict[str, Path], tmp_path: Path, pip_photo_manifest: Path) -> None:
    from blurkit.data.default_data import build_default

    build_default("smoke", domains=("reds-like",), progress=False)
    out = swap_dataset(world["model"], "reds-like", tmp_path / "o", 0, split="train", profile="smoke", limit=2,
                       progress=False, device="cpu")
    m = manifest(out)
    assert m["settings"]["data"] == "reds-like" and m["settings"]["split"] == "train"
    assert m["settings"]["profile"] == "smoke" and m["n"] == 2 and m["n_total"] == len(resolve_pairs("reds-like"))
    with pytest.raises(BlurkitError, match="split was 'train', now 'test'"):
        swap_dataset(world["model"], "reds-like", out, 0, split="test", progress=False)


def test_swap_with_the_domain_noise(world: dict[str, Path], tmp_path: Path) -> None:
    plain = swap(world, tmp_path / "plain")
    a = swap(world, tmp_path / "a", noise="gopro-like", batch_size=2)
    b = swap(world, tmp_path / "b", noise="gopro-like", batch_size=4)
    assert files(a) == files(b)  # the noise of an output does not depend on its batch
    assert "noise" not in manifest(plain)["settings"] and manifest(a)["settings"]["noise"] == "gopro-like"
    fa, fp = files(a), files(plain)
    assert all(fa[k] == fp[k] for k in fa if k.startswith("sharp/"))
    assert all(fa[k] != fp[k] for k in fa if k.startswith("blur/"))
    with pytest.raises(StaleError, match="noise"):  # a folder swapped without noise is not continued with it
        swap(world, tmp_path / "plain", noise="gopro-like")
    with pytest.raises(UnknownNameError, match="unknown domain 'nonesuch'"):
        swap(world, tmp_path / "c", noise="nonesuch")
    assert not (tmp_path / "c").exists()
