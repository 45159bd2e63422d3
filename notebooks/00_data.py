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
# # 00 · The embedded default data
#
# Real photographs shipped by installed packages (scikit-image, scikit-learn, Debian wallpaper packages), cut
# into crops and blurred by `blurkit.data.synthesis`: a camera trajectory rendered as sub-frames, object motion,
# averaging through the inverse camera response, noise. Three domains stand in for REDS, GOPRO and HIDE;
# `uniform-8` convolves with the eight fixed motion kernels (Table 1). The split is by photo.

# %% tags=["parameters"]
profile = "smoke"
seed = 0
results_dir = None  # None: $BLURKIT_RESULTS_DIR, else ../results/<profile>

# %%
from blurkit.data.data_report import load_pairs, split_is_disjoint, summarize_default
from blurkit.data.default_data import DEFAULT_DOMAINS, build_default, default_set
from blurkit.data.kernels import eight_kernels
from blurkit.data.photos import manifest_hash, prepare_photos
from blurkit.plots import show_kernels, show_pairs
from blurkit.experiments.notebooks import results_folder
from blurkit.profiles import get_profile
from blurkit.provenance import provenance, save_figure, save_result, timed

prof = get_profile(profile)
results_dir = results_folder(prof.name, results_dir)
with timed() as t:
    report = prepare_photos()
    build_default(prof, progress=False)
print(report.summary())

# %% [markdown]
# Sharp / blurry test pairs of each domain, side by side.

# %%
rows = {d: load_pairs(default_set(d, "test", prof), limit=3) for d in DEFAULT_DOMAINS}
fig = show_pairs(rows, n=3)
record = provenance(config=prof, seed=prof.data.seed, wall_time_s=t["wall_time_s"],
                    photo_manifest_sha256=manifest_hash())
save_figure(fig, "00_data_domains", results_dir, record)

# %% [markdown]
# The eight uniform motion kernels of the Table 1 experiment (sizes of Levin et al.'s eight).

# %%
kfig = show_kernels(eight_kernels(), [f"k{i + 1} ({k.shape[0]}px)" for i, k in enumerate(eight_kernels())])
save_figure(kfig, "00_data_kernels", results_dir, record)

# %% [markdown]
# How blurry is each set? PSNR and SSIM of the blurry image against the sharp one (lower = blurrier).

# %%
table = summarize_default(prof)
save_result(table, "00_data_summary", results_dir, record)
table.round(3)

# %% tags=["nbval-check-output"]
# Key numbers, rounded so that they are stable across CPUs and thread counts (the synthesis is NumPy, identical at
# 1 and 2 threads to 1e-4 dB): PSNR to 0.1 dB, SSIM to 0.01. The photo count comes first: without the Debian
# wallpaper photos every other number differs too.
print("photos prepared:", len(report.prepared), "| train/test photos disjoint:", split_is_disjoint(prof))
for r in table.itertuples():
    print(f"{r.domain:10s} {r.split:5s} pairs {r.pairs:3d} | blurry vs sharp: PSNR {r.psnr_blur_vs_sharp:.1f} dB, "
          f"SSIM {r.ssim_blur_vs_sharp:.2f} | blur amount {r.blur_amount:.2f}")
