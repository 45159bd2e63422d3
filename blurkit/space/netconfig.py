"""Sizes of the kernel-space networks F and G: a frozen dataclass and three presets.

``paper`` follows the supplement's Tables 1-4 exactly (about 41.6 M parameters); ``cpu`` is a slimmer network
that trains on 2 CPU cores; ``smoke`` is tiny, for tests and CI. ``cpu`` and ``smoke`` use blurkit's basis head in
F and kernel estimate in G; ``cpu-residual`` / ``smoke-residual``
keep the paper's heads at the small widths. ``blurkit profiles --nets`` lists every preset with its options.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from blurkit.errors import UnknownNameError

N_LEVELS = 5  # stride-2 levels after the PreprocessBlock in F's encoder and in G
HEADS = ("residual", "basis", "kernel")  # F's output heads (KernelSpaceConfig.head)
_ADDED_LATER = {"head": "residual", "n_basis": 16, "basis_size": 31, "g_estimate": False,
                "code_stride": 128, "tone_knots": 0, "dynamic_kernel": False,
                "dynamic_init_logit": -6.0,
                "g_lsq": False}  # fields absent from older checkpoints, with the values those checkpoints used
CODE_STRIDES = (16, 32, 64, 128)  # allowed KernelSpaceConfig.code_stride values (px per kernel-code cell)


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
        head: F's output head: ``residual`` (the paper's: x plus a free residual) or ``basis`` (blurkit's: a
            per-pixel softmax mixture of ``n_basis`` learned ``basis_size``-px kernels applied to x, plus a free
            residual; see :mod:`blurkit.space.basis_blur`).
            ``kernel`` (blurkit's): F is only a blur, every code cell's own kernel read off k
            (:mod:`blurkit.space.dynamic_kernel`) applied to x, with no network on x and no residual, so that F is
            linear in x and a code is a real PSF that deconvolution can invert.
        n_basis, basis_size: number and (odd) side of the basis kernels of the ``basis`` head.
        g_estimate: give G a closed-form least-squares kernel estimate of every 128 px tile (``basis_size`` px
            wide) as an extra input (blurkit's option, :mod:`blurkit.space.kernel_estimate`); the paper's G has none.
        code_stride: side in px of one cell of k's grid, so k is ``kdim x H/code_stride x W/code_stride`` (H, W
            padded to multiples of 128). The paper's is 128: one code per 128 px tile. A finer grid (blurkit's
            option: 64, 32 or 16) lets k say where in a tile the blur changes (a moving object): G adds a
            zero-initialised refinement from its trunk at that resolution to its upsampled 128 px code, and F
            average-pools k to its bottleneck as before and also adds a zero-initialised projection of k to
            the decoder at that resolution. A fine model starts as exactly the coarse one it is initialised from.
        tone_knots: segments of a learned monotone tone curve around the basis head's blur (blurkit's option,
            :mod:`blurkit.space.tone_curve`; 0: none): F blurs ``phi(x)`` and maps the result back with ``phi^-1``, so
            it can blur in an approximately linear domain as cameras do. Starts as the identity.
        dynamic_kernel: F also reads a ``basis_size`` px kernel off every code and adds the image blurred by it
            to the basis mixture (blurkit's option, :mod:`blurkit.space.dynamic_kernel`).
        dynamic_init_logit: that member's initial weight logit. The default -6 (a share of 0.2 %) keeps a model
            initialised from one without it where it was, but its kernel then gets almost no gradient: in the
            shipped reds-like models its share stayed under 0.05 %. 0 gives it a share of 1 / (n_basis + 1).
        g_lsq: G's code is the logit of the least-squares kernel of every 128 px tile (blurkit's option,
            :mod:`blurkit.space.lsq_extractor`), in F's tone domain, plus a learned correction that starts at zero;
            F (``head="kernel"``) reads each cell's kernel as the softmax of its code, so ``kdim`` must be
            ``basis_size ** 2``, and ``g_widths`` are the widths of the correction's trunk (``code_stride`` >= 32).
    """

    nf: int = 64
    kdim: int = 512
    f_widths: tuple[int, ...] = (64, 128, 256, 512, 512)
    g_widths: tuple[int, ...] = (128, 256, 512, 512, 512)
    n_res_pre: int = 10
    n_res_post: int = 20
    n_res_g: int = 4
    head: str = "residual"
    n_basis: int = 16
    basis_size: int = 31
    g_estimate: bool = False
    code_stride: int = 128
    tone_knots: int = 0
    dynamic_kernel: bool = False
    dynamic_init_logit: float = -6.0
    g_lsq: bool = False

    def __post_init__(self) -> None:
        # Accept lists (e.g. from JSON) but store tuples, so the config stays hashable and comparable.
        object.__setattr__(self, "f_widths", tuple(self.f_widths))
        object.__setattr__(self, "g_widths", tuple(self.g_widths))
        for name in ("nf", "kdim"):
            _check_int(name, getattr(self, name), minimum=1)
        for name in ("n_res_pre", "n_res_post", "n_res_g"):
            _check_int(name, getattr(self, name), minimum=0)
        if self.head not in HEADS:
            raise ValueError(f"KernelSpaceConfig.head must be one of {HEADS}, got {self.head!r}")
        _check_int("n_basis", self.n_basis, minimum=1)
        _check_int("basis_size", self.basis_size, minimum=1)
        if not isinstance(self.g_estimate, bool):
            raise ValueError(f"KernelSpaceConfig.g_estimate must be a bool, got {self.g_estimate!r}")
        if self.code_stride not in CODE_STRIDES or isinstance(self.code_stride, bool):
            raise ValueError(f"KernelSpaceConfig.code_stride must be one of {CODE_STRIDES}, got {self.code_stride!r}")
        _check_int("tone_knots", self.tone_knots, minimum=0)
        if not isinstance(self.dynamic_kernel, bool):
            raise ValueError(f"KernelSpaceConfig.dynamic_kernel must be a bool, got {self.dynamic_kernel!r}")
        if self.dynamic_kernel and self.head != "basis":
            raise ValueError("KernelSpaceConfig.dynamic_kernel needs head='basis' (it joins the basis mixture; "
                             "head='kernel' is that kernel alone)")
        if self.tone_knots and self.head == "residual":
            raise ValueError("KernelSpaceConfig.tone_knots needs head='basis' or 'kernel' (the curve wraps the blur)")
        if self.basis_size % 2 == 0:
            raise ValueError(f"KernelSpaceConfig.basis_size must be odd, got {self.basis_size}")
        for name in ("f_widths", "g_widths"):
            widths = getattr(self, name)
            if len(widths) != N_LEVELS:
                raise ValueError(f"KernelSpaceConfig.{name} must list {N_LEVELS} widths (one per level), got {widths}")
            for i, w in enumerate(widths):
                _check_int(f"{name}[{i}]", w, minimum=1)
        if not isinstance(self.g_lsq, bool):
            raise ValueError(f"KernelSpaceConfig.g_lsq must be a bool, got {self.g_lsq!r}")
        if self.g_lsq:
            if self.head != "kernel" or self.kdim != self.basis_size**2 or self.code_stride < 32:
                raise ValueError("KernelSpaceConfig.g_lsq needs head='kernel', kdim = basis_size ** 2 (the code is "
                                 f"the kernel's logits) and code_stride >= 32; got head={self.head!r}, "
                                 f"kdim={self.kdim}, basis_size={self.basis_size}, code_stride={self.code_stride}")
        elif self.g_widths[-1] != self.kdim:
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
        d = {**_ADDED_LATER, **d}  # checkpoints written before these fields existed used their defaults
        unknown = sorted(set(d) - names)
        missing = sorted(names - set(d))
        if unknown or missing:
            raise ValueError(f"KernelSpaceConfig.from_dict: unknown keys {unknown}, missing keys {missing}")
        return cls(**d)


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"KernelSpaceConfig.{name} must be an integer >= {minimum}, got {value!r}")


