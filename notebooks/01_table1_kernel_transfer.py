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
# # 01 · Table 1: extracting and transferring known kernels (Sec. 4.1.1, Eq. 8)
#
# F and G are trained on pairs blurred by eight uniform motion kernels. For each kernel k, sources x in S and
# targets x̂ in T (crops of *disjoint* test photos): PSNR between F(x̂, G(x, k * x)) and k * x̂.
#
# Data: the paper trains on 5000 REDS images blurred by Levin et al.'s eight kernels and tests on 2 x 500 GOPRO
# images; we train on the `uniform-8` default set (our eight seeded kernels with Levin's sizes, real photos shipped by
# packages) and test on crops of the held-out photos. The model is the shipped `uniform-8` kernel space
# (`blurkit train --profile cpu --data uniform-8`).

# %% tags=["parameters"]
profile = "smoke"
seed = 0
results_dir = None  # None: $BLURKIT_RESULTS_DIR, else ../results/<profile>
model = "uniform-8"

# %%
import matplotlib.pyplot as plt

from blurkit.space.kernel_space import KernelSpace
from blurkit.data.kernels import eight_kernels
from blurkit.experiments.levin_protocol import disjoint_crops, kernel_transfer_psnr
from blurkit.paper import compare
from blurkit.experiments.notebooks import results_folder
from blurkit.profiles import get_profile
from blurkit.provenance import provenance, save_figure, save_result, timed

prof = get_profile(profile)
results_dir = results_folder(prof.name, results_dir)
n_side = {"smoke": 2, "cpu": 12, "paper": 500}[prof.name]
crop = {"smoke": 64, "cpu": 128, "paper": 256}[prof.name]
ks = KernelSpace.load(model)
with timed() as t:
    S, T, photos = disjoint_crops(n_side, n_side, crop, seed=seed)
    per_kernel = kernel_transfer_psnr(ks, eight_kernels(), S, T, progress=False)
per_kernel.round(2)

# %%
ours = dict(zip(per_kernel.kernel, per_kernel.psnr_mean))
table = compare("table1_kernel_extraction_levin", ours)
table["data_paper"] = "REDS 5000 train / GOPRO 500+500 test, Levin's kernels"
table["data_ours"] = f"uniform-8 default set; |S|=|T|={n_side} crops of {crop}px from disjoint test photos"
record = provenance(config=prof, seed=seed, wall_time_s=t["wall_time_s"], model=str(model),
                    model_provenance=ks.provenance, photos=photos)
save_result(table, "01_table1_kernel_transfer", results_dir, record)
fig, ax = plt.subplots(figsize=(7, 3))
ax.bar([i - 0.2 for i in range(8)], table.paper, width=0.4, label="paper (Table 1)")
ax.bar([i + 0.2 for i in range(8)], table.ours, width=0.4, label=f"ours ({prof.name})")
ax.set_xticks(range(8), [f"k{i + 1}" for i in range(8)])
ax.set_ylabel("PSNR (dB)")
ax.legend()
save_figure(fig, "01_table1_kernel_transfer", results_dir, record)
table.round(2)

# %% tags=["nbval-check-output"]
# Key numbers, stable across CPUs and thread counts (1 vs 2 threads: 1e-4 dB): PSNR to 0.1 dB.
print("kernels:", len(table), "| pairs per kernel:", int(per_kernel.n_pairs.iloc[0]),
      "| S and T photos disjoint:", not set(photos["S"]) & set(photos["T"]))
print("PSNR per kernel (dB):", " ".join(f"{v:.1f}" for v in table.ours))
print(f"mean: ours {table.ours.mean():.1f} dB, paper {table.paper.mean():.1f} dB")
