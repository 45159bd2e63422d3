"""bf16 on CPUs without native bf16 units: detected, warned about once per training run, recorded in provenance."""

from __future__ import annotations

import dataclasses
import warnings

import pytest
import torch

import blurkit.precision as precision
from blurkit.precision import SlowPrecisionWarning, cpu_bf16_native, cpu_capability, warn_if_slow_bf16
from blurkit.provenance import provenance


def test_capability_probes_answer() -> None:
    assert isinstance(cpu_bf16_native(), bool)
    assert cpu_capability() and isinstance(cpu_capability(), str)


@pytest.mark.parametrize("native", [False, True])
def test_warns_only_for_bf16_on_a_cpu_without_it(native: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: native)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning other than the expected one fails the test
        assert warn_if_slow_bf16(False, "cpu") is False
        assert warn_if_slow_bf16(True, torch.device("meta")) is False  # not a CPU: nothing to say
        if native:
            assert warn_if_slow_bf16(True, "cpu") is False
    if not native:
        with pytest.warns(SlowPrecisionWarning, match="--fp32"):
            assert warn_if_slow_bf16(True, "cpu") is True


def test_baseline_trainer_warns_on_slow_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    from blurkit.baselines.baseline_config import get_baseline_config
    from blurkit.baselines.baseline_train import BaselineTrainer

    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: False)
    cfg = get_baseline_config("srn", "smoke")
    with pytest.warns(SlowPrecisionWarning):
        BaselineTrainer(dataclasses.replace(cfg, bf16=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlowPrecisionWarning)
        BaselineTrainer(cfg)  # fp32: no warning


def test_provenance_records_the_cpu() -> None:
    dev = provenance()["device"]
    assert dev["cpu_capability"] == cpu_capability()
    assert dev["cpu_bf16_native"] is cpu_bf16_native()
    assert isinstance(dev["cpu_model"], str) and dev["cpu_model"]
