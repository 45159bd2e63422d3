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
    (_, last_val), _ = _loop(0, 0, 5, history)
    assert history == [] and last_val is None
    assert last_validation([{"val_psnr": None}, {"val_psnr": 31.0}, {"val_psnr": None}]) == 31.0
