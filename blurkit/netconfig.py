"""Sizes of the kernel-space networks F and G: a frozen dataclass and three presets.

``paper`` follows the supplement's Tables 1-4 exactly (about 41.6 M parameters); ``cpu`` is a slimmer network
that trains on 2 CPU cores; ``smoke`` is tiny, for tests and CI.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from blurkit.errors import UnknownNameError

N_LEVELS = 5  # stride-2 levels after the PreprocessBlock in F's encoder and in G


@dataclass(frozen=True)
class KernelSpaceConfig:
    """Widths and depths of F (blur operator family) and G (kernel extractor).

    Attributes:
        nf: channels of PreprocessBlock / PostprocessBlock features (paper 64).
        kdim: channels of the encoded kernel k (paper 512).
        f_widths: output channels of F's five stride-2 encoder convolutions (paper 64, 128, 256, 512, 512).
        g_widths: output channels of G's five stride-2 convolutions; the last equals ``kdim``.
        n_res_pre: ResBlocks in each PreprocessBlock (paper 10).
        n_res_post: ResBlocks in the PostprocessBlock (paper 20).
        n_res_g: ResBlocks at the end of G (paper 4).
    """

    nf: int = 64
    kdim: int = 512
    f_widths: tuple[int, ...] = (64, 128, 256, 512, 512)
    g_widths: tuple[int, ...] = (128, 256, 512, 512, 512)
    n_res_pre: int = 10
    n_res_post: int = 20
    n_res_g: int = 4

    def __post_init__(self) -> None:
        # Accept lists (e.g. from JSON) but store tuples, so the config stays hashable and comparable.
        object.__setattr__(self, "f_widths", tuple(self.f_widths))
        object.__setattr__(self, "g_widths", tuple(self.g_widths))
        for name in ("nf", "kdim"):
            _check_int(name, getattr(self, name), minimum=1)
        for name in ("n_res_pre", "n_res_post", "n_res_g"):
            _check_int(name, getattr(self, name), minimum=0)
        for name in ("f_widths", "g_widths"):
            widths = getattr(self, name)
            if len(widths) != N_LEVELS:
                raise ValueError(f"KernelSpaceConfig.{name} must list {N_LEVELS} widths (one per level), got {widths}")
            for i, w in enumerate(widths):
                _check_int(f"{name}[{i}]", w, minimum=1)
        if self.g_widths[-1] != self.kdim:
            raise ValueError(
                f"KernelSpaceConfig: g_widths[-1] ({self.g_widths[-1]}) must equal kdim ({self.kdim}), "
                "since G's last convolution outputs the kernel"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["f_widths"] = list(self.f_widths)
        d["g_widths"] = list(self.g_widths)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "KernelSpaceConfig":
        """Inverse of :meth:`to_dict`; unknown or missing keys raise ``ValueError``."""
        if not isinstance(d, dict):
            raise ValueError(f"KernelSpaceConfig.from_dict expects a dict, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        missing = sorted(names - set(d))
        if unknown or missing:
            raise ValueError(f"KernelSpaceConfig.from_dict: unknown keys {unknown}, missing keys {missing}")
        return cls(**d)


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"KernelSpaceConfig.{name} must be an integer >= {minimum}, got {value!r}")


NET_PRESETS: dict[str, KernelSpaceConfig] = {
    "paper": KernelSpaceConfig(
        nf=64, kdim=512, f_widths=(64, 128, 256, 512, 512), g_widths=(128, 256, 512, 512, 512),
        n_res_pre=10, n_res_post=20, n_res_g=4,
    ),
    "cpu": KernelSpaceConfig(
        nf=32, kdim=128, f_widths=(32, 64, 96, 128, 128), g_widths=(64, 96, 128, 128, 128),
        n_res_pre=4, n_res_post=6, n_res_g=2,
    ),
    "smoke": KernelSpaceConfig(
        nf=8, kdim=16, f_widths=(8, 8, 16, 16, 16), g_widths=(8, 16, 16, 16, 16),
        n_res_pre=1, n_res_post=1, n_res_g=1,
    ),
}


def net_preset(name: str) -> KernelSpaceConfig:
    """The preset called ``name``; an unknown name raises :class:`~blurkit.errors.UnknownNameError`."""
    try:
        return NET_PRESETS[name]
    except KeyError:
        raise UnknownNameError(f"unknown network preset '{name}'; choose one of {sorted(NET_PRESETS)}") from None
