"""A learned monotone tone curve: the basis blur of F runs in a learned, approximately linear intensity domain.

Blur is averaged in the sensor's linear domain and then passed through the camera response (paper Sec. 2.3;
:mod:`blurkit.data.crf`), so blurring the display-domain image x directly is wrong at high-contrast edges: on the
reds-like test pairs, re-rendering each pair with its true motion but in the display domain reaches only 39.3 dB
against the true render (43.5 dB with a gamma-2.2 domain), and our worst reconstructions are exactly those pairs.
This is blurkit's option (``KernelSpaceConfig.tone_knots``), not the paper's: with it, F's basis head computes
``psi(sum_b m_b (phi(x) conv K_b))``, where ``phi`` is a monotone piecewise-linear curve on [0, 1] with
``tone_knots`` segments and ``psi`` its exact inverse. It starts as the identity, so a model with the curve,
initialised from one without, computes exactly the same blur.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as Fnn

from blurkit.data.crf import interp_monotone

_IDENTITY_LOGIT = math.log(math.e - 1.0)  # softplus of this is 1: equal segments, the identity curve


class ToneCurve(nn.Module):
    """``phi``: [0, 1] -> [0, 1], monotone increasing, piecewise linear on ``knots`` equal input segments.

    Attributes:
        logits: ``(knots,)``; segment rises are ``softplus(logits)`` normalised to sum to 1.

    Shape:
        any tensor -> the same shape (values clamped to [0, 1] first).
    """

    def __init__(self, knots: int) -> None:
        super().__init__()
        if knots < 1:
            raise ValueError(f"ToneCurve needs at least one segment, got knots={knots}")
        self.knots = knots
        self.logits = nn.Parameter(torch.full((knots,), _IDENTITY_LOGIT))

    def nodes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The curve's nodes: inputs (equally spaced) and outputs (0 to 1, strictly increasing).

        Shape:
            two ``(knots + 1,)`` tensors.
        """
        rise = Fnn.softplus(self.logits.float()) + 1e-4
        out = torch.cat([rise.new_zeros(1), torch.cumsum(rise, 0) / rise.sum()])
        return torch.linspace(0, 1, self.knots + 1, device=rise.device), out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``phi(x)``: display intensity -> the learned blur domain."""
        xs, ys = self.nodes()
        return interp_monotone(x.float().clamp(0, 1), xs, ys)

    def inverse(self, u: torch.Tensor) -> torch.Tensor:
        """``psi(u) = phi^-1(u)``: the learned blur domain -> display intensity."""
        xs, ys = self.nodes()
        return interp_monotone(u.float().clamp(0, 1), ys, xs)


__all__ = ["ToneCurve"]
