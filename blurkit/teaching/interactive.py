"""Interactive blind deconvolution for teaching (notebook 09): pick an image, a blur, a solver and its weights,
and watch the estimate x, the kernel k and the loss and PSNR curves evolve.

* :func:`make_problem` builds a (sharp, blurry) pair: a test photo blurred by one of the eight uniform kernels
  (``"kernel 1"`` .. ``"kernel 8"``, :func:`blurkit.data.kernels.eight_kernels`), or the photo's test pair of a default
  domain (``reds-like``, ``gopro-like``, ``hide-like``, ``uniform-8``).
* :func:`run` solves it with our method (:func:`blurkit.deblur.solver.deblur`, presets ``smoke``/``fast``/``paper``),
  SelfDeblur (:func:`blurkit.baselines.selfdeblur.selfdeblur`) or the classical ℓ0 MAP baseline.
* :class:`LivePlot` is a solver callback drawing four panels; :func:`summary_figure` the final comparison;
  :func:`controls` the ipywidgets front end (building it runs nothing).

λ, γ and α are the weights of Eq. 6 and only change our method; SelfDeblur and the classical baseline ignore them.
Everything also runs headless (Agg backend, no display needed).
"""

from __future__ import annotations

import dataclasses
import functools
import html
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd
import torch

from blurkit.baselines.classical import blind_deconvolve
from blurkit.baselines.selfdeblur import SELFDEBLUR_PRESETS, selfdeblur
from blurkit.data.default_data import DEFAULT_DOMAINS, build_default, default_set
from blurkit.data.images import read_image
from blurkit.data.kernels import convolve, eight_kernels
from blurkit.data.photos import Photo, available, load_manifest, load_photo, prepare_photos, select
from blurkit.deblur import metrics
from blurkit.deblur.deblur_config import DEBLUR_PRESETS
from blurkit.deblur.psf import estimate_field
from blurkit.deblur.solver import deblur
from blurkit.errors import UnknownNameError
from blurkit.space.kernel_space import MODELS_DIR, KernelSpace
from blurkit.teaching.live_plot import LivePlot, code_image, show_figure, summary_figure  # noqa: F401 (public API)
from blurkit.teaching.live_plot import to_hwc as _to_hwc

if TYPE_CHECKING:
    import ipywidgets

KERNEL_BLURS: tuple[str, ...] = tuple(f"kernel {i}" for i in range(1, 9))
BLURS: tuple[str, ...] = (*KERNEL_BLURS, *DEFAULT_DOMAINS)
SOLVERS: tuple[str, ...] = ("ours-smoke", "ours-fast", "ours-fast-adam", "ours-paper", "selfdeblur-smoke",
                            "selfdeblur-fast", "classical")
#: Trace rows aimed at per run (``log_every = steps // LOG_POINTS``): smooth curves, cheap logging.
LOG_POINTS = 40


def _choose(value: str, allowed: tuple[str, ...] | list[str], what: str) -> str:
    if value not in allowed:
        raise UnknownNameError(f"unknown {what} {value!r}; choose one of: {', '.join(map(str, allowed))}")
    return value


def model_names() -> list[str]:
    """The shipped kernel spaces (``blurkit/models/*.pt``, not their code estimators) plus the alias ``default``."""
    return ["default", *sorted(p.stem for p in MODELS_DIR.glob("*.pt") if not p.name.endswith(".estimator.pt"))]


def _test_photos() -> list[Photo]:
    """The test-split photos the problems are cut from (manifest order)."""
    return select(load_manifest(), "test")


def image_choices() -> list[str]:
    """Ids of the prepared test photos (all test photos when none is prepared yet); reads no image."""
    ids = [p.id for p in available(_test_photos())]
    return ids or [p.id for p in _test_photos()]


def _image_id(image: str | int) -> str:
    """A test photo id from an id or an index into :func:`image_choices`; the error lists the choices."""
    if isinstance(image, (int, np.integer)) and not isinstance(image, bool):
        ready = image_choices()
        if not 0 <= image < len(ready):
            raise ValueError(f"image index {image} out of range 0..{len(ready) - 1}; or one of: {', '.join(ready)}")
        return ready[image]
    return _choose(str(image), [p.id for p in _test_photos()], "test image")


