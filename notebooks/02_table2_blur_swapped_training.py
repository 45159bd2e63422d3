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
# # 02 · Table 2: training on blur-swapped data (Sec. 4.1.2)
#
# Each training pair (x, y) of a domain gives its blur to a random other sharp image x̂ of the same set:
# ŷ = F(x̂, G(x, y)) (`blurkit data swap`). SRN-Deblur (`blurkit baseline train srn`) is trained once on the original
# set and once on its blur-swapped copy, and both are tested on the domain's real test pairs. The paper's claim: the
# swapped set trains a deblurrer nearly as well as the original (1.27 dB lower on REDS, 1.71 dB on GOPRO).
# The claim is tested per test image on the `original/*` rows: `diff_db` is the mean of PSNR(original-trained) -
# PSNR(swapped-trained) over the same `n` images, `ci_low`/`ci_high` its paired 95 % bootstrap interval, and the
# `verdict` holds when the interval lies above zero (the paper's side), fails below it, and is inconclusive when it
# contains zero. `gap_*` give the mean differences beside the paper's. The per-image PSNRs are saved too
# (`02_table2_per_image`). Every step resumes: a re-run skips finished images and finished training runs under
# `work_dir`.

# %% tags=["parameters"]
profile = "smoke"
seed = 0
results_dir = None  # None: $BLURKIT_RESULTS_DIR, else ../results/<profile>
work_dir = None  # None: $BLURKIT_WORK_DIR, else ../runs/<profile>/baselines; shared by 02, 04, 05, 06
# reds-like-basis: the basis-head reds-like kernel space (the shipped reds-like until 2026-12-06); the swap keeps it,
# since the least-squares reds-like's G costs about 1.3 s per 128 px tile
models = {"reds-like": "reds-like-basis", "gopro-like": "gopro-like"}
threads = None

# %%
from pathlib import Path

from blurkit.experiments.baseline_report import table2, table2_rows
from blurkit.data.datasets import resolve_pairs
from blurkit.data.default_data import build_default
from blurkit.data.images import read_image
from blurkit.plots import paper_vs_ours, show_pairs
from blurkit.experiments.notebooks import results_folder, use_threads, work_folder
from blurkit.profiles import get_profile
from blurkit.provenance import provenance, save_figure, save_result, timed

prof = get_profile(profile)
use_threads(threads)  # every step, not only the baselines' training, runs with this many threads
results_dir = results_folder(prof.name, results_dir)
work_dir = work_folder(prof.name, work_dir)
build_default(prof, progress=False)
with timed() as t:
    per_image = table2_rows(prof.name, Path(work_dir), models, seed=seed, threads=threads, progress=False)
table = table2(per_image, seed=seed)
table.round(2)

# %% [markdown]
# Original training pairs (top of each domain) beside blur-swapped ones: the same blur on other scenes.

# %%
rows = {}
for domain in models:
    orig = resolve_pairs(domain, "train", prof)[:3]
    swap = resolve_pairs(Path(work_dir) / "data" / f"swap-{domain}")[:3]
    rows[f"{domain} original"] = [(read_image(s), read_image(b), s.name) for s, b in orig]
    rows[f"{domain} swapped"] = [(read_image(s), read_image(b), s.name) for s, b in swap]
fig_pairs = show_pairs(rows, n=3)
fig = paper_vs_ours(table, "Table 2: SRN-Deblur trained on original vs blur-swapped data (PSNR on real test pairs)")
record = provenance(config=prof, seed=seed, wall_time_s=t["wall_time_s"], models=models, work_dir=str(work_dir))
save_figure(fig, "02_table2_blur_swapped_training", results_dir, record)
save_figure(fig_pairs, "02_swapped_pairs", results_dir, record)
save_result(table, "02_table2_blur_swapped_training", results_dir, record)
save_result(per_image, "02_table2_per_image", results_dir, record)

# %% tags=["nbval-check-output"]
# Key numbers, stable across CPUs and thread counts (SRN-Deblur at 1 vs 2 threads: 1e-4 dB): PSNR, the paired
# difference and its interval to 0.1 dB. The claim (original > blur-swapped) is tested on the `original/*` rows.
for r in table.itertuples():
    claim = ("" if not isinstance(r.verdict, str) else
             f" | {r.claim}: {r.diff_db:+.1f} dB [{r.ci_low:+.1f}, {r.ci_high:+.1f}], n {r.n}: {r.verdict}")
    print(f"{r.entry:18s} ours {r.ours:.1f} dB (blurry input {r.blurry_psnr:.1f}) | paper gap {r.gap_paper:+.2f}"
          f"{claim}")
