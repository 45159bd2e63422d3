"""The kernel-encoding test of Sec. 4.1.1 (Table 1, Eq. 8) with known uniform kernels.

For each kernel k and every source x in S and target x_hat in T (disjoint photos):
``PSNR(F(x_hat, G(x, k * x)), k * x_hat)``, averaged over |S| x |T|. The paper trains on 5000 REDS images blurred
by Levin's eight kernels and tests on 500 + 500 GOPRO images; here F and G are trained on the ``uniform-8`` default
set (the eight fixed seeded kernels of :func:`blurkit.data.kernels.eight_kernels`) and S, T are crops of disjoint test
photos, unless other kernels or images are given.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from blurkit.data.default_data import pair_rng
from blurkit.data.kernels import convolve
from blurkit.data.photos import available, load_manifest, load_photo, prepare_photos, select
from blurkit.progress import progress_bar
from blurkit.space.kernel_space import KernelSpace
from blurkit.space.train import psnr


def disjoint_crops(n_source: int, n_target: int, crop: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """S and T: crops of the test photos, S from one half of the photos and T from the other.

    Shape: out ``(n_source, 3, crop, crop)``, ``(n_target, 3, crop, crop)``; the dict names the photos of each.
    """
    photos = select(load_manifest(), "test")
    if len(available(photos)) < len(photos):
        prepare_photos(photos=photos)
    photos = available(photos)
    if len(photos) < 2:
        raise ValueError("need at least two prepared test photos for disjoint S and T")
    half = len(photos) // 2
    groups = {"S": photos[:half], "T": photos[half:]}
    out = {}
    for name, n in (("S", n_source), ("T", n_target)):
        imgs = [load_photo(p) for p in groups[name]]
        crops = []
        for i in range(n):
            img = imgs[i % len(imgs)]
            rng = pair_rng(seed, "levin-protocol-" + name, "test", i)
            y0 = int(rng.integers(0, img.shape[0] - crop + 1))
            x0 = int(rng.integers(0, img.shape[1] - crop + 1))
            crops.append(torch.from_numpy(np.ascontiguousarray(img[y0:y0 + crop, x0:x0 + crop])).permute(2, 0, 1))
        out[name] = torch.stack(crops)
    return out["S"], out["T"], {k: [p.id for p in v] for k, v in groups.items()}


@torch.no_grad()
def kernel_transfer_psnr(model: KernelSpace, kernels: Sequence[np.ndarray], sources: torch.Tensor,
                         targets: torch.Tensor, batch: int = 16, progress: bool = True) -> pd.DataFrame:
    """Eq. 8 for every kernel: one row per kernel with mean, std and count of the |S| x |T| PSNRs (dB).

    Shape: sources ``(|S|, 3, H, W)``, targets ``(|T|, 3, H', W')`` in [0, 1].
    """
    model.eval()
    rows = []
    for ki, k in enumerate(progress_bar(kernels, desc="kernels", unit="kernel", disable=not progress)):
        y_src = convolve(sources, k).clamp(0, 1)
        y_tgt = convolve(targets, k).clamp(0, 1)
        codes = model.encode(sources, y_src)  # (|S|, kdim, h, w)
        vals = []
        for s in range(len(sources)):
            for t0 in range(0, len(targets), batch):
                xt = targets[t0:t0 + batch]
                pred = model.apply(xt, codes[s:s + 1])
                vals.append(psnr(pred, y_tgt[t0:t0 + batch]))
        v = torch.cat(vals).numpy()
        rows.append({"kernel": f"kernel {ki + 1}", "size": int(k.shape[0]), "psnr_mean": float(v.mean()),
                     "psnr_std": float(v.std()), "n_pairs": int(v.size)})
    return pd.DataFrame(rows)