@dataclass
class Problem:
    """A blind-deblurring exercise.

    Attributes:
        sharp, blurry: ``(1, 3, H, W)`` float tensors in [0, 1].
        true_kernel: the uniform kernel ``(ks, ks)`` when known (kernel blurs and ``uniform-8``), else None.
        image, blur: the names it was made from; description: one line for titles.
    """

    sharp: torch.Tensor
    blurry: torch.Tensor
    true_kernel: np.ndarray | None
    image: str
    blur: str
    description: str

    @property
    def psnr_blurry(self) -> float:
        """PSNR of the blurry image against the sharp one (the bar to beat)."""
        return metrics.psnr(_to_hwc(self.blurry), _to_hwc(self.sharp))


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    """Shape: ``(H, W, C)`` -> ``(1, C, H, W)`` float32."""
    return torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]


def _center(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(size, h, w)
    return img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]


def make_problem(image: str | int = 0, blur: str = "kernel 1", profile: str = "smoke", size: int = 64,
                 seed: int = 0, noise: float = 0.0) -> Problem:
    """A test photo (id, or index into :func:`image_choices`) blurred by ``blur``.

    Kernel blurs: centre crop of ``size`` px of the prepared photo (native scale, as the default data), convolved
    with reflect padding, plus Gaussian noise of std ``noise`` (seeded). Domain blurs: the photo's first test
    pair of that default set (built for ``profile`` when missing), centre-cropped to ``size`` (at most the pair).

    Shape:
        out ``sharp``, ``blurry`` ``(1, 3, s, s)`` with ``s = min(size, available)``.
    """
    _choose(blur, BLURS, "blur")
    image = _image_id(image)
    photo = next(p for p in _test_photos() if p.id == image)
    if not isinstance(size, int) or size < 16:
        raise ValueError(f"size must be an integer >= 16 px, got {size!r}")
    if blur in KERNEL_BLURS:
        prepare_photos(photos=[photo])
        sharp = _to_tensor(_center(load_photo(photo), size))
        k = eight_kernels()[int(blur.split()[1]) - 1]
        y = convolve(sharp, k)
        if noise > 0:
            y = y + noise * torch.randn(y.shape, generator=torch.Generator().manual_seed(seed))
        return Problem(sharp, y.clamp(0, 1), k, photo.id, blur,
                       f"{photo.id}, {blur} ({k.shape[0]} px), {sharp.shape[-1]} px")
    build_default(profile, domains=(blur,), progress=False)
    folder = default_set(blur, "test", profile)
    pairs = [p for p in json.loads((folder / "manifest.json").read_text())["pairs"] if p["source"] == photo.id]
    if not pairs:
        raise UnknownNameError(f"test image {photo.id!r} has no pair in {folder}; "
                               f"choose one of: {', '.join(image_choices())}")
    pair = pairs[0]
    sharp = _center(read_image(folder / "sharp" / pair["name"]), size)
    y = _center(read_image(folder / "blur" / pair["name"]), size)
    idx = pair["params"].get("kernel_index")
    k = eight_kernels()[idx] if idx is not None else None
    return Problem(_to_tensor(sharp), _to_tensor(y), k, photo.id, blur,
                   f"{photo.id}, {blur} test pair {pair['name']}, {sharp.shape[0]} px")


@functools.lru_cache(maxsize=4)
def load_model(name: str) -> KernelSpace:
    """A shipped kernel space by name (cached)."""
    return KernelSpace.load(_choose(name, model_names(), "model"))


