#!/usr/bin/env bash
# Train the kernel spaces shipped in blurkit/models/ with the committed command, then copy them in unchanged.
#   bash scripts/train_shipped.sh DOMAIN [THREADS] [STEPS]     e.g. bash scripts/train_shipped.sh reds-like 1
# Resumable: re-running continues runs/cpu-DOMAIN from its last checkpoint; STEPS (default: the cpu profile's) extends
# a finished run, the cosine schedule warm-restarting every restart_period steps. The provenance (command, data
# manifest hash, commit, steps, wall time, final validation PSNR) travels inside the .pt and in the .json beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
domain="$1"; threads="${2:-2}"; steps="${3:-}"
run="runs/cpu-$domain"
.venv/bin/blurkit data prepare --profile cpu
.venv/bin/blurkit train --profile cpu --data "$domain" --out "$run" --resume --threads "$threads" ${steps:+--steps "$steps"}
mkdir -p blurkit/models
cp "$run/model.pt" "blurkit/models/$domain.pt"
.venv/bin/python - "$domain" <<'PY'
import json, sys
from blurkit.kernel_space import KernelSpace, MODELS_DIR
name = sys.argv[1]
ks = KernelSpace.load(MODELS_DIR / f"{name}.pt")
info = {"name": name, "parameters": ks.num_parameters(), "config": ks.config.to_dict(), "provenance": ks.provenance}
(MODELS_DIR / f"{name}.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
print(f"shipped {name}: final validation PSNR {ks.provenance.get('final_val_psnr')}")
PY
