"""The step loop shared by every trainer: progress bar, validation, periodic checkpoints, nothing lost on Ctrl-C.

:func:`run_steps` drives a training step function from ``step`` to ``end``; the trainers (kernel space in
:mod:`blurkit.space.train`, learned baselines in :mod:`blurkit.baselines.baseline_train`) differ only in what one step does and what
a checkpoint holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from blurkit.progress import progress_bar


def last_validation(history: list[dict[str, Any]]) -> float | None:
    """The most recent validation PSNR recorded in a history, or None."""
    return next((h["val_psnr"] for h in reversed(history) if h.get("val_psnr") is not None), None)


def run_steps(step: int, end: int, total: int, history: list[dict[str, Any]],
              train_step: Callable[[int], dict[str, float]], validate: Callable[[], float] | None,
              val_every: int, ckpt_every: int, save_state: Callable[[int], None], desc: str,
              progress: bool = True) -> tuple[int, float | None]:
    """Run ``train_step(s)`` for ``s = step .. end - 1``; returns ``(step reached, last validation PSNR)``.

    ``train_step`` returns the logged values of one step (``loss``, ``psnr``, ``lr`` and any others); each is
    appended to ``history`` with its 1-based ``step`` and ``val_psnr`` (``validate()`` every ``val_every`` steps
    and at ``total``, else None). ``save_state(step)`` runs every ``ckpt_every`` steps, on Ctrl-C (then the
    interrupt propagates) and once at the end, so a later ``--resume`` continues from where this stopped.
    """
    last_val = last_validation(history)
    bar = progress_bar(total=total, initial=step, desc=desc, unit="step", disable=not progress, dynamic_ncols=True)
    try:
        while step < end:
            logged = train_step(step)
            step += 1
            rec: dict[str, Any] = {"step": step, **logged, "val_psnr": None}
            if validate is not None and (step % val_every == 0 or step == total):
                last_val = rec["val_psnr"] = validate()
            history.append(rec)
            bar.update(1)
            bar.set_postfix(loss=f"{rec['loss']:.4f}", psnr=f"{rec['psnr']:.2f}",
                            val=f"{last_val:.2f}" if last_val is not None else "-")
            if step % ckpt_every == 0:
                save_state(step)
    except KeyboardInterrupt:
        save_state(step)  # nothing lost: resume continues from here
        raise
    finally:
        bar.close()
    save_state(step)
    return step, last_val
