#!/usr/bin/env bash
# Train the kernel spaces shipped in blurkit/models/ with the committed command, then copy them in unchanged.
#   bash scripts/train_shipped.sh DOMAIN [THREADS] [STEPS] [NET] [INIT_NET]
#   e.g. bash scripts/train_shipped.sh gopro-like 1
# Resumable: re-running continues the run from its last checkpoint; STEPS (default: the cpu profile's) extends a
# finished run, the cosine schedule warm-restarting every restart_period steps. NET (default: cpu) picks another
# network preset: cpu-X trains in runs/cpu-DOMAIN-X, initialised from the finished run of INIT_NET (default cpu:
# runs/cpu-DOMAIN/model.pt; train that first). The basis-head reds-like-basis (shipped as reds-like until 2026-12-06):
# cpu 12000, then cpu-tone 3000, then cpu-dynamic 3000 steps from cpu-tone (shipped as reds-like-dynamic), then
# cpu-fine-dynamic 6000 from cpu-dynamic:
#   SHIP_AS=reds-like-basis bash scripts/train_shipped.sh reds-like 2 12000
#   SHIP_AS=reds-like-basis bash scripts/train_shipped.sh reds-like 2 3000 cpu-tone
#   SHIP_AS=reds-like-dynamic bash scripts/train_shipped.sh reds-like 2 3000 cpu-dynamic cpu-tone
#   SHIP_AS=reds-like-basis bash scripts/train_shipped.sh reds-like 2 6000 cpu-fine-dynamic cpu-dynamic
# The kernel-head models with supervised cell kernels start from a shipped model and ship under their own name;
# environment variables set that (RUN: the run folder, INIT: the starting model, SHIP_AS: the shipped name,
# KERNEL_WEIGHT: --kernel-weight):
# The shipped uniform-8 is such a model, started from the basis-head cpu run (shipped as uniform-8-basis:
# `bash scripts/train_shipped.sh uniform-8 1` with SHIP_AS=uniform-8-basis); reds-like-kernel from reds-like-basis:
#   RUN=runs/cpu-uniform-8-ksup INIT=uniform-8-basis SHIP_AS=uniform-8 KERNEL_WEIGHT=10 \
#     bash scripts/train_shipped.sh uniform-8 1 6000 cpu-kernel
#   RUN=runs/cpu-reds-like-ksup INIT=reds-like-basis SHIP_AS=reds-like-kernel KERNEL_WEIGHT=10 \
#     bash scripts/train_shipped.sh reds-like 1 4000 cpu-fine-kernel
# The least-squares kernel spaces (net cpu-fine-lsq) take F's tone curve from a kernel-head model of their domain;
# gopro-like has no shipped kernel-head model before them, so one is trained first (gopro-like-kernel). The
# reds-like one is the shipped reds-like (named reds-like-lsq until 2026-12-06):
#   RUN=runs/cpu-reds-like-lsq INIT=reds-like-kernel SHIP_AS=reds-like KERNEL_WEIGHT=10 \
#     bash scripts/train_shipped.sh reds-like 2 3000 cpu-fine-lsq
#   RUN=runs/cpu-gopro-like-ksup INIT=gopro-like SHIP_AS=gopro-like-kernel KERNEL_WEIGHT=10 \
#     bash scripts/train_shipped.sh gopro-like 2 4000 cpu-fine-kernel
#   RUN=runs/cpu-gopro-like-lsq INIT=gopro-like-kernel SHIP_AS=gopro-like-lsq KERNEL_WEIGHT=10 \
#     bash scripts/train_shipped.sh gopro-like 2 3000 cpu-fine-lsq
# The provenance (command, data manifest hash, commit, steps, wall time, final validation PSNR, the initialising
# model's hash) travels inside the .pt and in the .json beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
domain="$1"; threads="${2:-2}"; steps="${3:-}"; net="${4:-cpu}"; init_net="${5:-cpu}"
run_of() { if [ "$1" = cpu ]; then echo "runs/cpu-$domain"; else echo "runs/cpu-$domain-${1#cpu-}"; fi; }
run="${RUN:-$(run_of "$net")}"
name="${SHIP_AS:-$domain}"
init=()
if [ "$net" != "cpu" ]; then
  init=(--net "$net" --init "${INIT:-$(run_of "$init_net")/model.pt}")
fi
if [ -n "${KERNEL_WEIGHT:-}" ]; then
  init+=(--kernel-weight "$KERNEL_WEIGHT")
fi
.venv/bin/blurkit data prepare --profile cpu
.venv/bin/blurkit train --profile cpu --data "$domain" "${init[@]}" --out "$run" --resume --threads "$threads" \
  ${steps:+--steps "$steps"}
mkdir -p blurkit/models
cp "$run/model.pt" "blurkit/models/$name.pt"
.venv/bin/python - "$name" <<'PY'
import json, sys
import torch
from blurkit.space.kernel_space import KernelSpace, MODELS_DIR
name = sys.argv[1]
ks = KernelSpace.load(MODELS_DIR / f"{name}.pt")
raw = torch.load(MODELS_DIR / f"{name}.pt", map_location="cpu", weights_only=True)["config"]  # as stored in the file
info = {"name": name, "parameters": ks.num_parameters(), "config": raw, "provenance": ks.provenance}
(MODELS_DIR / f"{name}.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
print(f"shipped {name}: final validation PSNR {ks.provenance.get('final_val_psnr')}")
PY
