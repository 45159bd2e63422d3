"""What a ladder cell depends on: the key a stored (set, method) cell must match to be reused, and each row's blend.

A cell of the per-image file is recomputed when the hash of its method's settings, the kernel space's file (and, for
the blind presets, its code estimator's) or the set's x-step changes (:func:`method_key`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from blurkit.deblur.blended_xstep import LADDER_BLEND, XStepBlend
from blurkit.deblur.deblur_config import DEBLUR_PRESETS
from blurkit.deblur.linear_xstep import xstep_key
from blurkit.experiments.nonblind_rows import (
    KERNEL_FIT_LR,
    KERNEL_FIT_STEPS,
    TRUE_CODE_VIEWS,
    retrieval_config,
    set_blend,
    set_xstep,
)
from blurkit.experiments.recorded_truth import ORACLE_CELL, ORACLE_KERNEL
from blurkit.profiles import get_profile
from blurkit.space.kernel_lsq import LSQ_ITERS, LSQ_REJECT, LSQ_REJECT_WINDOW, LSQ_RIDGE, LSQ_ROBUST, LSQ_WEIGHTS

MODEL_FREE = ("blurry", "classical", "selfdeblur", "oracle", "oracle_exact")  # cells independent of the kernel space
SET_BLEND_ROWS = ("true_code", "true_code_x8", "retrieved_code", "kernel_code", "lsq_code", "tv_code",
                  "tv_code_noguard")  # the set's own x-step


def row_blend(method: str, model_name: str) -> XStepBlend | None:
    """The blended x-step of a ``*_blend`` row (:data:`LADDER_BLEND`); of a non-blind code row, the blend calibrated
    for the kernel space if any (:func:`blurkit.experiments.nonblind_rows.set_blend`); else None."""
    if method.endswith("_blend"):
        return LADDER_BLEND
    return set_blend(model_name) if method in SET_BLEND_ROWS else None


def method_key(method: str, model_name: str, profile: str, paper_steps: int,
               baseline_runs: dict[str, Path] | None = None) -> str:
    """A hash of everything a (set, method) cell depends on: the method's settings, the kernel space's file and,
    for the blind presets, its code estimator's file. A stored cell with another key is computed again."""
    from blurkit.deblur.guard import GuardConfig
    from blurkit.experiments.bench_deblur import bench_configs, model_file_hashes
    from blurkit.files import sha256_file

    smoke = get_profile(profile).name == "smoke"
    spec: dict = {"method": method, "smoke": smoke}
    if method not in MODEL_FREE:
        spec.update(model_file_hashes(model_name, with_estimator=False))
    if method in ("true_code", "true_code_x8", "true_code_blend", "retrieved_code", "kernel_code", "kernel_code_blend",
                  "lsq_code", "lsq_code_blend", "oracle", "oracle_exact", "tv_code", "tv_code_noguard", "tv_kernel",
                  "tv_kernel_noguard"):
        xstep = set_xstep(model_name)
        if method == "oracle_exact":  # it solves the renderer's own margin
            xstep = dataclasses.replace(xstep, margin=0)
        spec["xstep"] = xstep_key(xstep)
        if method == "true_code_x8":
            spec["views"] = TRUE_CODE_VIEWS
        elif method in ("lsq_code", "lsq_code_blend"):
            spec["kernel_fit"] = {"steps": KERNEL_FIT_STEPS, "lr": KERNEL_FIT_LR, "lsq_iters": LSQ_ITERS,
                                  "lsq_ridge": LSQ_RIDGE, "lsq_robust": LSQ_ROBUST}
            if LSQ_WEIGHTS != "l1":  # cells made with the L1 weights keep their key
                spec["kernel_fit"].update({"lsq_weights": LSQ_WEIGHTS, "lsq_reject": LSQ_REJECT,
                                           "lsq_reject_window": LSQ_REJECT_WINDOW})
        elif method in ("kernel_code", "kernel_code_blend"):
            spec["kernel_fit"] = {"steps": KERNEL_FIT_STEPS, "lr": KERNEL_FIT_LR, "cell": ORACLE_CELL}
        elif method in ("tv_code", "tv_code_noguard"):
            from blurkit.experiments.tv_rows import TV_MAX_BLOBS, tv_guard, tv_row_settings

            tv, steps = tv_row_settings(model_name, profile)
            tv_key = {k: v for k, v in tv.__dict__.items() if k != "spread" or v}  # spread 0 keeps its cells' key
            spec["kernel_fit"] = {"steps": steps, "lr": KERNEL_FIT_LR, "tv": tv_key}
            if method == "tv_code":
                spec["guard"] = {**tv_guard(model_name).__dict__, "max_blobs": TV_MAX_BLOBS}
        elif method in ("tv_kernel", "tv_kernel_noguard"):
            from blurkit.deblur import tv_fallback
            from blurkit.experiments.tv_kernel_rows import tv_kernel_row_settings

            tv, crf = tv_kernel_row_settings(model_name, profile)
            spec["tv_kernel"] = {"tv": tv.__dict__, "crf": crf,
                                 "max_blobs": tv_fallback.TV_KERNEL_MAX_BLOBS if method == "tv_kernel" else None}
        elif method == "retrieved_code":
            spec["retrieval"] = retrieval_config(smoke).to_dict()
        blend = row_blend(method, model_name)
        if blend is not None:
            spec["blend"] = blend.__dict__
        if method == "oracle":
            spec["oracle"] = {"cell": ORACLE_CELL, "kernel": ORACLE_KERNEL, "crf": True}
        elif method == "oracle_exact":
            from blurkit.data.synthesis import SYNTHESIS_VERSION

            spec["oracle"] = {"exact_blur": SYNTHESIS_VERSION, "crf": True}
    elif method in ("fast", "fast_noguard", "fast_adam") and smoke:
        spec["config"] = DEBLUR_PRESETS["smoke"].to_dict()
    elif method == "fast":
        from blurkit.deblur import tv_fallback
        from blurkit.space.kernel_space import KernelSpace

        fast = DEBLUR_PRESETS["fast"]
        spec.update(config=fast.to_dict(), guard=GuardConfig().__dict__,
                    **model_file_hashes(model_name, with_estimator=True),
                    fallback=tv_fallback.fallback_record(KernelSpace.load(model_name), fast.fallback_iters))
    elif method == "fast_noguard":  # without the guard there is nothing to fall back from: the key it always had
        spec.update(config=DEBLUR_PRESETS["fast"].replace(fallback="none").to_dict(), guard=None,
                    **model_file_hashes(model_name, with_estimator=True))
    elif method == "fast_adam":
        spec["config"] = DEBLUR_PRESETS["fast-adam"].to_dict()
    elif method == "paper":
        spec["config"] = bench_configs(get_profile(profile).name, paper_steps)["paper"].to_dict()
    elif method == "official":
        from blurkit.deblur.warm_code import WARM_PAIRS

        spec["config"] = bench_configs(get_profile(profile).name, paper_steps)["official"].to_dict()
        spec["warm_code"] = {"pairs": WARM_PAIRS, "profile": get_profile(profile).name}
    elif method in ("srn", "deblurganv2"):
        run = Path((baseline_runs or {}).get(method, ""))
        spec["run"] = str(run)
        spec["run_sha256"] = sha256_file(run / "model.pt") if (run / "model.pt").is_file() else None
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


__all__ = ["MODEL_FREE", "SET_BLEND_ROWS", "method_key", "row_blend"]
