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
# # 06 · Supplement Table 5: across datasets (GOPRO ↔ HIDE)
#
# Train on `gopro-like`, test on `hide-like`, and the reverse: DeblurGANv2 and SRN-Deblur (both trained here,
# `blurkit baseline train`) against kernel-space blind deblurring (`blurkit deblur`, the `fast` solver) with the
# kernel space of the training domain. **Deviation:** DeblurGANv2 uses its MobileNet-v2 FPN generator trained from
# scratch and a pixel content loss (no ImageNet backbone or VGG perceptual weights can be had here). The paper's
# row label names one dataset without saying train or test; here `GOPRO/…` means trained on gopro-like and tested
# on hide-like. The claim tested: kernel-space deblurring beats SRN-Deblur, which beats DeblurGANv2, once per
# adjacent pair of that ranking and per test set, on the same test images: `ours > SRN-Deblur` on the `*/ours` row
# (the images the slower solver ran on), `SRN-Deblur > DeblurGANv2` on the `*/SRN-Deblur` row. `diff_db` is the mean
# per-image PSNR difference over those `n` images, `ci_low`/`ci_high` its paired 95 % bootstrap interval, and the
# `verdict` holds when the interval lies above zero, fails below it, and is inconclusive when it contains zero.
# The per-image PSNRs are saved too (`06_supp_table5_per_image`).
# A training domain without a kernel space (`None` in `models`) gets no `ours` row.

# %% tags=["parameters"]
profile = "smoke"
seed = 0
results_dir = None  # None: $BLURKIT_RESULTS_DIR, else ../results/<profile>
work_dir = None  # None: $BLURKIT_WORK_DIR, else ../runs/<profile>/baselines; shared by 02, 04, 05, 06
models = {"gopro-like": "gopro-like", "hide-like": "hide-like"}
n_test_ours = None  # default: 2 (smoke), 16 (cpu), all (paper) test images for the slower kernel-space solver
deblur_preset = None  # default: smoke at smoke, else fast
threads = None

# %%
from pathlib import Path

from blurkit.experiments.baseline_report import supp_table5, supp_table5_rows
from blurkit.data.default_data import build_default
from blurkit.plots import paper_vs_ours
from blurkit.experiments.notebooks import results_folder, use_threads, work_folder
from blurkit.profiles import get_profile
from blurkit.provenance import provenance, save_figure, save_result, timed

prof = get_profile(profile)
use_threads(threads)  # every step, not only the baselines' training, runs with this many threads
results_dir = results_folder(prof.name, results_dir)
work_dir = work_folder(prof.name, work_dir)
n_test_ours = n_test_ours or {"smoke": 2, "cpu": 16, "paper": None}[prof.name]
deblur_preset = deblur_preset or ("smoke" if prof.name == "smoke" else "fast")
build_default(prof, progress=False)
with timed() as t:
    per_image = supp_table5_rows(prof.name, Path(work_dir), models, seed=seed, n_test_ours=n_test_ours,
                                 deblur=deblur_preset, threads=threads, progress=False)
table = supp_table5(per_image, seed=seed)
fig = paper_vs_ours(table, "Supplement Table 5: trained on one dataset, tested on the other")
record = provenance(config=prof, seed=seed, wall_time_s=t["wall_time_s"], models=models, work_dir=str(work_dir),
                    deblur_preset=deblur_preset,
                    deviation="DeblurGANv2: MobileNet-v2 FPN from scratch, pixel content loss (no ImageNet weights)")
save_figure(fig, "06_supp_table5_cross_dataset", results_dir, record)
save_result(table, "06_supp_table5_cross_dataset", results_dir, record)
save_result(per_image, "06_supp_table5_per_image", results_dir, record)
table.round(2)

# %% tags=["nbval-check-output"]
# Key numbers, stable across CPUs and thread counts: SRN-Deblur's PSNR to 0.1 dB (1 vs 2 threads: 1e-4 dB); our
# solver's, and the claim ours > SRN-Deblur (its difference), to 1 dB (0.04 dB between thread counts at smoke), without
# the interval's bounds: with 2 images they are the two images' own differences, and one of them sat at -5.498 dB on
# an AMD EPYC (AVX2) against just below -5.5 dB on the Intel CPU the outputs were first stored on, across a rounding
# step; DeblurGANv2 (GAN training) by its verdicts only.
by = table.set_index("entry")
for name in ("GOPRO", "HIDE"):
    srn, gan = by.loc[f"{name}/SRN-Deblur"], by.loc[f"{name}/DeblurGANv2"]
    print(f"{name}: blurry input {srn.blurry_psnr:.1f} dB | SRN-Deblur {srn.ours:.1f} dB | "
          f"DeblurGANv2 below the input: {gan.ours < gan.blurry_psnr}")
    if f"{name}/ours" in by.index:
        r = by.loc[f"{name}/ours"]
        print(f"{name}: ours {r.ours:.0f} dB on {r.n_test} images (their blurry input {r.blurry_psnr:.1f} dB)")
for r in table[table.verdict.notna()].itertuples():
    diff = ("" if "DeblurGANv2" in r.claim else
            f"{r.diff_db:+.0f} dB, " if "ours" in r.claim else
            f"{r.diff_db:+.1f} dB [{r.ci_low:+.1f}, {r.ci_high:+.1f}], ")
    print(f"{r.entry.split('/')[0]}: claim {r.claim}: {diff}n {r.n}: {r.verdict}")
