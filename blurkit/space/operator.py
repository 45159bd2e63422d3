"""F, the blur operator family: ``y = F(x, k)`` blurs a sharp image x with an encoded kernel k.

Architecture (supplement Sec. 2.3, Table 4), with the widths of a :class:`~blurkit.space.netconfig.KernelSpaceConfig`:

* PreprocessBlock on x (``nf x H/4 x W/4``);
* encoder: five Conv(3, 2, 1) -> LeakyReLU(0.1) with widths ``f_widths``; every level's output is kept;
* at the bottleneck (``H/128``) k is concatenated to the last encoder output;
* decoder: five ConvTranspose2d(3, stride 2, padding 1, output_padding 1) -> LeakyReLU(0.1). The first takes
  ``f_widths[-1] + kdim`` channels; each later one takes the previous decoder output concatenated with the encoder
  output of the same resolution. Output widths are ``f_widths[3], f_widths[2], f_widths[1], f_widths[0], nf``
  (paper: TransConv(1024,512), (1024,256), (512,128), (256,64), (128,64));
* PostprocessBlock -> residual r (``3 x H x W``); **F returns x + r** (``head="residual"``, the paper's).
  With ``head="basis"`` (blurkit's option, :mod:`blurkit.space.basis_blur`) the PostprocessBlock also outputs
  ``n_basis`` weight logits per pixel and **F returns sum_b softmax(m)_b (x conv K_b) + r** with learned kernels K_b;
  a 1x1 convolution of k, upsampled to the image, is added to those logits (a direct path from k to the blur).
  With ``tone_knots`` the basis blur runs on ``phi(x)`` for a learned monotone curve phi and is mapped back with
  ``phi^-1`` (:mod:`blurkit.space.tone_curve`): cameras blur in the linear domain, before their response curve.
  With ``dynamic_kernel`` every code cell also gets its own kernel, read off k, as one more member of the
  mixture (:mod:`blurkit.space.dynamic_kernel`).
  With ``head="kernel"`` none of the above is built: **F returns the image blurred, in every code cell, by the
  kernel read off that cell's code** (the dynamic kernel alone, inside the tone curve if any): no network on x and
  no residual, so F is exactly linear in x for a fixed k.

Initialisation (a documented choice): all convolutions are Kaiming-normal (:func:`blurkit.space.blocks.init_convs_`);
the PostprocessBlock's last convolution is then scaled by :data:`RESIDUAL_INIT_SCALE` (its bias is zero), so a
fresh F is close to the identity (``|F(x, k) - x|`` about 0.005 on [0, 1] images) but not equal to it: a zero init
would give every parameter upstream of that layer a zero gradient at the first step.

With ``config.code_stride`` s < 128 (blurkit's option) k has one code per s px: it is average-pooled to the
bottleneck for the concatenation above, and a 1x1 convolution of k (zero at initialisation) is added to the input
of the decoder level at ``H/s``; the basis head's k path is upsampled by s instead of 128.

Any size is accepted: x is padded to the next multiple of 128 and the output cropped back. k must have spatial
size ``ceil(H/128) x ceil(W/128)`` times ``128/s`` and batch size B or 1 (a batch of 1 is shared by every image).
A 1-channel x is expanded to 3 channels and the output averaged back to 1 channel.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as Fnn

from blurkit.space.basis_blur import BasisBlur, _pad_reflect, fast_fft_size
from blurkit.space.blocks import (
    DOWNSCALE,
    PostprocessBlock,
    PreprocessBlock,
    as_rgb,
    conv3x3,
    crop_to,
    init_convs_,
    kernel_size_for,
    lrelu,
    pad_to_multiple,
)
from blurkit.space.dynamic_kernel import DynamicKernel
from blurkit.space.netconfig import KernelSpaceConfig
from blurkit.space.tone_curve import ToneCurve

RESIDUAL_INIT_SCALE = 0.01  # scale of the last convolution's initial weights: a fresh F is nearly the identity


def _up(c_in: int, c_out: int) -> nn.Sequential:
    """TransConv(c_in, c_out, 3, 2, 1) with output_padding 1 (exactly doubles the size) -> LeakyReLU(0.1)."""
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1), lrelu())


class BlurOperator(nn.Module):
    """F: an encoder-decoder with skip connections, conditioned on k at the bottleneck.

    Shape:
        x ``(B, C, H, W)`` with C in {1, 3}, k ``(B or 1, kdim, h_k, w_k)`` -> ``(B, C, H, W)``, where
        ``(h_k, w_k) = kernel_size_for(H, W, code_stride)`` (``ceil(H/128), ceil(W/128)`` for the paper's F).
    """

    def __init__(self, config: KernelSpaceConfig) -> None:
        super().__init__()
        self.config = config
        self.ratio = DOWNSCALE // config.code_stride
        if config.head == "kernel":
            self.basis = self.k_weights = self.k_inject = None
            self.tone = ToneCurve(config.tone_knots) if config.tone_knots else None
            self.dyn = DynamicKernel(config.kdim, config.basis_size, config.code_stride, config.dynamic_init_logit,
                                     logit_code=config.g_lsq)
            return
        nf, fw = config.nf, config.f_widths
        self.pre = PreprocessBlock(nf, config.n_res_pre)
        enc: list[nn.Module] = []
        c_in = nf
        for width in fw:
            enc.append(nn.Sequential(conv3x3(c_in, width, stride=2), lrelu()))
            c_in = width
        self.enc = nn.ModuleList(enc)
        outs = [fw[3], fw[2], fw[1], fw[0], nf]
        ins = [fw[4] + config.kdim] + [outs[j - 1] + fw[4 - j] for j in range(1, 5)]
        self.dec = nn.ModuleList([_up(i, o) for i, o in zip(ins, outs)])
        n_weights = config.n_basis if config.head == "basis" else 0
        self.post = PostprocessBlock(nf, config.n_res_post, out_channels=3 + n_weights)
        self.basis = BasisBlur(config.n_basis, config.basis_size) if n_weights else None
        self.k_weights = nn.Conv2d(config.kdim, n_weights, 1) if n_weights else None
        self.tone = ToneCurve(config.tone_knots) if config.tone_knots else None
        self.dyn = (DynamicKernel(config.kdim, config.basis_size, config.code_stride, config.dynamic_init_logit)
                    if config.dynamic_kernel else None)
        self.inject_level = int(math.log2(self.ratio))  # the decoder level whose input is at H/code_stride
        self.k_inject = nn.Conv2d(config.kdim, ins[self.inject_level], 1) if self.ratio > 1 else None
        if self.k_inject is not None:
            nn.init.zeros_(self.k_inject.weight)
            nn.init.zeros_(self.k_inject.bias)
        init_convs_(self.enc)
        init_convs_(self.dec)
        with torch.no_grad():
            self.post.conv_last.weight.mul_(RESIDUAL_INIT_SCALE)
            if n_weights:  # a fresh basis head starts on the delta kernel (no blur): weight logit 0 raised
                self.post.conv_last.bias[3] = 4.0  # softmax weight 0.78 with 15 others

    def check_kernel(self, x: torch.Tensor, k: torch.Tensor) -> None:
        """Raise ``ValueError`` naming both shapes unless k fits x (batch B or 1, kdim, kernel_size_for(H, W))."""
        if not isinstance(k, torch.Tensor):
            raise TypeError(f"k must be a torch.Tensor, got {type(k).__name__}")
        want = (self.config.kdim, *kernel_size_for(x.shape[-2], x.shape[-1], self.config.code_stride))
        ok = k.dim() == 4 and k.shape[0] in (1, x.shape[0]) and tuple(k.shape[1:]) == want
        if not ok:
            raise ValueError(
                f"k of shape {tuple(k.shape)} does not fit x of shape {tuple(x.shape)}: "
                f"expected (B or 1, {want[0]}, {want[1]}, {want[2]}) = (batch, kdim, H/{self.config.code_stride}, "
                f"W/{self.config.code_stride}) with H and W padded to multiples of 128"
            )

    def residual(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """The PostprocessBlock's output: the residual r (channels 0-2), then the basis weight logits if any.

        Shape:
            x ``(B, 3, H, W)``, k ``(B or 1, kdim, h_k, w_k)`` -> ``(B, 3 [+ n_basis], H, W)``.
        """
        xp, size = pad_to_multiple(x)
        h = self.pre(xp)
        skips = []
        for level in self.enc:
            h = level(h)
            skips.append(h)
        if k.shape[0] != h.shape[0]:
            k = k.expand(h.shape[0], -1, -1, -1)
        k = k.to(h.dtype)
        coarse = Fnn.avg_pool2d(k, self.ratio) if self.ratio > 1 else k
        h = torch.cat([h, coarse], dim=1)
        for j in range(5):
            if j:
                h = torch.cat([h, skips[4 - j]], dim=1)
            if j == self.inject_level and self.k_inject is not None:
                h = h + self.k_inject(k)
            h = self.dec[j](h)
        return crop_to(self.post(h), size)

    def linearise(self, x: torch.Tensor, k: torch.Tensor) -> "LinearisedBlur":
        """F with its mixture weights and residual frozen at ``x``: a blur that is linear in the blur-domain image.

        With the basis head, ``F(x, k) = psi(sum_b m_b(x, k) (phi(x) conv K_b)) + r(x, k)``; holding ``m`` and ``r`` at
        ``x`` leaves ``A u = sum_b m_b (u conv K_b)`` (plus the code's dynamic kernel), linear in ``u = phi(x)``, so
        an x-step becomes a deconvolution (:mod:`blurkit.deblur.linear_xstep`). Only the basis head has this form.

        Shape:
            x ``(B, 3, H, W)``, k ``(B or 1, kdim, h_k, w_k)``.
        """
        if self.config.head == "residual":
            raise ValueError("only F with the basis or kernel head (KernelSpaceConfig.head) can be linearised")
        self.check_kernel(x, k)
        k = k.expand(x.shape[0], -1, -1, -1) if k.shape[0] != x.shape[0] else k
        if self.config.head == "kernel":  # already linear: the one member, everywhere, and no residual
            b, _, h, w = x.shape
            return LinearisedBlur(self, k, x.new_ones(b, 1, h, w, dtype=torch.float32),
                                  x.new_zeros(b, 3, h, w, dtype=torch.float32))
        out = self.residual(x, k)
        kw = Fnn.interpolate(self.k_weights(k.to(out.dtype)), scale_factor=self.config.code_stride, mode="nearest")
        logits = out[:, 3:] + kw[..., : out.shape[-2], : out.shape[-1]]
        if self.dyn is not None:
            logits = torch.cat([logits, self.dyn.weight_logit(k, *x.shape[-2:])], dim=1)
        return LinearisedBlur(self, k, logits.float().softmax(dim=1), out[:, :3])

    def forward(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Blur x with kernel k: ``x + r``, or with the basis head ``sum_b m_b (x conv K_b) + r``.

        Shape:
            x ``(B, C, H, W)``, k ``(B or 1, kdim, h_k, w_k)`` -> ``(B, C, H, W)``.
        """
        x3, grey = as_rgb(x, "x")
        self.check_kernel(x3, k)
        if self.config.head == "kernel":
            xb = x3 if self.tone is None else self.tone(x3)
            yb, _ = self.dyn(xb, k.expand(x3.shape[0], -1, -1, -1) if k.shape[0] != x3.shape[0] else k)
            y = (yb if self.tone is None else self.tone.inverse(yb)).to(x3.dtype)
            return y.mean(dim=1, keepdim=True) if grey else y
        out = self.residual(x3, k)
        if self.basis is None:
            y = x3 + out
        else:
            kw = self.k_weights(k.to(out.dtype))
            kw = Fnn.interpolate(kw, scale_factor=self.config.code_stride, mode="nearest")
            kw = kw[..., : out.shape[-2], : out.shape[-1]]
            xb = x3 if self.tone is None else self.tone(x3)  # blur in the learned domain phi(x) if there is one
            extra = None
            if self.dyn is not None:
                extra = self.dyn(xb, k.expand(x3.shape[0], -1, -1, -1) if k.shape[0] != x3.shape[0] else k)
            yb = self.basis(xb, out[:, 3:] + kw, extra)
            y = (yb if self.tone is None else self.tone.inverse(yb).to(x3.dtype)) + out[:, :3]
        return y.mean(dim=1, keepdim=True) if grey else y


class LinearisedBlur:
    """The linear part of F at a fixed image (see :meth:`BlurOperator.linearise`).

    Every member of the mixture (the basis kernels, and with a dynamic kernel the kernel of every code cell, masked
    to its cell) becomes one kernel ``K_j`` with a weight map ``W_j``, so ``A u = sum_j W_j (u conv K_j)``; the kernels'
    Fourier transforms are computed once here, which makes ``A`` cheap to apply many times (conjugate gradients).

    Attributes:
        weights: weight maps ``(B, J, H, W)``, summing to 1 over dim 1.
        residual: F's free residual ``(B, 3, H, W)`` at the linearisation point.
    """

    def __init__(self, op: BlurOperator, k: torch.Tensor, weights: torch.Tensor, residual: torch.Tensor) -> None:
        self.op, self.residual = op, residual
        b, _, h, w = weights.shape
        size = op.config.basis_size
        self.pad = size // 2
        kernels = (op.basis.kernels().float()[None].expand(b, -1, -1, -1) if op.basis is not None
                   else weights.new_zeros(b, 0, size, size))  # (B, n_basis, S, S); none with the kernel head
        if op.dyn is not None:  # one kernel per code cell, weighted by the dynamic share inside its cell only
            cells = op.dyn.kernels(k)  # (B, hk, wk, S, S)
            hk, wk = cells.shape[1:3]
            rows = torch.arange(h, device=k.device) // op.config.code_stride
            cols = torch.arange(w, device=k.device) // op.config.code_stride
            index = (rows[:, None] * wk + cols[None, :]).flatten()
            onehot = Fnn.one_hot(index, hk * wk).T.reshape(1, hk * wk, h, w).to(weights.dtype)
            weights = torch.cat([weights[:, :-1], weights[:, -1:] * onehot], dim=1)
            kernels = torch.cat([kernels, cells.reshape(b, hk * wk, size, size).float()], dim=1)
        self.weights = weights
        self.size = (h, w)
        self.kernels = kernels
        self._kernel_ft: dict[tuple[int, int], torch.Tensor] = {}

    def kernel_ft(self, fft_size: tuple[int, int]) -> torch.Tensor:
        """The members' kernels, centred at the origin, Fourier-transformed at ``fft_size`` (cached per size).

        Shape:
            ``(B, J, fft_h, fft_w // 2 + 1)`` complex.
        """
        if fft_size not in self._kernel_ft:
            size = self.kernels.shape[-1]
            kp = self.kernels.new_zeros(*self.kernels.shape[:2], *fft_size)
            kp[..., :size, :size] = self.kernels
            self._kernel_ft[fft_size] = torch.fft.rfft2(torch.roll(kp, shifts=(-self.pad, -self.pad), dims=(-2, -1)))
        return self._kernel_ft[fft_size]

    def to_domain(self, x: torch.Tensor) -> torch.Tensor:
        """``phi(x)``: display intensities to the blur domain (the identity without a tone curve)."""
        return x.float() if self.op.tone is None else self.op.tone(x)

    def from_domain(self, u: torch.Tensor) -> torch.Tensor:
        """``psi(u) = phi^-1(u)``."""
        return u.float() if self.op.tone is None else self.op.tone.inverse(u)

    def apply(self, u: torch.Tensor) -> torch.Tensor:
        """``A u``: the frozen mixture applied to a blur-domain image (FFT, reflect-padded borders as in F).

        ``u`` may be larger than the linearisation's image by a margin ``m`` on every side (an unknown that holds
        what the blur brought in from outside the crop): the blur then reads the margin instead of reflecting the
        crop, and ``A u`` is the crop's ``H x W`` centre, every pixel blurred by its own weights.

        Shape:
            u ``(B, 3, H + 2m, W + 2m)`` -> ``(B, 3, H, W)``.
        """
        (h, w), p = self.size, self.pad
        m = (u.shape[-2] - h) // 2
        if m < 0 or u.shape[-2] != h + 2 * m or u.shape[-1] != w + 2 * m:
            raise ValueError(f"A u needs u of {h}x{w} plus an equal margin on every side, got {tuple(u.shape[-2:])}")
        up = _pad_reflect(u.float(), p)
        fft_size = (fast_fft_size(up.shape[-2]), fast_fft_size(up.shape[-1]))  # no wrap inside the crop
        up = Fnn.pad(up, (0, fft_size[1] - up.shape[-1], 0, fft_size[0] - up.shape[-2]))
        blurred = torch.fft.irfft2(torch.fft.rfft2(up)[:, :, None] * self.kernel_ft(fft_size)[:, None], s=fft_size)
        return (blurred[..., p + m:p + m + h, p + m:p + m + w] * self.weights[:, None]).sum(dim=2)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """F evaluated with the frozen weights: ``psi(A phi(x)) + r`` (equals F(x, k) at the linearisation point)."""
        return self.from_domain(self.apply(self.to_domain(x))) + self.residual