_CPU_WIDTHS = dict(nf=32, kdim=128, f_widths=(32, 64, 96, 128, 128), g_widths=(64, 96, 128, 128, 128),
                   n_res_pre=4, n_res_post=6, n_res_g=2)
_PAPER_WIDTHS = dict(nf=64, kdim=512, f_widths=(64, 128, 256, 512, 512), g_widths=(128, 256, 512, 512, 512),
                     n_res_pre=10, n_res_post=20, n_res_g=4)
_KERNEL_AWARE = dict(head="basis", g_estimate=True)  # blurkit's additions (see README: why the cpu nets use them)

NET_PRESETS: dict[str, KernelSpaceConfig] = {
    # the supplement's networks exactly
    "paper": KernelSpaceConfig(**_PAPER_WIDTHS),
    # slim networks for 2 CPU cores, with the basis head and kernel estimate (the shipped models)
    "cpu": KernelSpaceConfig(**_CPU_WIDTHS, **_KERNEL_AWARE),
    # the cpu networks with a 32 px code grid (k: kdim x H/32 x W/32); refined from "cpu"
    "cpu-fine": KernelSpaceConfig(**_CPU_WIDTHS, **_KERNEL_AWARE, code_stride=32),
    # the cpu networks with a learned tone curve around the basis blur; refined from "cpu"
    "cpu-tone": KernelSpaceConfig(**_CPU_WIDTHS, **_KERNEL_AWARE, tone_knots=32),
    # cpu-tone plus a kernel read off every code (shipped as reds-like-dynamic, refined from "cpu-tone")
    "cpu-dynamic": KernelSpaceConfig(**_CPU_WIDTHS, **_KERNEL_AWARE, tone_knots=32, dynamic_kernel=True),
    # "cpu" plus a kernel read off every code that starts with a real share of the mixture (refined from "cpu")
    "cpu-dynamic-open": KernelSpaceConfig(**_CPU_WIDTHS, **_KERNEL_AWARE, dynamic_kernel=True,
                                          dynamic_init_logit=0.0),
    # cpu-dynamic on a 32 px code grid, every cell its own kernel (shipped as reds-like-basis, from "cpu-dynamic")
    "cpu-fine-dynamic": KernelSpaceConfig(**_CPU_WIDTHS, **_KERNEL_AWARE, code_stride=32, tone_knots=32,
                                          dynamic_kernel=True),
    # F as a pure per-cell convolution read off the code, inside a tone curve (linear in x, a code is a PSF); G as
    # in "cpu" / "cpu-fine", refined from a trained model's G
    "cpu-kernel": KernelSpaceConfig(**_CPU_WIDTHS, head="kernel", g_estimate=True, tone_knots=32),
    "cpu-fine-kernel": KernelSpaceConfig(**_CPU_WIDTHS, head="kernel", g_estimate=True, code_stride=32,
                                         tone_knots=32),
    # F as in cpu-fine-kernel with the code read as the kernel's logits, G the least-squares kernel of each tile plus
    # a small learned correction (blurkit.space.lsq_extractor); F's tone curve from a trained kernel-head model
    "cpu-fine-lsq": KernelSpaceConfig(nf=32, kdim=961, f_widths=(32, 64, 96, 128, 128), g_widths=(24, 32, 48, 48, 48),
                                      n_res_pre=0, n_res_post=0, n_res_g=0, head="kernel", code_stride=32,
                                      tone_knots=32, g_lsq=True),
    # the same widths with the paper's heads: the ablation showing why "cpu" departs from them
    "cpu-residual": KernelSpaceConfig(**_CPU_WIDTHS),
    "smoke": KernelSpaceConfig(
        nf=8, kdim=16, f_widths=(8, 8, 16, 16, 16), g_widths=(8, 16, 16, 16, 16),
        n_res_pre=1, n_res_post=1, n_res_g=1, head="basis", n_basis=4, basis_size=15, g_estimate=True,
    ),
    "smoke-fine": KernelSpaceConfig(
        nf=8, kdim=16, f_widths=(8, 8, 16, 16, 16), g_widths=(8, 16, 16, 16, 16),
        n_res_pre=1, n_res_post=1, n_res_g=1, head="basis", n_basis=4, basis_size=15, g_estimate=True, code_stride=32,
    ),
    "smoke-tone": KernelSpaceConfig(
        nf=8, kdim=16, f_widths=(8, 8, 16, 16, 16), g_widths=(8, 16, 16, 16, 16),
        n_res_pre=1, n_res_post=1, n_res_g=1, head="basis", n_basis=4, basis_size=15, g_estimate=True, tone_knots=8,
    ),
    "smoke-dynamic": KernelSpaceConfig(
        nf=8, kdim=16, f_widths=(8, 8, 16, 16, 16), g_widths=(8, 16, 16, 16, 16), n_res_pre=1, n_res_post=1,
        n_res_g=1, head="basis", n_basis=4, basis_size=15, g_estimate=True, tone_knots=8, dynamic_kernel=True,
    ),
    "smoke-fine-dynamic": KernelSpaceConfig(
        nf=8, kdim=16, f_widths=(8, 8, 16, 16, 16), g_widths=(8, 16, 16, 16, 16), n_res_pre=1, n_res_post=1,
        n_res_g=1, head="basis", n_basis=4, basis_size=15, g_estimate=True, code_stride=32, tone_knots=8,
        dynamic_kernel=True,
    ),
    "smoke-kernel": KernelSpaceConfig(
        nf=8, kdim=16, f_widths=(8, 8, 16, 16, 16), g_widths=(8, 16, 16, 16, 16), n_res_pre=1, n_res_post=1,
        n_res_g=1, head="kernel", basis_size=15, g_estimate=True, tone_knots=8,
    ),
    "smoke-lsq": KernelSpaceConfig(
        nf=8, kdim=225, f_widths=(8, 8, 16, 16, 16), g_widths=(8, 8, 8, 8, 8), n_res_pre=0, n_res_post=0,
        n_res_g=0, head="kernel", basis_size=15, code_stride=32, tone_knots=8, g_lsq=True,
    ),
    "smoke-residual": KernelSpaceConfig(
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
