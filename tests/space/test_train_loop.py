"""The shared step loop: logging, validation cadence, checkpoints, and a Ctrl-C that loses nothing."""

from __future__ import annotations

import pytest

from blurkit.space.train_loop import last_validation, run_steps


def _loop(step: int, end: int, total: int, history: list, interrupt_at: int | None = None) -> tuple:
    saved: list[int] = []

    def train_step(s: int) -> dict[str, float]:
        if s == interrupt_at:
            raise KeyboardInterrupt
        return {"loss": 1.0 / (s + 1), "psnr": 20.0 + s, "lr": 0.1}

    out = run_steps(step, end, total, history, train_step, lambda: 30.0 + len(history), val_every=3,
                    ckpt_every=4, save_state=saved.append, desc="test", progress=False)
    return out, saved


def test_logs_every_step_validates_on_cadence_and_checkpoints() -> None:
    history: list = []
    (step, last_val), saved = _loop(0, 7, 7, history)
    assert step == 7 and [h["step"] for h in history] == list(range(1, 8))
    assert [h["step"] for h in history if h["val_psnr"] is not None] == [3, 6, 7]  # every 3 and at the total
    assert last_val == history[-1]["val_psnr"] == last_validation(history)
    assert saved == [4, 7]
    assert set(history[0]) == {"step", "loss", "psnr", "lr", "val_psnr"}


def test_resumed_loop_continues_the_history() -> None:
    history: list = []
    _loop(0, 4, 8, history)
    (step, last_val), saved = _loop(4, 8, 8, history)
    assert step == 8 and [h["step"] for h in history] == list(range(1, 9))
    assert saved == [8, 8]  # the checkpoint at 8 and the final save


def test_ctrl_c_saves_the_state_reached_and_propagates() -> None:
    history: list = []
    with pytest.raises(KeyboardInterrupt):
        _loop(0, 10, 10, history, interrupt_at=5)
    assert len(history) == 5
    saved = []
    with pytest.raises(KeyboardInterrupt):
        run_steps(0, 3, 3, [], lambda s: (_ for _ in ()).throw(KeyboardInterrupt), None, 1, 1, saved.append, "t",
                  progress=False)
    assert saved == [0]


def test_no_validation_without_a_validator() -> None:
    history: list = []
    saved: list[int] = []
    step, last_val = run_steps(0, 6, 6, history, lambda s: {"loss": 1.0, "psnr": 20.0, "lr": 0.1}, None, val_every=3,
                               ckpt_every=4, save_state=saved.append, desc="test", progress=False)
    assert step == 6 and [h["step"] for h in history] == list(range(1, 7))  # it trains ...
    assert all(h["val_psnr"] is None for h in history) and last_val is None  # ... but never validates
    assert saved == [4, 6] and last_validation(history) is None


def test_last_validation_is_the_latest_recorded() -> None:
    assert last_validation([]) is None
    assert last_validation([{"val_psnr": None}, {"val_psnr": 31.0}, {"val_psnr": None}]) == 31.0
    assert last_validation([{"val_psnr": 30.0}, {"val_psnr": 32.0}]) == 32.0


def test_a_resumed_loop_keeps_the_last_validation() -> None:
    history = [{"step": 1, "loss": 1.0, "psnr": 20.0, "lr": 0.1, "val_psnr": 29.0}]
    step, last_val = run_steps(1, 2, 9, history, lambda s: {"loss": 1.0, "psnr": 20.0, "lr": 0.1}, lambda: 35.0,
                               val_every=3, ckpt_every=10, save_state=lambda s: None, desc="t", progress=False)
    assert step == 2 and history[-1]["val_psnr"] is None and last_val == 29.0  # step 2 is off the cadence
