"""Progress bars that keep logs readable: tqdm (``tqdm.auto``: widgets in Jupyter), with fewer updates off a terminal.

On a terminal or in a notebook a bar redraws as tqdm does by default. When stderr is not a terminal (a log file, a
CI job, a pipe) every redraw is a new line, so there the bar prints at most every :data:`LOG_INTERVAL_S` seconds,
as tqdm's own documentation suggests for non-interactive output (``mininterval``). A caller's ``mininterval`` wins.
There ``set_postfix`` and ``set_postfix_str`` also stop forcing a redraw (their ``refresh`` defaults to False): the
new postfix shows with the next throttled line.
"""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm
from tqdm.notebook import tqdm_notebook

LOG_INTERVAL_S = 30.0  # seconds between lines of a bar written to a log


class _LogBar(tqdm):  # type: ignore[misc, valid-type]
    """tqdm whose postfix updates wait for the next (throttled) redraw instead of forcing one."""

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = False, **kwargs: Any) -> None:
        super().set_postfix(ordered_dict, refresh=refresh, **kwargs)

    def set_postfix_str(self, s: str = "", refresh: bool = False) -> None:
        super().set_postfix_str(s, refresh=refresh)


def progress_bar(*args: Any, **kwargs: Any) -> tqdm:
    """A tqdm bar (same arguments), throttled to a line every :data:`LOG_INTERVAL_S` s off a terminal."""
    stream = kwargs.get("file") or sys.stderr
    plain = not issubclass(tqdm, tqdm_notebook)  # tqdm.auto picked the terminal bar, not the Jupyter widget
    if plain and not getattr(stream, "isatty", lambda: False)():
        kwargs.setdefault("mininterval", LOG_INTERVAL_S)
        return _LogBar(*args, **kwargs)
    return tqdm(*args, **kwargs)


__all__ = ["LOG_INTERVAL_S", "progress_bar"]
