"""Tiny scenes and known blurs for the tests of the TV kernel's solver and fallback."""

from __future__ import annotations

import torch


def scene(side: int = 48, width: int | None = None) -> torch.Tensor:
    """A blocky grey scene in [0.1, 0.9] (6 px blocks). Shape: ``(1, 3, side, width or side)``."""
    g = torch.Generator().manual_seed(0)
    w = width or side
    x = 0.1 + 0.8 * torch.rand(1, 1, side // 6, w // 6, generator=g)
    return x.repeat_interleave(6, -1).repeat_interleave(6, -2).expand(1, 3, -1, -1).contiguous()


def line(length: int = 7) -> torch.Tensor:
    """A horizontal line kernel of ``length`` px. Shape: ``(length, length)``."""
    k = torch.zeros(length, length)
    k[length // 2] = 1.0 / length
    return k


def blur(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """x blurred by k with replicated borders (a linear camera). Shape: as x."""
    r = k.shape[-1] // 2
    padded = torch.nn.functional.pad(x, (r,) * 4, mode="replicate")
    return torch.nn.functional.conv2d(padded, k.flip(-2, -1).expand(3, 1, *k.shape), groups=3)


def count_estimates(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    """Empty the TV fallback's store of estimates and count the blind estimates made from here on (one entry
    each), through pytest's ``monkeypatch``."""
    from blurkit.deblur import tv_fallback

    calls: list[int] = []
    real = tv_fallback.blind_estimate

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(tv_fallback, "blind_estimate", counted)
    monkeypatch.setattr(tv_fallback, "_MADE", {})
    return calls
