"""The ladder's non-blind rows: G's code (``true_code``) and the retrieved code (``retrieved_code``)."""

from __future__ import annotations

import pytest
import torch

from blurkit.deblur.retrieval import retrieve_kernel
from blurkit.experiments.nonblind_rows import RETRIEVED_CODE, TRUE_CODE_XSTEP, method_true_code
from blurkit.space.kernel_space import KernelSpace

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
