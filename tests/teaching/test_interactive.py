"""Interactive blind deconvolution (notebook 09): problems, solvers, live plot, summary figure, widgets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from blurkit.data.kernels import convolve, eight_kernels
from blurkit.errors import BlurkitError, UnknownNameError
from blurkit.space.kernel_space import KernelSpace
from blurkit.teaching import interactive as ia
from imagegen import rand_rgb

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_model() -> KernelSpace:
    torch.manual_seed(0)
    return KernelSpace("smoke").eval()


def _problem(size: int = 24, k: int = 0) -> ia.Problem:
    """A synthetic problem (no data needed): a smooth random image blurred by one of the eight kernels."""
    sharp = torch.from_numpy(rand_rgb(size, size, seed=1).astype(np.float32) / 255).permute(2, 0, 1)[None]
    kernel = eight_kernels()[k]
    return ia.Problem(sharp, convolve(sharp, kernel).clamp(0, 1), kernel, "rand", f"kernel {k + 1}", "random image")


def test_make_problem_kernel_blur(pip_photo_manifest: Path) -> None:
    p = ia.make_problem("skimage-chelsea", "kernel 3", size=32)
    assert p.sharp.shape == p.blurry.shape == (1, 3, 32, 32)
    assert p.true_kernel is not None and np.array_equal(p.true_kernel, eight_kernels()[2])
    assert torch.allclose(p.blurry, convolve(p.sharp, p.true_kernel).clamp(0, 1))
    assert "skimage-chelsea" in p.description and "kernel 3" in p.description
    by_index = ia.make_problem(0, "kernel 3", size=32)  # index into the prepared test photos
    assert by_index.image == ia.image_choices()[0] and torch.equal(by_index.sharp, p.sharp)
    noisy = ia.make_problem("skimage-chelsea", "kernel 3", size=32, noise=0.02, seed=1)
    assert not torch.equal(noisy.blurry, p.blurry) and noisy.blurry.min() >= 0 and noisy.blurry.max() <= 1


def test_make_problem_domain_blur(pip_photo_manifest: Path) -> None:
    p = ia.make_problem("sklearn-flower", "uniform-8", "smoke", size=48)
    assert p.sharp.shape == p.blurry.shape == (1, 3, 48, 48)
    assert p.true_kernel is not None and any(np.array_equal(p.true_kernel, k) for k in eight_kernels())
    whole = ia.make_problem("sklearn-flower", "uniform-8", "smoke", size=1000)  # capped at the pair's size
    assert whole.sharp.shape == (1, 3, 64, 64) and not torch.equal(whole.sharp, whole.blurry)


def test_bad_names_list_the_choices(pip_photo_manifest: Path) -> None:
    with pytest.raises(UnknownNameError, match="kernel 8.*reds-like"):
        ia.make_problem("skimage-chelsea", "kernel 9")
    with pytest.raises(UnknownNameError, match="skimage-chelsea"):
        ia.make_problem("no-such-photo", "kernel 1")
    with pytest.raises(UnknownNameError, match="skimage-chelsea"):
        ia.make_problem("skimage-astronaut", "kernel 1")  # a training photo is not offered
    with pytest.raises(ValueError, match="out of range"):
        ia.make_problem(99, "kernel 1")
    with pytest.raises(ValueError, match="size"):
        ia.make_problem("skimage-chelsea", "kernel 1", size=8)
    p = _problem()
    with pytest.raises(UnknownNameError, match="ours-fast.*classical"):
        ia.run(p, "ours-huge")
    with pytest.raises(BlurkitError, match="uniform-8"):
        ia.run(p, "ours-smoke", model="no-such-model")
    with pytest.raises(ValueError, match="steps"):
        ia.run(p, "selfdeblur-smoke", steps=0)


@pytest.mark.parametrize("solver", ["ours-smoke", "selfdeblur-smoke", "classical"])
def test_run_smoke_solvers(solver: str, tiny_model: KernelSpace) -> None:
    p = _problem()
    live = ia.LivePlot()
    r = ia.run(p, solver, tiny_model, lam=1e-3, gamma=1e-2, alpha=0.8, steps=3, callback=live)
    assert r.solver == solver and r.x.shape == p.sharp.shape and r.wall_s > 0
    assert set(r.metrics) == {"psnr_blurry", "ssim_blurry", "psnr", "ssim"}
    assert all(np.isfinite(v) for v in r.metrics.values())
    assert {"step", "loss", "psnr"} <= set(r.trace.columns) and r.trace.step.iloc[-1] == 3
    assert len(live.rows) == len(r.trace) and live.x.shape == (24, 24, 3) and live.redraws == 0  # headless
    if solver == "ours-smoke":
        assert r.kernel.shape == (tiny_model.config.kdim, 1, 1)
        assert r.psf.shape == p.sharp.shape[-2:] and r.psf.max() == pytest.approx(1.0)  # the code's PSF field
    else:  # the true kernel's size by default
        assert r.kernel.shape == p.true_kernel.shape and r.kernel.min() >= 0 and abs(r.kernel.sum() - 1) < 1e-4
    fig = live.draw()
    assert isinstance(fig, Figure) and len(fig.axes) == 4 and live.redraws == 1
    summary = ia.summary_figure(p, r)
    assert len(summary.axes) == 7


def test_run_with_a_shipped_model_by_name() -> None:
    r = ia.run(_problem(size=16), "ours-smoke", "uniform-8", steps=1)
    assert r.kernel.ndim == 3 and np.isfinite(r.metrics["psnr"])
    assert "uniform-8" in ia.model_names() and not any("estimator" in m for m in ia.model_names())


def test_fast_with_the_shipped_estimator_and_its_psf_in_the_summary() -> None:
    p = _problem()
    r = ia.run(p, "ours-fast", "uniform-8")
    assert list(r.trace.phase)[:2] == ["start", "solve"] and np.isfinite(r.metrics["psnr"])
    fig = ia.summary_figure(p, r)
    assert any(ax.get_title() == "estimate: PSF field of the code" for ax in fig.axes)


def test_liveplot_records_and_redraws_when_interactive() -> None:
    live = ia.LivePlot(interactive=True, every=2, min_interval_s=0.0, psnr_blurry=20.0, title="t")
    for step, k in enumerate([torch.rand(1, 16, 1, 2), torch.rand(1, 7, 7), torch.rand(1, 7, 7)]):
        live({"row": {"step": step, "loss": 1.0 / (step + 1), "psnr": 20.0 + step}, "x": torch.rand(1, 1, 8, 8),
              "k": k})
    assert [r["step"] for r in live.rows] == [0, 1, 2] and live.x.shape == (8, 8, 3) and live.k.shape == (1, 7, 7)
    assert live.redraws == 1  # every 2nd call
    assert ia.code_image(np.zeros((1, 128, 2, 3))).shape == (8, 16)
    assert ia.code_image(np.zeros((7, 1, 1))).shape == (1, 7)


def test_show_figure_fills_an_output_widget_and_is_a_no_op_outside_ipython(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython
    import ipywidgets

    out, fig = ipywidgets.Output(), ia.LivePlot().draw()
    ia.show_figure(fig, out)  # no IPython shell here: nothing happens
    assert out.outputs == ()
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    ia.show_figure(fig, out)
    assert len(out.outputs) == 1 and {"image/png", "text/plain"} <= set(out.outputs[0]["data"])


def test_summary_figure_without_a_true_kernel() -> None:
    p = _problem()
    p.true_kernel = None
    r = ia.RunResult("classical", p.blurry, np.ones((5, 5)) / 25, ia.pd.DataFrame(columns=["step", "loss", "psnr"]),
                     0.1, {"psnr_blurry": 20.0, "ssim_blurry": 0.5, "psnr": 21.0, "ssim": 0.6})
    assert isinstance(ia.summary_figure(p, r), Figure)


def test_controls_build_without_running_and_wire_the_button(pip_photo_manifest: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple] = []
    monkeypatch.setattr(ia, "make_problem", lambda *a, **kw: calls.append(("problem", a, kw)) or _problem())

    def fake_run(problem: ia.Problem, solver: str, model: str, **kw: object) -> ia.RunResult:
        calls.append(("run", solver, model, kw))
        return ia.RunResult(solver, problem.blurry, problem.true_kernel, ia.pd.DataFrame({"step": [0], "loss": [1.0],
                            "psnr": [20.0]}), 0.1, {"psnr_blurry": 20.0, "ssim_blurry": 0.5, "psnr": 21, "ssim": 0.6})

    monkeypatch.setattr(ia, "run", fake_run)
    box = ia.controls(image="skimage-chelsea", blur="reds-like", solver="selfdeblur-smoke", model="uniform-8")
    w = box.widgets
    assert calls == [] and box.last == {}
    assert w["blur"].value == "reds-like" and "kernel 1" in w["blur"].options and "classical" in w["solver"].options
    assert w["lam"].value == pytest.approx(6e-4) and w["steps"].value == 0
    assert w["lam"].disabled and w["model"].disabled  # SelfDeblur ignores them
    w["solver"].value = "ours-smoke"
    assert not w["lam"].disabled and not w["model"].disabled
    w["solver"].value = "selfdeblur-smoke"
    w["gamma"].value, w["steps"].value = 1e-2, 20
    w["run"].click()
    assert [c[0] for c in calls] == ["problem", "run"]
    assert calls[0][1][:2] == ("skimage-chelsea", "reds-like")
    assert calls[1][1:3] == ("selfdeblur-smoke", "uniform-8")
    assert calls[1][3]["gamma"] == pytest.approx(1e-2) and calls[1][3]["steps"] == 20
    assert box.last["result"].solver == "selfdeblur-smoke" and not w["run"].disabled
    with pytest.raises(UnknownNameError, match="ours-fast"):
        ia.controls(solver="nope")
