"""The ladder's non-blind rows: G's code (``true_code``) and the retrieved code (``retrieved_code``)."""

from __future__ import annotations

import pytest
import torch

from blurkit.deblur.retrieval import retrieve_kernel
import dataclasses

from blurkit.experiments.nonblind_rows import (
    RETRIEVED_CODE,
    TRUE_CODE_VIEWS,
    TRUE_CODE_XSTEP,
    has_cell_kernels,
    kernel_code_deblur,
    kernel_fit_code,
    lsq_cell_kernels,
    lsq_code_deblur,
    method_true_code,
)
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.losses import kernel_error
from blurkit.space.netconfig import net_preset

pytestmark = pytest.mark.usefixtures("one_thread")


def _pair() -> tuple[KernelSpace, torch.Tensor, torch.Tensor]:
    """A tiny untrained model and a pair it blurred with a code that G does not return."""
    torch.manual_seed(0)
    model = KernelSpace("smoke").eval()
    g = torch.Generator().manual_seed(1)
    x = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 36, 36, generator=g), 5, 1)  # (1, 3, 32, 32), smooth
    with torch.no_grad():
        k = model.encode(x, x)
        k_star = k + 3.0 * torch.randn(k.shape, generator=g)
        y = model.apply(x, k_star).clamp(0, 1)
    return model, x, y


def test_retrieval_fits_y_better_than_g() -> None:
    model, x, y = _pair()
    res = retrieve_kernel(model, x, y, RETRIEVED_CODE.replace(steps=20, log_every=20), progress=False)
    assert float(res.psnr[0]) > float(res.psnr_start[0])  # the refined code explains y better than G(x, y)


def test_rows_run_and_differ() -> None:
    model, x, y = _pair()
    g_row, _ = method_true_code(TRUE_CODE_XSTEP)(y, model, 0, x)
    r_row, wall = method_true_code(TRUE_CODE_XSTEP, RETRIEVED_CODE.replace(steps=20, log_every=20))(y, model, 0, x)
    assert g_row.shape == r_row.shape == y.shape and wall > 0
    assert not torch.equal(g_row, r_row)  # a different code gives a different deconvolution
    assert RETRIEVED_CODE.k_param == "code" and RETRIEVED_CODE.steps == 100


def test_true_code_x8_averages_the_eight_views() -> None:
    from blurkit.deblur.linear_xstep import linear_xstep
    from blurkit.deblur.self_ensemble import unview, view

    model, x, y = _pair()
    one, _ = method_true_code(TRUE_CODE_XSTEP, views=1)(y, model, 0, x)
    plain, _ = method_true_code(TRUE_CODE_XSTEP)(y, model, 0, x)
    eight, wall = method_true_code(TRUE_CODE_XSTEP, views=TRUE_CODE_VIEWS)(y, model, 0, x)
    assert torch.equal(one, plain) and eight.shape == y.shape and wall > 0 and TRUE_CODE_VIEWS == 8
    with torch.no_grad():  # each view with its own code, G(view(x), view(y)), turned back
        views = [unview(linear_xstep(model, view(y, i), model.encode(view(x, i), view(y, i)),
                                     config=TRUE_CODE_XSTEP), i) for i in range(8)]
    torch.testing.assert_close(eight, torch.stack(views).mean(0))
    assert float((eight - plain).abs().max()) > 1e-3  # G is not equivariant, so the views disagree (6e-3 here)


def _kernel_pair() -> tuple[KernelSpace, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A tiny kernel-head model whose code-to-kernel map is random (an untrained one maps every code to a delta), a
    pair it blurred with a code G does not return, and that code's cell kernels (the truth)."""
    torch.manual_seed(0)
    model = KernelSpace(dataclasses.replace(net_preset("smoke-kernel"), code_stride=32)).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        model.F.dyn.to_kernel.weight.copy_(0.5 * torch.randn(model.F.dyn.to_kernel.weight.shape, generator=g))
    x = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 68, 68, generator=g), 5, 1)  # (1, 3, 64, 64), smooth
    with torch.no_grad():
        k_star = model.encode(x, x) + 2.0 * torch.randn(model.encode(x, x).shape, generator=g)
        y = model.apply(x, k_star).clamp(0, 1)
        kernels = model.cell_kernels(k_star)[0, :2, :2]
    return model, x, y, kernels


def test_kernel_fit_code_recovers_the_cell_kernels() -> None:
    model, x, y, kernels = _kernel_pair()
    assert kernels.shape == (2, 2, 15, 15) and has_cell_kernels(model, kernels, 64)
    with torch.no_grad():
        start = float(kernel_error(model.cell_kernels(model.encode(x, y))[:, :2, :2], kernels[None]))
    code = kernel_fit_code(model, x, y, kernels)  # the ladder's settings
    with torch.no_grad():
        end = float(kernel_error(model.cell_kernels(code)[:, :2, :2], kernels[None]))
    assert start > 0.1 and end < 0.01 * start  # G's kernels are far off; the fitted code's match the truth
    out = kernel_code_deblur(model, y, x, kernels, TRUE_CODE_XSTEP)
    assert out.shape == y.shape and bool(out.isfinite().all())


def test_kernel_fit_code_needs_cell_kernels() -> None:
    model, x, y = _pair()  # the basis head: no kernel per code cell
    kernels = torch.full((1, 1, 15, 15), 1 / 225)
    assert not has_cell_kernels(model, kernels, 32)
    with pytest.raises(ValueError, match="cell kernels of 15 px"):
        kernel_fit_code(model, x, y, kernels)
    cfg = dataclasses.replace(net_preset("smoke"), dynamic_kernel=True, basis_size=15)
    mixture = KernelSpace(cfg).eval()  # a basis head with a kernel per cell as one member of its mixture
    assert mixture.F.dyn is not None and not has_cell_kernels(mixture, kernels, 32)


def test_lsq_code_row_fits_the_least_squares_kernel_of_the_pair() -> None:
    model, x, y, kernels = _kernel_pair()
    lsq = lsq_cell_kernels(model, x, y)
    assert lsq.shape == (*model.kernel_size(64, 64), 15, 15) and torch.equal(lsq[0, 0], lsq[-1, -1])  # one per image
    assert torch.allclose(lsq.sum((-2, -1)), torch.ones(lsq.shape[:2]), atol=225 * torch.finfo(torch.float32).eps)
    # the pair's own blur is closer to the least-squares kernel than the no-blur code's kernels are
    with torch.no_grad():
        no_blur = model.cell_kernels(model.encode(y, y))[0, :2, :2]
    assert float(kernel_error(lsq[None, :2, :2], kernels[None])) < float(kernel_error(no_blur[None], kernels[None]))
    out = lsq_code_deblur(model, y, x, TRUE_CODE_XSTEP)
    assert out.shape == y.shape and bool(out.isfinite().all())
