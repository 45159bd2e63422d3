"""See the kernel: render the effective point-spread functions that a code k applies across the image.

A code is hundreds of numbers; what it does is a blur. :func:`psf_field` puts point lights on a regular grid and
returns their images under F: every bright spot is the local PSF there. With the basis head the linear part of F
(:meth:`blurkit.space.operator.BlurOperator.linearise`, frozen at an image or at mid-grey) is applied to the points
exactly; with the paper's residual head F itself is applied to the points on a mid-grey background.
"""

from __future__ import annotations

import numpy as np
import torch

from blurkit.space.kernel_space import KernelSpace


def point_grid(h: int, w: int, spacing: int) -> torch.Tensor:
    """Unit impulses at the centres of a ``spacing`` px grid.

    Shape:
        ``(1, 3, h, w)``.
    """
    x = torch.zeros(1, 3, h, w)
    x[..., spacing // 2::spacing, spacing // 2::spacing] = 1.0
    return x


def psf_field(model: KernelSpace, k: torch.Tensor, size: tuple[int, int], spacing: int = 32,
              image: torch.Tensor | None = None) -> np.ndarray:
    """The impulse responses of F with code k on a ``spacing`` px grid, each spot scaled to peak 1 for display.

    Args:
        model: the kernel space.
        k: one code ``(1, kdim, h_k, w_k)`` fitting ``size``.
        size: ``(H, W)`` of the image the code belongs to.
        spacing: px between point lights (the PSFs must be smaller than this to stay apart).
        image: where to freeze F's mixture weights (default: a mid-grey image); ``(1, 3, H, W)``.

    Shape:
        returns ``(H, W)`` float in [0, 1].
    """
    h, w = size
    points = point_grid(h, w, spacing).to(k.device)
    base = torch.full((1, 3, h, w), 0.5, device=k.device) if image is None else image.float().to(k.device)
    with torch.no_grad():
        if model.config.head in ("basis", "kernel"):
            lin = model.F.linearise(base, k)
            out = lin.apply(points)  # the blur domain's linear response to impulses
        else:
            out = model.apply((base + 0.5 * points).clamp(0, 1), k) - model.apply(base, k)
    field = out.mean(dim=1)[0].clamp_min(0).cpu().numpy()
    # scale each grid cell to its own peak, so weak and strong PSFs are both visible
    for i in range(0, h, spacing):
        for j in range(0, w, spacing):
            cell = field[i:i + spacing, j:j + spacing]
            peak = cell.max()
            if peak > 0:
                cell /= peak
    return field


def kernel_field(kernel: torch.Tensor, size: tuple[int, int], spacing: int = 32) -> np.ndarray:
    """One kernel at every point light of :func:`psf_field`'s grid, scaled to peak 1: the same picture for a blur
    that is one kernel everywhere (such as the ``fast`` preset's fallback, :mod:`blurkit.deblur.tv_fallback`).

    Shape:
        kernel ``(S, S)`` with S odd -> ``(H, W)`` float in [0, 1].
    """
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
        raise ValueError(f"the kernel must be square with an odd side, got shape {tuple(kernel.shape)}")
    h, w = size
    k = kernel.detach().float().cpu()
    points = point_grid(h, w, spacing)[:, :1]
    out = torch.nn.functional.conv2d(points, k.flip(-2, -1)[None, None], padding=k.shape[-1] // 2)  # a convolution
    peak = float(k.max())
    return (out[0, 0] / peak).clamp(0, 1).numpy() if peak > 0 else out[0, 0].numpy()


def estimate_field(model: KernelSpace, k: torch.Tensor, size: tuple[int, int], spacing: int = 32,
                   kernel: torch.Tensor | None = None) -> np.ndarray:
    """The blur an estimate was made with: :func:`kernel_field` of ``kernel`` where one is given (the ``fast``
    preset's fallback deconvolved with it, not with the code), else :func:`psf_field` of code k.

    Shape:
        k ``(1, kdim, h_k, w_k)``, kernel ``(S, S)`` or None -> ``(H, W)`` float in [0, 1].
    """
    return psf_field(model, k, size, spacing) if kernel is None else kernel_field(kernel, size, spacing)


def save_psf_png(path: str, model: KernelSpace, k: torch.Tensor, size: tuple[int, int], spacing: int = 32,
                 kernel: torch.Tensor | None = None) -> None:
    """Write :func:`estimate_field` as a grayscale PNG (atomically)."""
    from blurkit.data.images import write_image

    write_image(path, estimate_field(model, k, size, spacing, kernel))


__all__ = ["estimate_field", "kernel_field", "point_grid", "psf_field", "save_psf_png"]
