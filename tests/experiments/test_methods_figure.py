"""Fig. 3's figure: every method's output, and the PSF of an estimated code beside its estimate."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from blurkit.experiments.deblur_report import method_ours, methods_figure  # noqa: E402
from blurkit.space.kernel_space import KernelSpace  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def test_psf_column_follows_its_method() -> None:
    rng = np.random.default_rng(0)
    pairs = [(f"{i}", rng.random((16, 16, 3)), rng.random((16, 16, 3))) for i in range(2)]
    outputs = {"blurry": [p[2] for p in pairs], "ours": [p[1] for p in pairs]}
    per = pd.DataFrame([{"image": p[0], "method": m, "psnr": 20.0, "ssim": 0.5} for p in pairs for m in outputs])
    psf = [np.eye(16), np.fliplr(np.eye(16))]
    fig = methods_figure(pairs, outputs, per, psfs={"ours": psf})
    titles = [ax.get_title() for ax in fig.axes[:4]]
    assert titles == ["blurry", "ours", "PSF (ours)", "ground truth"]
    shown = fig.axes[4 + 2].images[0].get_array()  # second row, the PSF column
    np.testing.assert_array_equal(np.asarray(shown), psf[1])
    assert len(fig.axes) == 8


def test_method_ours_keeps_its_codes() -> None:
    torch.manual_seed(0)
    model = KernelSpace("smoke").eval()
    run = method_ours("smoke")
    for seed in range(2):
        run(torch.rand(1, 3, 32, 32), model, seed, torch.rand(1, 3, 32, 32))
    assert len(run.codes) == 2 and run.codes[0].shape == (1, model.config.kdim, *model.kernel_size(32, 32))
    assert run.kernels == [None, None]  # the smoke preset has no fallback: the codes made both estimates


def test_method_ours_keeps_the_fallbacks_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where ``fast`` fell back, the kernel it deconvolved with is kept beside the code, for the figure."""
    import pandas as pd

    from blurkit.deblur.solver import DeblurResult
    from blurkit.experiments import deblur_report

    kernel = torch.full((3, 3), 1 / 9)
    answers = iter([None, [kernel]])  # DeblurResult.psf: None without a fallback, else one kernel per image

    def fake(model, y, cfg, **kwargs):  # type: ignore[no-untyped-def]
        return DeblurResult(x=y, k=torch.zeros(1), trace=pd.DataFrame(), wall_s=[0.0], psf=next(answers))

    monkeypatch.setattr(deblur_report, "deblur", fake)
    run = method_ours("fast")
    for _ in range(2):
        run(torch.rand(1, 3, 16, 16), KernelSpace("smoke"), 0, torch.rand(1, 3, 16, 16))
    assert run.kernels[0] is None and torch.equal(run.kernels[1], kernel) and len(run.codes) == 2
