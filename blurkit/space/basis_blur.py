"""A spatially varying blur made of learned basis kernels: ``B(x; m) = sum_b m_b * (x conv K_b)``.

This is blurkit's optional output head for F (``KernelSpaceConfig.head = "basis"``), not the paper's. The paper's
F ends in a PostprocessBlock whose output is added to x as a free residual; blurring is a product of the image and
the kernel, which that head has to learn to express through concatenation at a 1/128 bottleneck. On the CPU
budget it never learned to (measured: the shipped residual-head kernel spaces give the same reconstruction for the
code of another pair to 0.0002 dB, see README). The basis head builds the product into the network: F's decoder
predicts, per pixel, softmax weights m over ``n_basis`` learned kernels K_b (each non-negative, summing to 1), so
the weights depend on k additively and the multiplication with the image is exact. A small free residual is still
added on top (CRF, noise, occlusion boundaries).

Convolution runs in the Fourier domain on a reflect-padded image, so cost does not grow with the kernel size.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from blurkit.data.kernels import random_kernels

BASIS_INIT_SEED = 7  # seed of the motion kernels the basis starts from
BASIS_LR_SCALE = 50.0  # the basis logits learn this much faster than the networks (they must move by O(1))


def _pad_reflect(x: torch.Tensor, p: int) -> torch.Tensor:
    """Pad ``p`` px on every side: reflect where the image is large enough, replicate otherwise."""
    if p == 0:
        return x
    mode = "reflect" if min(x.shape[-2:]) > p else "replicate"
    return nn.functional.pad(x, (p, p, p, p), mode=mode)


def fast_fft_size(n: int) -> int:
    """The smallest 2-3-5-smooth integer >= n (a fast FFT length)."""
    while True:
        m = n
        for f in (2, 3, 5):
            while m % f == 0:
                m //= f
        if m == 1:
            return n
        n += 1


def basis_convolve(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Convolve every channel of x with every kernel (FFT, reflect-padded borders; a true convolution).

    Shape:
        x ``(B, C, H, W)``, kernels ``(N, S, S)`` with S odd -> ``(B, C, N, H, W)``.
    """
    n, s, s2 = kernels.shape
    if s != s2 or s % 2 == 0:
        raise ValueError(f"basis kernels must be square with an odd side, got shape {tuple(kernels.shape)}")
    p = s // 2
    h, w = x.shape[-2:]
    xp = _pad_reflect(x.float(), p)
    # zero-padded on to a 2-3-5-smooth size: FFTs of prime-factor lengths (158 = 2 x 79 for 128 px and 31 px kernels)
    # are several times slower, and a circular convolution longer than h + 2p wraps nothing into the crop
    hp, wp = fast_fft_size(xp.shape[-2]), fast_fft_size(xp.shape[-1])
    xp = torch.nn.functional.pad(xp, (0, wp - xp.shape[-1], 0, hp - xp.shape[-2]))
    kp = torch.zeros(n, hp, wp, dtype=torch.float32, device=x.device)
    kp[:, :s, :s] = kernels.float()
    kp = torch.roll(kp, shifts=(-p, -p), dims=(-2, -1))  # kernel centre at (0, 0)
    fx = torch.fft.rfft2(xp)[:, :, None]
    fk = torch.fft.rfft2(kp)[None, None]
    out = torch.fft.irfft2(fx * fk, s=(hp, wp))
    return out[..., p:p + h, p:p + w]


def cell_convolve(x: torch.Tensor, kernels: torch.Tensor, stride: int, margin: int = 0) -> torch.Tensor:
    """Blur every ``stride`` px cell of x with its own kernel: each pixel takes the image blurred by its cell's.

    With a ``margin``, x is that many px wider than the image on every side (content from outside the crop that the
    blur reads) and only the image is returned; the cells tile the image.

    Shape:
        x ``(1, C, H + 2 margin, W + 2 margin)``, kernels ``(h_k, w_k, S, S)`` covering the image
        (``h_k * stride >= H``) -> ``(1, C, H, W)``.
    """
    hk, wk = kernels.shape[:2]
    m = margin
    blurred = basis_convolve(x, kernels.reshape(hk * wk, *kernels.shape[-2:]))  # (1, C, cells, H + 2m, W + 2m)
    h, w = x.shape[-2] - 2 * m, x.shape[-1] - 2 * m
    blurred = blurred[..., m:m + h, m:m + w]
    if hk * wk == 1:
        return blurred[:, :, 0]
    rows = torch.arange(h, device=x.device) // stride
    cols = torch.arange(w, device=x.device) // stride
    cell = (rows[:, None] * wk + cols[None, :]).expand(1, x.shape[1], 1, h, w)
    return blurred.gather(2, cell)[:, :, 0]


class BasisBlur(nn.Module):
    """Learned basis kernels and their per-pixel softmax mixture.

    Attributes:
        logits: ``(n_basis, size, size)`` parameters; ``kernels()`` is their softmax over each kernel's pixels.

    Shape:
        x ``(B, C, H, W)``, weight logits ``(B, n_basis, H, W)`` -> ``(B, C, H, W)``.
    """

    def __init__(self, n_basis: int, size: int) -> None:
        super().__init__()
        if n_basis < 1 or size < 1 or size % 2 == 0:
            raise ValueError(f"BasisBlur needs n_basis >= 1 and an odd size, got n_basis={n_basis}, size={size}")
        self.n_basis, self.size = n_basis, size
        self.logits = nn.Parameter(_initial_logits(n_basis, size))

    def kernels(self) -> torch.Tensor:
        """The basis kernels, each non-negative and summing to 1.

        Shape:
            ``(n_basis, size, size)``.
        """
        flat = self.logits.flatten(1).softmax(dim=1)
        return flat.view(self.n_basis, self.size, self.size)

    def forward(self, x: torch.Tensor, weight_logits: torch.Tensor,
                extra: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """The mixture; ``extra = (blurred (B, C, H, W), logit (B, 1, H, W))`` adds one more, image-specific member
        (:mod:`blurkit.space.dynamic_kernel`)."""
        logits = weight_logits.float()
        blurred = basis_convolve(x, self.kernels())  # (B, C, N, H, W)
        if extra is not None:
            logits = torch.cat([logits, extra[1].float()], dim=1)
            blurred = torch.cat([blurred, extra[0].float()[:, :, None]], dim=2)
        m = logits.softmax(dim=1)  # (B, N [+ 1], H, W)
        return (blurred * m[:, None]).sum(dim=2).to(x.dtype)


def _initial_logits(n_basis: int, size: int) -> torch.Tensor:
    """Log of seeded motion kernels of sizes up to ``size`` (kernel 0 is a delta: no blur), floored at 1e-4."""
    ks = np.full((n_basis, size, size), 1e-4, dtype=np.float64)
    ks[0, size // 2, size // 2] = 1.0
    if n_basis > 1:
        small = max(3, min(size, 7) | 1)
        for i, k in enumerate(random_kernels(n_basis - 1, seed=BASIS_INIT_SEED, sizes=(small, size)), start=1):
            o = (size - k.shape[0]) // 2
            ks[i, o:o + k.shape[0], o:o + k.shape[1]] += k
    return torch.from_numpy(np.log(ks / ks.sum(axis=(1, 2), keepdims=True))).float()


__all__ = ["BASIS_LR_SCALE", "BasisBlur", "basis_convolve", "cell_convolve", "fast_fft_size"]
