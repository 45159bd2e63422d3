"""Whether bf16 autocast pays off on the device at hand.

bf16 is fast on GPUs and on CPUs with native bf16 units (AVX-512 BF16, AMX), where oneDNN runs bf16 convolutions
in hardware. On other CPUs (AVX2 only) it is emulated: on an AMD EPYC with AVX2, one thread, a ``cpu`` training step
took 3.08 s in bf16 against 0.27 s in fp32 for SRN-Deblur (11x slower) and 2.19 s against 0.15 s for DeblurGAN-v2 (14x)
(``blurkit bench baseline-train --threads 1 --profile cpu --out-dir results/bench/avx2``), where a Sapphire Rapids CPU
(AMX) ran them 2.4x and 1.25x *faster* (``results/bench/baseline_train.csv``). Training with ``bf16`` on such a CPU
therefore warns, naming the measurement command; it does not change the numerics the config asks for.
"""

from __future__ import annotations

import warnings

import torch


class SlowPrecisionWarning(UserWarning):
    """bf16 was asked for on a CPU that has no native bf16 units (it works, but far slower than fp32)."""


def cpu_bf16_native() -> bool:
    """True when oneDNN runs bf16 natively on this CPU (AVX-512 BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - builds without oneDNN
        return False


def cpu_capability() -> str:
    """The widest vector instruction set PyTorch uses on this CPU (``AVX2``, ``AVX512``, ...)."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):  # pragma: no cover - very old or unusual builds
        return "unknown"


def warn_if_slow_bf16(bf16: bool, device: torch.device | str) -> bool:
    """Warn (:class:`SlowPrecisionWarning`) when ``bf16`` is on for a CPU without native bf16; True if it warned."""
    if not bf16 or torch.device(device).type != "cpu" or cpu_bf16_native():
        return False
    warnings.warn(f"bf16 on a CPU without native bf16 units ({cpu_capability()}) is emulated and far slower than "
                  "fp32 (11-14x for the baselines on an AVX2 CPU); train with --fp32, or time both with `blurkit bench "
                  "baseline-train`", SlowPrecisionWarning, stacklevel=2)
    return True
