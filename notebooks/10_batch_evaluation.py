# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10 · Batch evaluation: your methods on your data
#
# Runs `blurkit evaluate` (the same function, `blurkit.experiments.evaluate.evaluate`) from a notebook, so that
# papermill can run it over your own data: set `data` to a folder with `sharp/` and `blur/` (same file names), to a
# folder of blurry images only (no reference: outputs and timing only), to a default domain (`reds-like`, ...) or to
# a real dataset (`gopro`, `reds`, `hide` with `split`). `methods` takes the command line's spellings: `identity`,
# `ours:fast` (any deblur preset), `selfdeblur`, `classical`, `srn:RUN_DIR`, `deblurganv2:RUN_DIR`.
#
# Every (image, method) cell is stored in `out` as soon as it is done: run the notebook again and only the missing
# cells are computed. With `data = None` it evaluates a tiny synthesised folder (`gopro-like` blur on the default
# test photos, 32 px), which is what CI runs at `smoke`.

# %% tags=["parameters"]
profile = "smoke"
seed = 0
results_dir = None  # None: $BLURKIT_RESULTS_DIR, else ../results/<profile>
data = None  # None: a tiny synthesised pair folder in work_dir; else a folder, a default domain or gopro/reds/hide
split = "test"
methods = ["identity", "classical", "ours"]  # "ours" is the profile's preset (smoke -> smoke, else fast)
model = "default"  # kernel space of the ours methods: a shipped name or a model.pt path
n = None  # None: every image (3 for the synthesised folder)
out = None  # None: <results_dir>/10_batch_evaluation
work_dir = None  # None: $BLURKIT_WORK_DIR, else ../runs/<profile>/baselines (the synthesised folder goes there)
threads = 1  # torch CPU threads; None: torch's

# %%
from pathlib import Path

from IPython.display import display

from blurkit.data.default_data import synth_folder
from blurkit.experiments.evaluate import draw, evaluate
from blurkit.experiments.notebooks import results_folder, use_threads, work_folder
from blurkit.profiles import get_profile
from blurkit.provenance import provenance, save_figure, save_result

prof = get_profile(profile)
results_dir = results_folder(prof.name, results_dir)
work_dir = work_folder(prof.name, work_dir)
use_threads(threads)
if data is None:
    data = synth_folder("gopro-like", n or 3, 32, seed, Path(work_dir) / "data" / "10_tiny_pairs", split="test",
                        progress=False)
out = Path(out) if out else Path(results_dir) / "10_batch_evaluation"
res = evaluate(data, methods, out, model=model, n=n, split=split, profile=prof.name, seed=seed, progress=False)
res.summary.round(3)

# %%
res.per_image.round(3)

# %% [markdown]
# Per method (a row) its best, median and worst image by PSNR; by name where there is no reference.

# %%
fig = draw(out, res.per_image)
record = provenance(config={"profile": prof.name, "data": str(data), "split": split, "methods": list(methods),
                            "model": model, "n": n, "out": str(out)}, seed=seed)
save_figure(fig, "10_batch_evaluation", results_dir, record)
save_result(res.summary, "10_batch_summary", results_dir, record)
display(fig)

# %% [markdown]
# A second call finds every cell on disk and computes nothing.

# %%
again = evaluate(data, methods, out, model=model, n=n, split=split, profile=prof.name, seed=seed, progress=False)

# %% tags=["nbval-check-output"]
# Key numbers, stable across CPUs (threads fixed): PSNR to 0.1 dB, SSIM to 0.01, the gain's sign by its interval.
print("images:", res.summary.n.max(), "| cells:", len(res.per_image), "| computed on the second call:", again.computed)
for r in res.summary.itertuples():
    side = "above" if r.ci_low > 0 else "below" if r.ci_high < 0 else "around"
    print(f"{r.method:9s} PSNR {r.psnr:.1f} dB, SSIM {r.ssim:.2f}, gain over identity {r.gain_db:+.1f} dB "
          f"(95 % interval {side} 0)")
