"""Full-reference image quality metrics: PSNR, SSIM (scikit-image) and LPIPS when it can be loaded.

Images are float arrays in ``[0, 1]``, ``(H, W)`` or ``(H, W, 3)``. The prediction is clipped to ``[0, 1]``
before measuring; the reference is used as given. PSNR and SSIM use ``data_range=1.0``; SSIM of an RGB image is
the mean over channels (``channel_axis=-1``).

LPIPS (Zhang et al., CVPR 2018) needs the ``lpips`` package, torchvision and the AlexNet backbone weights,
which are downloaded on first use. Where any of that is missing :func:`lpips_status` says why and
:func:`lpips_distance` returns ``None``: no substitute value is ever reported in its place.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def _check_pair(pred: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if pred.shape != ref.shape:
        raise ValueError(f"pred and ref shapes differ: pred {pred.shape} vs ref {ref.shape}")
    if not (pred.ndim == 2 or (pred.ndim == 3 and pred.shape[-1] == 3)):
        raise ValueError(f"images must be (H, W) or (H, W, 3), got {pred.shape}")
    if min(pred.shape[:2]) < 1:
        raise ValueError(f"images must be non-empty, got {pred.shape}")
    return np.clip(pred, 0.0, 1.0), ref


def psnr(pred: np.ndarray, ref: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB (``inf`` for identical images), data range 1.

    Shape:
        pred, ref ``(H, W)`` or ``(H, W, 3)``, same shape.
    """
    p, r = _check_pair(pred, ref)
    if np.array_equal(p, r):
        return float("inf")
    return float(peak_signal_noise_ratio(r, p, data_range=1.0))


def ssim(pred: np.ndarray, ref: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004), data range 1, mean over channels for RGB.

    Images smaller than 7 px per side use the largest odd window that fits (at least 3 px).

    Shape:
        pred, ref ``(H, W)`` or ``(H, W, 3)``, same shape, each side >= 3.
    """
    p, r = _check_pair(pred, ref)
    side = min(p.shape[:2])
    if side < 3:
        raise ValueError(f"SSIM needs images of at least 3x3 px, got {p.shape}")
    win = min(7, side if side % 2 == 1 else side - 1)
    kw: dict[str, Any] = {"data_range": 1.0, "win_size": win}
    if p.ndim == 3:
        kw["channel_axis"] = -1
    return float(structural_similarity(r, p, **kw))


@functools.lru_cache(maxsize=1)
def _lpips_model() -> tuple[Any, str]:
    """(model or None, reason); built once per process."""
    try:
        import lpips  # type: ignore[import-not-found]
    except Exception as exc:  # noqa: BLE001 - any failure means "unavailable"
        return None, f"lpips not installed ({type(exc).__name__}: {exc})".splitlines()[0]
    try:
        model = lpips.LPIPS(net="alex", verbose=False)
        model.eval()
    except Exception as exc:  # noqa: BLE001
        return None, f"cannot load AlexNet weights: {type(exc).__name__}: {exc}".splitlines()[0]
    return model, "lpips available (AlexNet)"


def lpips_status() -> tuple[bool, str]:
    """Whether LPIPS can be computed here, and a one-line reason (cached per process)."""
    model, reason = _lpips_model()
    return model is not None, reason


def lpips_distance(pred: np.ndarray, ref: np.ndarray) -> float | None:
    """LPIPS (AlexNet) distance, lower is better; ``None`` when LPIPS is unavailable (see :func:`lpips_status`).

    Grayscale images are replicated to three channels.

    Shape:
        pred, ref ``(H, W)`` or ``(H, W, 3)``, same shape.
    """
    p, r = _check_pair(pred, ref)
    model, _ = _lpips_model()
    if model is None:
        return None
    import torch

    def to_t(a: np.ndarray) -> "torch.Tensor":
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=-1)
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float().unsqueeze(0) * 2 - 1

    with torch.no_grad():
        return float(model(to_t(p), to_t(r)).item())


def image_metrics(pred: np.ndarray, ref: np.ndarray) -> dict[str, float | None]:
    """``{"psnr", "ssim", "lpips"}`` for one pair; ``lpips`` is ``None`` when unavailable.

    Shape:
        pred, ref ``(H, W)`` or ``(H, W, 3)``, same shape.
    """
    return {"psnr": psnr(pred, ref), "ssim": ssim(pred, ref), "lpips": lpips_distance(pred, ref)}
