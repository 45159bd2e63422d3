"""A well-posed x-step: deconvolution through F linearised at the current estimate (Gauss-Newton / IRLS style).

Gradient steps on x through F are badly conditioned (hundreds of Adam steps gain little even with the true code).
With the basis head F is ``psi(A(x, k) phi(x)) + r(x, k)`` where ``A`` is a per-pixel mixture of fixed kernels. Holding
the mixture weights and the residual at the estimate x̄ (:meth:`blurkit.space.operator.BlurOperator.linearise`)
leaves a linear blur ``A u`` of the blur-domain image ``u = phi(x)``. One outer step then solves

    min_u ||A u - phi(y - r)||^2 + gamma * sum w |grad u|^2,

a convex deconvolution, by conjugate gradients on the normal equations (``A^T`` through autograd, so borders and
the dynamic kernel are exact), with IRLS weights ``w = (|grad u|^2 + eps)^(alpha/2 - 1)`` for the hyper-Laplacian
prior of Eq. 6. x̄ is then updated and F re-linearised.

With a ``margin`` the unknown u is that many px wider than the crop on every side: the blur brought content from
outside the crop into y, and F's reflected border cannot explain it, so without a margin the solve pays for it with
ringing inside the crop. The data term stays on the crop; only the crop is returned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as Fnn

from blurkit.space.kernel_space import KernelSpace

if TYPE_CHECKING:
    from blurkit.deblur.denoiser import Denoiser
    from blurkit.deblur.pnp import PnPXStep


@dataclass(frozen=True)
class LinearXStep:
    """Settings of :func:`linear_xstep`.

    Attributes:
        outer: re-linearisations of F (each re-reads the mixture weights at the new estimate).
        irls: reweightings of the gradient prior per outer step (1: a plain quadratic prior).
        cg_iters: conjugate-gradient iterations per solve.
        gamma: weight of the gradient prior, relative to the data term per pixel.
        alpha: exponent of the hyper-Laplacian prior (Eq. 6's 0.66; 2 gives a quadratic prior).
        eps: smoothing of the IRLS weights.
        robust: IRLS weights on the data term too, ``(|A u - b|^2 + delta^2)^(-1/2)`` (an L1-like fit): F's own
            model error (it fits y to 28-38 dB) then acts less like noise to be amplified.
        delta: smoothing of the robust data weights.
        margin: px of unknown image solved for beyond the crop on every side (0: F's reflected borders). The blur
            brings content from outside the crop into y; with a margin the solve may explain it there instead of
            with ringing inside the crop. Only the crop is returned.
    """

    outer: int = 3
    irls: int = 3
    cg_iters: int = 40
    gamma: float = 2e-3
    alpha: float = 0.66
    eps: float = 1e-3
    robust: bool = False
    delta: float = 1e-2
    margin: int = 0


XSTEP_MARGIN = 16
"""The presets' margin: F's 31 px kernels bring content from up to 15 px outside the crop into y. Solving for it
raised the x-step's gain on the 16 reds-like ladder images (``reds-like-kernel``) from +0.87 to +1.00 dB with
G(x, y) (gamma 0.1), from +1.85 to +2.58 dB with the least-squares kernel's code and from +2.84 to +3.66 dB with
codes fitted to the true PSFs (gamma 0.03; docs/deblurring.md)."""

def xstep_key(config: LinearXStep) -> dict:
    """The settings a stored result of this x-step is keyed on: a zero margin is left out, so that results made
    before the margin existed keep their keys."""
    return {k: v for k, v in config.__dict__.items() if not (k == "margin" and v == 0)}


PRESET_XSTEP = LinearXStep(outer=1, gamma=0.1, robust=True, margin=XSTEP_MARGIN)
"""The x-step of the ``fast`` preset and of the ladder's non-blind rows (its gamma is calibrated per kernel space)."""


def _grad(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences with a zero difference at the last row / column (Neumann border)."""
    gx = torch.zeros_like(u)
    gy = torch.zeros_like(u)
    gx[..., :, :-1] = u[..., :, 1:] - u[..., :, :-1]
    gy[..., :-1, :] = u[..., 1:, :] - u[..., :-1, :]
    return gx, gy


def _grad_t(gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """The adjoint of :func:`_grad`."""
    out = torch.zeros_like(gx)
    out[..., :, 1:] += gx[..., :, :-1]
    out[..., :, :-1] -= gx[..., :, :-1]
    out[..., 1:, :] += gy[..., :-1, :]
    out[..., :-1, :] -= gy[..., :-1, :]
    return out


def conjugate_gradients(normal: Callable[[torch.Tensor], torch.Tensor], rhs: torch.Tensor, u0: torch.Tensor,
                        iters: int) -> torch.Tensor:
    """Solve ``normal(u) = rhs`` for a symmetric positive (semi)definite operator, per image of the batch.

    Shape:
        rhs, u0 ``(B, C, H, W)`` -> ``(B, C, H, W)``.
    """
    def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * b).flatten(1).sum(1).view(-1, 1, 1, 1)

    u = u0.clone()
    r = rhs - normal(u)
    p = r.clone()
    rr = dot(r, r)
    for _ in range(iters):
        q = normal(p)
        step = rr / dot(p, q).clamp_min(1e-20)
        u = u + step * p
        r = r - step * q
        rr_new = dot(r, r)
        p = r + (rr_new / rr.clamp_min(1e-20)) * p
        rr = rr_new
    return u


def forward_and_adjoint(apply: Callable[[torch.Tensor], torch.Tensor], u0: torch.Tensor
                        ) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
    """A linear ``apply`` without gradient tracking, and its adjoint by autograd (for unknowns shaped like ``u0``;
    ``apply`` may map them to another shape).

    Shape:
        forward: ``u0``'s shape -> ``apply(u0)``'s; adjoint: the reverse.
    """
    def fwd(v: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return apply(v)

    def adjoint(w: torch.Tensor) -> torch.Tensor:
        v = torch.zeros_like(u0, dtype=torch.float32, requires_grad=True)
        with torch.enable_grad():
            (out,) = torch.autograd.grad(apply(v), v, grad_outputs=w)
        return out
    return fwd, adjoint


def deconvolve(apply: Callable[[torch.Tensor], torch.Tensor], target: torch.Tensor, u0: torch.Tensor,
               config: LinearXStep = LinearXStep()) -> torch.Tensor:
    """``min_u ||apply(u) - target||^2 + gamma * sum w |grad u|^2`` for a linear ``apply``, by IRLS and CG.

    ``config.irls`` reweightings of the hyper-Laplacian prior (and, with ``robust``, of the data term), each
    solved by ``config.cg_iters`` conjugate-gradient iterations from the previous solution; ``apply``'s adjoint
    comes from autograd. ``outer`` is not used here.

    Shape:
        target ``(B, C, H', W')`` = the shape of ``apply(u0)``; u0 ``(B, C, H, W)`` -> ``(B, C, H, W)`` (not clamped).
    """
    fwd, adjoint = forward_and_adjoint(apply, u0)
    u = u0.detach().float()
    for _ in range(config.irls):
        if config.robust:
            with torch.no_grad():
                res = fwd(u) - target
                wd = config.delta / torch.sqrt(res * res + config.delta ** 2)  # 1 for small residuals
        else:
            wd = torch.ones_like(target)
        rhs_data = adjoint(wd * target)
        gx, gy = _grad(u)
        if config.alpha == 2:
            wx = wy = torch.ones_like(u)
        else:
            wx = (gx * gx + config.eps) ** (config.alpha / 2 - 1)
            wy = (gy * gy + config.eps) ** (config.alpha / 2 - 1)
            scale = config.eps ** (config.alpha / 2 - 1)  # weights relative to a flat region's
            wx, wy = wx / scale, wy / scale

        def normal(v: torch.Tensor) -> torch.Tensor:
            vx, vy = _grad(v)
            return adjoint(wd * fwd(v)) + config.gamma * _grad_t(wx * vx, wy * vy)

        u = conjugate_gradients(normal, rhs_data, u, config.cg_iters)
    return u


def linear_xstep(model: KernelSpace, y: torch.Tensor, k: torch.Tensor, x0: torch.Tensor | None = None,
                 config: LinearXStep = LinearXStep(), pnp: "tuple[PnPXStep, Denoiser] | None" = None) -> torch.Tensor:
    """Deconvolve y with code k through the linearised F, starting at ``x0`` (default: y).

    With ``pnp`` (settings and denoiser) every outer step is the plug-and-play solve of :mod:`blurkit.deblur.pnp`
    instead of the hyper-Laplacian IRLS (``config`` then only gives ``outer``).

    Shape:
        y ``(B, 3, H, W)`` in [0, 1], k ``(B or 1, kdim, h_k, w_k)`` -> x ``(B, 3, H, W)`` in [0, 1].
    """
    x_bar = (y if x0 is None else x0).detach().float()
    m, (h, w) = config.margin, y.shape[-2:]
    if m < 0:
        raise ValueError(f"the x-step's margin must be >= 0 px, got {m}")
    u_ext = None
    for _ in range(config.outer):
        with torch.no_grad():
            lin = model.F.linearise(x_bar, k)
            target = lin.to_domain((y - lin.residual).clamp(0, 1))
            if u_ext is not None and m:  # the last solve, margin included (its centre is to_domain(x_bar))
                u = u_ext
            else:
                u = lin.to_domain(x_bar)
                u = Fnn.pad(u, (m, m, m, m), mode="replicate") if m else u
        if pnp is None:
            u = deconvolve(lin.apply, target, u, config)
        else:
            from blurkit.deblur.pnp import pnp_deconvolve

            u = pnp_deconvolve(lin.apply, target, u, pnp[1], pnp[0])
        with torch.no_grad():
            u_ext = u.clamp(0, 1)
            x_bar = lin.from_domain(u_ext[..., m:m + h, m:m + w]).clamp(0, 1)
    return x_bar


def linear_domain_deconvolution(y: torch.Tensor, apply: Callable[[torch.Tensor], torch.Tensor], margin: int, crf: str,
                                solve: Callable[..., torch.Tensor]) -> torch.Tensor:
    """Deconvolve y through a known linear blur of the camera's linear domain: y is linearised by the CRF, the scene
    is solved by ``solve(apply, target, u0)`` on a region ``margin`` px larger on every side than y (started from
    the edge-padded target; ``apply`` maps it to y's size), cropped and mapped back.

    Shape:
        y ``(1, C, H, W)`` in [0, 1] -> ``(1, C, H, W)`` in [0, 1].
    """
    from blurkit.data.crf import CRF

    curve = CRF(crf)
    target = curve.inverse(y.detach().float())
    m, (h, w) = margin, y.shape[-2:]
    u0 = Fnn.pad(target, (m, m, m, m), mode="replicate") if m else target
    u = solve(apply, target, u0)[..., m:m + h, m:m + w]
    return curve.forward(u.clamp(0, 1)).clamp(0, 1)


__all__ = ["PRESET_XSTEP", "XSTEP_MARGIN", "LinearXStep", "conjugate_gradients", "deconvolve", "forward_and_adjoint",
           "linear_domain_deconvolution", "linear_xstep", "xstep_key"]
