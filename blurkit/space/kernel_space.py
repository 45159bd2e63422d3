"""The encoded blur kernel space: F (blur operator family) and G (kernel extractor) together.

``KernelSpace`` trains as ``F(x, G(x, y)) ~ y`` (paper Eq. 4), encodes pairs into kernels, applies kernels to
sharp images, transfers the blur of one pair onto another image, and saves/loads checkpoints.

Checkpoint format (``torch.save`` of a dict, written atomically): ``format_version``, ``config``
(:meth:`KernelSpaceConfig.to_dict`), ``state_dict`` (CPU tensors), ``provenance`` and ``extra``. It is read with
``torch.load(weights_only=True)``, so ``provenance`` and ``extra`` must hold plain data only (dicts, lists,
strings, numbers, booleans, None, tensors). Shipped models live in ``blurkit/models/<name>.pt``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as Fnn

from blurkit.errors import BlurkitError
from blurkit.files import atomic_path
from blurkit.paths import PACKAGE_DIR
from blurkit.space.basis_blur import BASIS_LR_SCALE
from blurkit.space.blocks import kernel_size_for
from blurkit.space.extractor import KernelExtractor
from blurkit.space.lsq_extractor import LsqExtractor
from blurkit.space.netconfig import KernelSpaceConfig, net_preset
from blurkit.space.operator import BlurOperator

FORMAT_VERSION = 1
MODELS_DIR = PACKAGE_DIR / "models"
SHIPPED: dict[str, str] = {"default": "reds-like"}  # short names -> file stem in MODELS_DIR
# parameters that must move by O(1) and learn at BASIS_LR_SCALE x lr: the basis kernels, the tone curve, and the
# biases of the dynamic kernel (its weight matrices see all kdim inputs at once and keep the networks' rate)
FAST_PREFIXES = ("F.basis.", "F.tone.", "F.dyn.to_kernel.bias", "F.dyn.to_logit.bias")
_KEYS = ("format_version", "config", "state_dict", "provenance", "extra")


def resize_kernel(k: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Fit a kernel map to another spatial size: a 1x1 k is broadcast, any other is resized bilinearly.

    Bilinear resizing uses ``align_corners=False``, the same sampling as resizing the images themselves, so a
    spatially varying blur keeps its layout relative to the image.

    Shape:
        ``(B, kdim, h, w) -> (B, kdim, size[0], size[1])``.
    """
    if tuple(k.shape[-2:]) == tuple(size):
        return k
    if k.shape[-2:] == (1, 1):
        return k.expand(-1, -1, *size)
    return Fnn.interpolate(k, size=size, mode="bilinear", align_corners=False)


