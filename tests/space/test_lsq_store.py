"""The store of least-squares tile kernels (blurkit.space.lsq_store): each tile is estimated once per machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from blurkit.space import lsq_extractor, lsq_store
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.netconfig import net_preset

pytestmark = pytest.mark.usefixtures("one_thread")
S = net_preset("smoke-lsq").basis_size


def _pair(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, 128, 128, generator=g)
    y = torch.nn.functional.avg_pool2d(x, 5, 1, 2)  # a 5 px box: any blur will do
    return x, y


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many tiles each call of the least-squares solver was given. The solver is replaced by a cheap stand-in
    (a kernel that depends on the tiles' means): these tests are about the store, not the estimate."""
    calls: list[int] = []

    def stand_in(x: torch.Tensor, y: torch.Tensor, size: int, **_: object) -> torch.Tensor:
        calls.append(len(x))
        shift = x.mean(dim=(1, 2, 3)) - y.mean(dim=(1, 2, 3))  # (N,)
        return torch.softmax(shift[:, None] * torch.arange(size * size), dim=1).view(-1, size, size)

    monkeypatch.setattr(lsq_extractor, "lsq_kernel", stand_in)
    return calls


def _model() -> KernelSpace:
    torch.manual_seed(0)
    return KernelSpace("smoke-lsq").eval()


def test_a_tile_is_estimated_once_and_read_back_exactly(counted: list[int]) -> None:
    model, (x, y) = _model(), _pair(0)
    with torch.no_grad():
        first = model.encode(x, y)
        again = model.encode(x, y)
    assert counted == [1] and torch.equal(first, again)
    assert len(list(lsq_store.store_path("00").parent.parent.rglob("*.pt"))) == 1


def test_a_batch_computes_only_the_tiles_it_has_not_met(counted: list[int]) -> None:
    model, (xa, ya), (xb, yb) = _model(), _pair(0), _pair(1)
    with torch.no_grad():
        alone = model.G.estimate(xb, yb)
        both = model.G.estimate(torch.cat([xa, xb]), torch.cat([ya, yb]))
    assert counted == [1, 1] and torch.equal(both[1], alone[0])


def test_another_tone_curve_or_a_bad_file_is_computed_again(counted: list[int]) -> None:
    model, (x, y) = _model(), _pair(0)
    with torch.no_grad():
        first = model.G.estimate(x, y)
        model.F.tone.logits.add_(0.1)  # the estimate is made in the tone curve's domain: another curve, another key
        model.G.estimate(x, y)
    assert counted == [1, 1]
    files = list(lsq_store.store_path("00").parent.parent.rglob("*.pt"))
    assert len(files) == 2
    for f in files:
        f.write_bytes(b"not a tensor")
    with torch.no_grad():
        model.F.tone.logits.sub_(0.1)
        torch.testing.assert_close(model.G.estimate(x, y), first, rtol=0, atol=0)
    assert counted == [1, 1, 1]


def test_it_can_be_turned_off_and_survives_a_read_only_store(counted: list[int],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    model, (x, y) = _model(), _pair(0)
    monkeypatch.setenv(lsq_store.ENV, "0")
    with torch.no_grad():
        model.G.estimate(x, y)
        model.G.estimate(x, y)
    assert counted == [1, 1] and not lsq_store.store_path("00").parent.parent.exists()
    monkeypatch.delenv(lsq_store.ENV)

    def refuse(path: Path):  # type: ignore[no-untyped-def]
        raise OSError("read-only")

    monkeypatch.setattr(lsq_store, "atomic_path", refuse)
    with torch.no_grad():
        k = model.G.estimate(x, y)
    assert k.shape == (1, 1, 1, S, S) and counted == [1, 1, 1]


def test_the_bench_times_the_store_off_empty_and_full(pip_photo_manifest: Path, tmp_path: Path) -> None:
    from blurkit.data.default_data import build_default
    from blurkit.experiments.bench import bench_lsq_store

    build_default("smoke", domains=("reds-like",), progress=False)
    torch.manual_seed(0)
    path = KernelSpace("smoke-lsq").save(tmp_path / "lsq.pt")
    df = bench_lsq_store(tmp_path / "bench", model=str(path), profile="smoke", n=1)
    assert list(df.case) == ["store off, unpadded FFT grid", "store off", "empty store", "from the store"]
    assert df.same_codes.iloc[1:].all() and df.speedup.iloc[0] == 1.0
    # against the unpadded grid the kernels agree to a float32 ulp (test_kernel_lsq); the codes' log amplifies that
    # on taps near 0, so the bench reports the difference rather than bounding it here
    assert df.max_abs_diff.iloc[0] == 0.0 and bool(np.isfinite(df.max_abs_diff).all())
    assert (tmp_path / "bench" / "lsq_store.meta.json").is_file()
    assert not lsq_store.store_root().exists()  # the bench's store was a temporary folder
    with pytest.raises(ValueError, match="needs a g_lsq kernel space"):
        bench_lsq_store(tmp_path / "bench", model=str(KernelSpace("smoke").save(tmp_path / "plain.pt")),
                        profile="smoke", n=1)


def test_a_folder_in_the_variable_holds_the_store(counted: list[int], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(lsq_store.ENV, str(tmp_path / "store"))
    model, (x, y) = _model(), _pair(0)
    with torch.no_grad():
        model.G.estimate(x, y)
        model.G.estimate(x, y)
    assert counted == [1] and len(list((tmp_path / "store").rglob("*.pt"))) == 1
