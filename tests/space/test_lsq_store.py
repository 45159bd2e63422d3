"""The store of least-squares tile kernels (blurkit.space.lsq_store): each tile is estimated once per machine."""

from __future__ import annotations

from pathlib import Path

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
    """How many tiles each call of the least-squares solver was given."""
    calls: list[int] = []
    real = lsq_extractor.lsq_kernel
    monkeypatch.setattr(lsq_extractor, "lsq_kernel", lambda x, *a, **kw: calls.append(len(x)) or real(x, *a, **kw))
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