class KernelSpace(nn.Module):
    """F and G with their config.

    Attributes:
        F: the blur operator family :class:`~blurkit.space.operator.BlurOperator`.
        G: the kernel extractor :class:`~blurkit.space.extractor.KernelExtractor`, or with ``config.g_lsq``
            :class:`~blurkit.space.lsq_extractor.LsqExtractor`.
        config: the :class:`~blurkit.space.netconfig.KernelSpaceConfig` both were built from.
        provenance, extra: what the checkpoint stored (``None`` / ``{}`` for a fresh model).
    """

    def __init__(self, config: KernelSpaceConfig | str = "cpu") -> None:
        super().__init__()
        self.config = net_preset(config) if isinstance(config, str) else config
        self.F = BlurOperator(self.config)
        self.G: KernelExtractor | LsqExtractor = (LsqExtractor(self.config, self.F.tone) if self.config.g_lsq
                                                  else KernelExtractor(self.config))
        self.provenance: dict | None = None
        self.extra: dict = {}

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The kernel of a sharp/blurry pair, ``G(x, y)``.

        Shape:
            x, y ``(B, C, H, W)`` -> ``(B, kdim, *self.kernel_size(H, W))`` (``ceil(H/128), ceil(W/128)`` at stride
            128).
        """
        return self.G(x, y)

    def apply(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Blur a sharp image with a kernel, ``F(x, k)`` (shadows ``nn.Module.apply(fn)`` on purpose).

        Shape:
            x ``(B, C, H, W)``, k ``(B or 1, kdim, *self.kernel_size(H, W))`` -> ``(B, C, H, W)``.
        """
        return self.F(x, k)

    def forward(self, x: torch.Tensor, y: torch.Tensor, with_kernels: bool = False,
                lsq: torch.Tensor | None = None) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Reconstruct the blurry image from the pair, ``F(x, G(x, y))`` (the training objective's prediction);
        with ``with_kernels`` also the kernel F reads off every cell of ``G(x, y)`` (:meth:`cell_kernels`). ``lsq``
        hands a ``g_lsq`` G its tiles' least-squares kernels (cached in training) instead of computing them.

        Shape:
            x, y ``(B, C, H, W)`` -> ``(B, C, H, W)`` [and ``(B, h_k, w_k, S, S)``]; lsq ``(B, H/128, W/128, S, S)``.
        """
        k = self.G(x, y) if lsq is None else self.G(x, y, lsq=lsq)
        pred = self.F(x, k)
        return (pred, self.cell_kernels(k)) if with_kernels else pred

    def cell_kernels(self, k: torch.Tensor) -> torch.Tensor:
        """The blur kernel F reads off every code cell (``head="kernel"`` or ``dynamic_kernel``), summing to 1.

        Shape:
            k ``(B, kdim, h_k, w_k)`` -> ``(B, h_k, w_k, S, S)`` with ``S = config.basis_size``.
        """
        if self.F.dyn is None:
            raise ValueError("only F with the kernel head or the dynamic kernel reads a kernel off each code cell "
                             f"(this one has head={self.config.head!r}, dynamic_kernel=False)")
        return self.F.dyn.kernels(k)

    def transfer(self, x_src: torch.Tensor, y_src: torch.Tensor, x_tgt: torch.Tensor) -> torch.Tensor:
        """Blur ``x_tgt`` with the blur of the pair (x_src, y_src): ``F(x_tgt, G(x_src, y_src))``.

        Source and target may differ in size: when the source kernel's spatial size is not the one x_tgt needs,
        it is fitted with :func:`resize_kernel` (1x1 broadcast, else bilinear). A source batch of 1 is applied to
        every target image; otherwise the batch sizes must match.

        Shape:
            x_src, y_src ``(Bs, C, Hs, Ws)``, x_tgt ``(B, C', H, W)`` with Bs in {1, B} -> ``(B, C', H, W)``.
        """
        k = self.G(x_src, y_src)
        if x_tgt.dim() == 4:
            k = resize_kernel(k, self.kernel_size(x_tgt.shape[-2], x_tgt.shape[-1]))
        return self.F(x_tgt, k)

    def kernel_size(self, h: int, w: int) -> tuple[int, int]:
        """Spatial size of k for an ``h x w`` image: one code per ``config.code_stride`` px (128: the paper's)."""
        return kernel_size_for(h, w, self.config.code_stride)

    def code_norm(self, k: torch.Tensor) -> torch.Tensor:
        """``‖k‖₂`` in units of the paper's 128 px code grid: the norm times ``code_stride / 128``.

        The ``λ‖k‖₂`` term of Eq. 6 and of kernel retrieval uses it, so that a finer grid (more codes per 128 px
        tile) is not penalised more: a fine code that repeats one coarse code over its tile has the coarse code's
        norm. At the paper's stride it is exactly ``‖k‖₂``.

        Shape:
            k ``(B, kdim, h_k, w_k)`` -> scalar.
        """
        return torch.linalg.vector_norm(k) * (self.config.code_stride / 128)

    def init_from(self, other: "KernelSpace") -> list[str]:
        """Copy the weights of a trained kernel space that differs from this one in ``code_stride``,
        ``tone_knots`` and ``dynamic_kernel`` (with ``dynamic_init_logit``) at most; a kernel-head space copies G
        alone from any model whose G has the same shapes; a ``g_lsq`` space copies F's tone curve alone.

        This is how a fine-grid model (``cpu-fine``) or one with a tone curve (``cpu-tone``) starts from a trained
        ``cpu`` one: every shared weight is copied, and the modules only this one has start as identities (zero
        last layers, an identity curve), so the result computes exactly the other model's blur. Returns the
        names of the weights that were not copied.
        """
        if self.config.g_lsq:  # F's tone curve only: the code (a kernel's logits) and G are this model's own
            if self.config.tone_knots != other.config.tone_knots or other.F.tone is None:
                raise BlurkitError(f"a g_lsq kernel space takes its tone curve ({self.config.tone_knots} knots) from "
                                   f"a model with one, got tone_knots={other.config.tone_knots}")
            state = {n: v for n, v in other.state_dict().items() if n.startswith("F.tone.")}
            missing, _ = self.load_state_dict(state, strict=False)
            return list(missing)
        if self.config.head == "kernel" and other.config.head != "kernel":  # G only: F has nothing to copy
            state = {n: v for n, v in other.state_dict().items() if n.startswith("G.")}
            try:
                missing, _ = self.load_state_dict(state, strict=False)
            except RuntimeError as exc:
                raise BlurkitError(f"cannot initialise this G from that model's: {_one_line(exc)}") from None
            return list(missing)
        mine = dataclasses.replace(self.config, code_stride=other.config.code_stride,
                                   tone_knots=other.config.tone_knots, dynamic_kernel=other.config.dynamic_kernel,
                                   dynamic_init_logit=other.config.dynamic_init_logit)
        if mine != other.config:
            raise BlurkitError(f"cannot initialise a {self.config} kernel space from a {other.config} one: only "
                               "code_stride, tone_knots and dynamic_kernel (and its init logit) may differ, or "
                               "this one has the kernel head (then G alone is copied)")
        try:
            missing, unexpected = self.load_state_dict(other.state_dict(), strict=False)
        except RuntimeError as exc:
            raise BlurkitError(f"cannot initialise from that model: {_one_line(exc)}") from None
        if unexpected:
            raise BlurkitError(f"cannot initialise from a model with weights this one lacks: {unexpected}")
        return list(missing)

    def parameter_groups(self, lr: float) -> list[dict]:
        """Adam parameter groups: everything at ``lr``, the parameters named by :data:`FAST_PREFIXES` faster."""
        fast = [p for n, p in self.named_parameters() if n.startswith(FAST_PREFIXES)]
        ids = {id(p) for p in fast}
        groups = [{"params": [p for p in self.parameters() if id(p) not in ids], "lr": lr}]
        if fast:
            groups.append({"params": fast, "lr": lr * BASIS_LR_SCALE})
        return groups

    @property
    def training_domain(self) -> str | None:
        """The data domain the kernel space was trained on, from its provenance (``reds-like-kernel`` -> ``reds-like``);
        None for one without that record (an untrained or hand-built model)."""
        domain = (self.provenance or {}).get("config", {}).get("data")
        return domain if isinstance(domain, str) and domain else None

    def num_parameters(self, part: Literal["all", "F", "G"] = "all") -> int:
        """Number of parameters of both networks, or of F or G only."""
        module = {"all": self, "F": self.F, "G": self.G}[part]
        return sum(p.numel() for p in module.parameters())

    def save(
        self, path: str | os.PathLike, provenance: dict | None = None, extra: dict | None = None
    ) -> Path:
        """Write a checkpoint atomically (temporary file, then rename); return its path."""
        path = Path(path)
        obj = {
            "format_version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()},
            "provenance": provenance,
            "extra": {} if extra is None else extra,
        }
        with atomic_path(path) as tmp:
            torch.save(obj, tmp)
        return path

    @classmethod
    def load(cls, name_or_path: str | os.PathLike, map_location: str | torch.device = "cpu") -> "KernelSpace":
        """Load a checkpoint file, or a shipped model by name (``"default"`` -> ``blurkit/models/reds-like.pt``).

        A missing, corrupt or incompatible file raises :class:`~blurkit.errors.BlurkitError` naming the file.
        The model is returned in eval mode.
        """
        path, how = _resolve(name_or_path)
        if not path.is_file():
            raise BlurkitError(f"no trained kernel space at '{path}'; produce it with `{how}`")
        try:
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as exc:  # torch raises many kinds for a bad file
            raise BlurkitError(
                f"cannot read kernel space '{path}': corrupt or not a checkpoint ({_one_line(exc)})"
            ) from None
        if not isinstance(ckpt, dict) or any(k not in ckpt for k in _KEYS):
            raise BlurkitError(f"'{path}' is not a blurkit kernel-space checkpoint (expected keys {list(_KEYS)})")
        if ckpt["format_version"] != FORMAT_VERSION:
            raise BlurkitError(
                f"'{path}' has checkpoint format {ckpt['format_version']!r}; this blurkit reads {FORMAT_VERSION}; "
                f"re-create it with `{how}`"
            )
        try:
            model = cls(KernelSpaceConfig.from_dict(ckpt["config"]))
            model.load_state_dict(ckpt["state_dict"])
        except (ValueError, TypeError, RuntimeError) as exc:
            raise BlurkitError(f"'{path}' does not match its config: {_one_line(exc)}") from None
        model.provenance = ckpt["provenance"]
        model.extra = ckpt["extra"]
        model.source = path
        return model.to(map_location).eval()


def _resolve(name_or_path: str | os.PathLike) -> tuple[Path, str]:
    """The checkpoint file for a path or shipped name, and the command that produces it."""
    text = os.fspath(name_or_path)
    looks_like_path = isinstance(name_or_path, os.PathLike) or "/" in text or os.sep in text or text.endswith(".pt")
    if looks_like_path or Path(text).is_file():
        path = Path(text).expanduser()
        return path, f"blurkit train --profile cpu --data reds-like --out {path}"
    stem = SHIPPED.get(text, text)
    path = MODELS_DIR / f"{stem}.pt"
    return path, f"blurkit train --profile cpu --data {stem} --out {path}"


def checkpoint_path(name_or_path: str | os.PathLike) -> Path:
    """The file :meth:`KernelSpace.load` reads for a path or shipped name (it need not exist)."""
    return _resolve(name_or_path)[0]


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]


__all__ = ["FORMAT_VERSION", "MODELS_DIR", "SHIPPED", "KernelSpace", "checkpoint_path", "resize_kernel"]
