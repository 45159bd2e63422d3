"""Gradient checks shared by the network tests: a gradient that exists but is all zero is a broken path too."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def dead_parameters(named: Iterable[tuple[str, torch.nn.Parameter]], allow_zero: Iterable[str] = ()) -> list[str]:
    """Names of the parameters whose gradient is missing, not finite, or zero everywhere.

    Call after ``backward()``. ``allow_zero`` names parameters whose gradient is zero by construction (say why at
    the call); they must still have a finite gradient.
    """
    allowed = set(allow_zero)
    bad = []
    for name, p in named:
        g = p.grad
        if g is None or not bool(torch.isfinite(g).all()):
            bad.append(f"{name}: {'no' if g is None else 'non-finite'} gradient")
        elif name not in allowed and float(g.abs().max()) == 0.0:
            bad.append(f"{name}: zero gradient")
    return bad
