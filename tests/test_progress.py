"""Progress bars: throttled off a terminal (logs stay readable), tqdm's default on one, a caller's choice wins."""

from __future__ import annotations

import io

from blurkit.progress import LOG_INTERVAL_S, progress_bar


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_gets_fewer_updates() -> None:
    log = io.StringIO()
    with progress_bar(total=1000, file=log) as bar:
        assert bar.mininterval == LOG_INTERVAL_S
        for _ in range(1000):
            bar.update(1)
    assert log.getvalue().count("\r") <= 3  # start and close, not a line per update


def test_terminal_keeps_tqdm_default_and_caller_wins() -> None:
    with progress_bar(total=3, file=_Tty()) as bar:
        assert bar.mininterval == 0.1
    with progress_bar(total=3, file=io.StringIO(), mininterval=2.0) as bar:
        assert bar.mininterval == 2.0


def test_postfix_updates_do_not_force_lines_into_a_log() -> None:
    log = io.StringIO()
    with progress_bar(total=500, file=log) as bar:
        for i in range(500):
            bar.set_postfix(loss=f"{i / 500:.3f}")
            bar.set_postfix_str(f"step {i}")
            bar.update(1)
    assert log.getvalue().count("\r") <= 3


def test_postfix_still_redraws_on_a_terminal() -> None:
    tty = _Tty()
    with progress_bar(total=5, file=tty) as bar:
        for i in range(5):
            bar.set_postfix(loss=f"{i}")
    assert tty.getvalue().count("\r") >= 5
