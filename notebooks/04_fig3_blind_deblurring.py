# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %%

# %% [markdown]
# # 04 · Fig. 3: blind deblurring across domains (Sec. 4.2.1)
#
# The kernel space trained on `reds-like` deblurs held-out `gopro-like` images (the paper: trained on REDS, tested
# on GOPRO): the deblurring ladder's images, the `n` test pairs whose sharp crop has the most gradient energy
# (`blurkit.experiments.ladder.textured_pairs`). Methods: the blurry input, a classical MAP blind deconvolution
# (l0-gradient prior, coarse-to-fine), SelfDeblur (Ren et al. 2020: DIP for x, softmax-FC for a uniform kernel), and ours (Eq. 6, `fast` profile).
# PSNR/SSIM from scikit-image; LPIPS only where the `lpips` package and its weights load (else reported as
# unavailable). The learned baselines SRN-Deblur and DeblurGANv2 (`blurkit baseline train`, trained here on
# `reds-like` with the same profile; DeblurGANv2 with its MobileNet-v2 FPN from scratch) are tested on the same
# images: the paper's point is that on unseen blur they nearly return their input.
#
# The claim, ours better than each other method, is tested per test image in the summary: on each method's row
# `diff_db` is the mean of PSNR(ours) - PSNR(method) over the same `n` images, `ci_low`/`ci_high` its paired 95 %
# bootstrap interval, and the `verdict` holds when the interval lies above zero, fails below it, and is
# inconclusive when it contains zero (the blurry input is one of the rows: ours must beat doing nothing).

# %% tags=["parameters"]
profile = "smoke"
seed = 0
results_dir = None  # None: $BLURKIT_RESULTS_DIR, else ../results/<profile>
# reds-like: the shipped kernel space trained on reds-like, whose G starts from each tile's least-squares kernel
# (docs/kernel-space.md); its blind path starts from its code estimator E(y)
model = "reds-like"
test_domain = "gopro-like"
n_images = None
ours_config = "fast"
selfdeblur_config = "fast"
baseline_train_domain = "reds-like"
work_dir = None  # None: $BLURKIT_WORK_DIR, else ../runs/<profile>/baselines; shared by 02, 04, 05, 06
threads = None

# %%
from blurkit.experiments.baseline_report import ensure_baseline, method_baseline
from blurkit.experiments.ladder import textured_pairs
from blurkit.experiments.deblur_report import (deblur_methods, method_blurry, method_classical, method_ours,
                                   method_selfdeblur, methods_figure, methods_summary)
from blurkit.data.default_data import build_default
from blurkit.space.kernel_space import KernelSpace
from blurkit.deblur.metrics import lpips_status
from blurkit.deblur.psf import estimate_field
from blurkit.experiments.notebooks import results_folder, use_threads, work_folder
from blurkit.profiles import get_profile
from blurkit.provenance import provenance, save_figure, save_result, timed

prof = get_profile(profile)
use_threads(threads)  # every step, not only the baselines' training, runs with this many threads
results_dir = results_folder(prof.name, results_dir)
work_dir = work_folder(prof.name, work_dir)
build_default(prof, domains=(test_domain,), progress=False)
smoke = prof.name == "smoke"
n = n_images or {"smoke": 2, "cpu": 16, "paper": 100}[prof.name]
pairs = textured_pairs(test_domain, prof.name, n, size=32 if smoke else 128)  # the ladder's images
ks = KernelSpace.load(model)
runs = {label: ensure_baseline(name, prof.name, baseline_train_domain,
                               work_dir / "runs" / f"{prefix}-{baseline_train_domain}", threads, progress=False)
        for label, name, prefix in (("SRN-Deblur", "srn", "srn-original"), ("DeblurGANv2", "deblurganv2",
                                                                            "deblurganv2"))}
methods = {
    "blurry": method_blurry(),
    "classical": method_classical(**({"kernel_size": 7, "iterations": 1} if smoke else {"kernel_size": 31})),
    "SelfDeblur": method_selfdeblur("smoke" if smoke else selfdeblur_config),
    "SRN-Deblur": method_baseline(runs["SRN-Deblur"]),
    "DeblurGANv2": method_baseline(runs["DeblurGANv2"]),
    "ours": method_ours("smoke" if smoke else ours_config),
}
with timed() as t:
    per_image, outputs = deblur_methods(pairs, ks, methods, seed=seed, progress=False)
summary = methods_summary(per_image, claim_for="ours", seed=seed)
summary.round(3)

# %%
# the blur ours deblurred with, on a 32 px grid, beside its estimate: the PSFs its code applies, or the one blind
# TV kernel where `fast` fell back to it (the guard rejected the code)
psfs = {"ours": [estimate_field(ks, k, y.shape[:2], spacing=16 if smoke else 32, kernel=kernel)
                 for k, kernel, (_, _, y) in zip(methods["ours"].codes, methods["ours"].kernels, pairs)]}
fig = methods_figure(pairs, outputs, per_image, psfs=psfs)
record = provenance(config={"profile": prof.to_dict(), "ours": ours_config, "selfdeblur": selfdeblur_config},
                    seed=seed, wall_time_s=t["wall_time_s"], model=model, model_provenance=ks.provenance,
                    test_domain=test_domain, lpips=lpips_status(), baseline_runs={k: str(v) for k, v in runs.items()})
save_figure(fig, "04_fig3_blind_deblurring", results_dir, record)
save_result(per_image, "04_fig3_per_image", results_dir, record)
save_result(summary, "04_fig3_summary", results_dir, record)

# %% tags=["nbval-check-output"]
# Key numbers, stable across CPUs and thread counts: mean PSNR to 0.1 dB (1 vs 2 threads: under 1e-3 dB), SSIM to
# 0.1 (at smoke, ours' SSIM on the ladder's textured crops moved 0.03 between 1 and 2 threads); the claims ours >
# each method with the paired difference and its interval to whole dB, a rounded zero printed as +0 (a bootstrap
# bound of 2 images moved 0.05 dB between 1 and 2 threads, across a 0.1 dB rounding step). DeblurGANv2's GAN
# training is not stable (0.3 dB per image between 1 and 2 threads): only its verdict is kept.
print("images:", len(pairs), "| LPIPS reported or marked unavailable:",
      bool(per_image.lpips.notna().all() or summary.lpips_note.str.len().gt(0).all()))
by = summary.set_index("method")
for m, r in by.drop(index="DeblurGANv2").iterrows():
    print(f"{m:11s} PSNR {r.psnr:.1f} dB (vs blurry {r.psnr_gain_vs_blurry:+.1f}) | SSIM {r.ssim:.1f}")
print("DeblurGANv2 within 1 dB of the blurry input:", bool(abs(by.psnr_gain_vs_blurry["DeblurGANv2"]) < 1))
for m, r in by[by.verdict.notna()].iterrows():
    d, lo, hi = (int(round(v)) for v in (r.diff_db, r.ci_low, r.ci_high))
    # with the 2 images of `smoke` a bootstrap bound sits near a rounding step and moved across it between two CPUs
    # (2026-12-06: ours > SelfDeblur [-1, +0] on one, [+0, +0] on another), so below 16 images only verdicts count
    diff = "" if m == "DeblurGANv2" or r.n < 16 else f"{d:+d} dB [{lo:+d}, {hi:+d}], "
    print(f"claim {r.claim}: {diff}n {r.n}: {r.verdict}")