@dataclass
class RunResult:
    """What :func:`run` returns.

    Attributes:
        solver: one of :data:`SOLVERS`; x: the estimate ``(1, 3, H, W)``.
        kernel: ``(ks, ks)`` kernel image (SelfDeblur, classical, and ours where the ``fast`` preset's fallback made
            x) or ``(kdim, h, w)`` code (ours).
        psf: for ours, the PSF field of the estimated code (:func:`blurkit.deblur.psf.psf_field`), or of the
            fallback's kernel (:func:`blurkit.deblur.psf.kernel_field`), ``(H, W)``.
        trace: the solver's trace (at least ``step``, ``loss``, ``psnr``, ``time_s``).
        wall_s: seconds; metrics: ``psnr_blurry``, ``ssim_blurry``, ``psnr``, ``ssim`` against the sharp image.
    """

    solver: str
    x: torch.Tensor
    kernel: np.ndarray
    trace: pd.DataFrame
    wall_s: float
    metrics: dict[str, float]
    psf: np.ndarray | None = None


def run(problem: Problem, solver: str = "ours-fast", model: str | KernelSpace = "default", lam: float = 6e-4,
        gamma: float = 2e-2, alpha: float = 0.66, steps: int | None = None, seed: int = 0,
        callback: Callable[[dict], None] | None = None, kernel_size: int | None = None) -> RunResult:
    """Deblur ``problem.blurry`` with ``solver`` (one of :data:`SOLVERS`); ``steps=None`` keeps the preset's.

    ``kernel_size`` (SelfDeblur, classical) defaults to the true kernel's size when known, else the preset's
    (classical: 21). For ``classical``, ``steps`` are the iterations per pyramid level (default 3, Wiener final
    step); it has no live trace: ``callback`` gets its final state once. The trace logs about
    :data:`LOG_POINTS` rows, which changes nothing in the optimisation. With ``ours-fast`` (the linear x-step) γ
    sets that x-step's prior weight as ``5 γ`` (the default γ = 2e-2 gives the preset's 0.1).

    Shape:
        problem tensors ``(1, 3, H, W)`` -> ``x`` ``(1, 3, H, W)``.
    """
    _choose(solver, SOLVERS, "solver")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps must be None or an integer >= 1, got {steps!r}")
    y, ref = problem.blurry, problem.sharp
    ks = kernel_size or (problem.true_kernel.shape[0] if problem.true_kernel is not None else None)
    family, _, preset = solver.partition("-")
    psf = None
    t0 = time.perf_counter()
    if family == "ours":
        net = model if isinstance(model, KernelSpace) else load_model(model)
        cfg = DEBLUR_PRESETS[preset]
        n = steps or cfg.steps
        cfg = cfg.replace(lam=lam, gamma=gamma, alpha=alpha, steps=n, log_every=max(1, n // LOG_POINTS))
        if cfg.x_step == "linear":
            cfg = cfg.replace(linear=dataclasses.replace(cfg.linear, gamma=5 * gamma, alpha=alpha))
        res = deblur(net, y, cfg, seed=seed, reference=ref, progress=False, callback=callback)
        fallback = res.first_psf  # where not None, the fallback's one kernel made x, not the code
        x, trace = res.x, res.trace
        kernel = (res.k[0] if fallback is None else fallback).cpu().numpy()
        psf = estimate_field(net, res.k, tuple(y.shape[-2:]), max(8, min(y.shape[-2:]) // 4), kernel=fallback)
    elif family == "selfdeblur":
        cfg = SELFDEBLUR_PRESETS[preset]
        n = steps or cfg.steps
        cfg = dataclasses.replace(cfg, steps=n, log_every=max(1, n // LOG_POINTS),
                                  kernel_size=ks or cfg.kernel_size)
        res = selfdeblur(y, cfg, seed=seed, reference=ref, progress=False, callback=callback)
        x, kernel, trace = res.x, res.kernel[0].cpu().numpy(), res.trace
    else:
        n = steps or 3
        out = blind_deconvolve(_to_hwc(y), kernel_size=ks or 21, iterations=n, final="wiener", seed=seed)
        x, kernel = _to_tensor(np.clip(out.x, 0, 1)), out.kernel
        row = {"image": 0, "step": n, "loss": float("nan"), "time_s": out.wall_s,
               "psnr": metrics.psnr(_to_hwc(x), _to_hwc(ref))}
        trace = pd.DataFrame([row])
        if callback is not None:
            callback({"row": row, "x": x, "k": torch.from_numpy(kernel)[None]})
    wall = time.perf_counter() - t0
    sharp_np, x_np, y_np = _to_hwc(ref), _to_hwc(x), _to_hwc(y)
    scores = {"psnr_blurry": metrics.psnr(y_np, sharp_np), "ssim_blurry": metrics.ssim(y_np, sharp_np),
              "psnr": metrics.psnr(x_np, sharp_np), "ssim": metrics.ssim(x_np, sharp_np)}
    return RunResult(solver, x.detach(), kernel, trace, wall, scores, psf)


def controls(image: str | int = 0, blur: str = "kernel 1", solver: str = "ours-fast", model: str = "default",
             lam: float = 6e-4, gamma: float = 2e-2, alpha: float = 0.66, steps: int | None = None,
             profile: str = "smoke", seed: int = 0, size: int = 64) -> "ipywidgets.VBox":
    """The widgets: image, blur, solver and model menus, λ, γ (log), α and steps sliders, and a Run button that
    calls :func:`make_problem`, :func:`run` with a live :class:`LivePlot`, then shows :func:`summary_figure`.
    Building them runs nothing. ``box.widgets`` holds the widgets by name, ``box.last`` the last problem/result.
    """
    import ipywidgets as W

    style = {"description_width": "70px"}

    def menu(name: str, options: list[str] | tuple[str, ...], value: str) -> W.Dropdown:
        return W.Dropdown(options=options, value=_choose(value, options, name), description=name, style=style)

    def log_slider(name: str, value: float, lo: int, hi: int) -> W.FloatLogSlider:
        return W.FloatLogSlider(value=value, base=10, min=lo, max=hi, step=0.1, description=name,
                                readout_format=".1e", style=style)

    w = {"image": menu("image", image_choices(), _image_id(image)), "blur": menu("blur", BLURS, blur),
         "solver": menu("solver", SOLVERS, solver), "model": menu("model", model_names(), model),
         "lam": log_slider("λ", lam, -6, -1), "gamma": log_slider("γ", gamma, -4, 0),
         "alpha": W.FloatSlider(value=alpha, min=0.3, max=1.0, step=0.01, description="α", style=style),
         "steps": W.IntSlider(value=steps or 0, min=0, max=5000, step=10, description="steps (0: preset)", style=style),
         "run": W.Button(description="Run", button_style="primary", icon="play")}
    status, live_out, summary_out = W.HTML("press Run"), W.Output(), W.Output()
    box = W.VBox([W.HBox([w["image"], w["blur"]]), W.HBox([w["solver"], w["model"]]),
                  W.HBox([w["lam"], w["gamma"]]), W.HBox([w["alpha"], w["steps"]]),
                  W.HBox([w["run"], status]), live_out, summary_out])
    box.widgets, box.last = w, {}

    def on_solver(_: object = None) -> None:  # the model and Eq. 6's weights only matter for our method
        for name in ("model", "lam", "gamma", "alpha"):
            w[name].disabled = not w["solver"].value.startswith("ours")

    w["solver"].observe(on_solver, names="value")
    on_solver()

    def on_click(_: object) -> None:
        w["run"].disabled = True
        status.value = "running..."
        summary_out.outputs = ()
        try:
            problem = make_problem(w["image"].value, w["blur"].value, profile, size=size, seed=seed)
            live = LivePlot(True, live_out, psnr_blurry=problem.psnr_blurry, title=problem.description)
            result = run(problem, w["solver"].value, w["model"].value, lam=w["lam"].value, gamma=w["gamma"].value,
                         alpha=w["alpha"].value, steps=w["steps"].value or None, seed=seed, callback=live)
            live.show()  # the final state, whatever the throttling skipped
            box.last.update(problem=problem, result=result, live=live)
            status.value = (f"done in {result.wall_s:.1f} s: PSNR {result.metrics['psnr_blurry']:.2f} -> "
                            f"{result.metrics['psnr']:.2f} dB")
            show_figure(summary_figure(problem, result), summary_out, dpi=100)
        except Exception as exc:  # noqa: BLE001 - shown to the student in the status line
            status.value = html.escape(f"error: {type(exc).__name__}: {exc}")
        finally:
            w["run"].disabled = False

    w["run"].on_click(on_click)
    return box
