#!/usr/bin/env bash
# Retrain the U-Net models shipped in MedSegModule/medseg/resources/models/ ("lungs", "table-headrest").
#
# Offline, never in CI. It regenerates the synthetic phantom studies (fixed seeds: lungs 1000..1027,
# table-headrest 2000..2027), builds the training folders (`medseg dataset --task NAME`), trains each
# model with the code behind scripts/train_unet.py (cpu-small preset, 192x192 slices, fixed seed),
# measures the lung model on the real ../shared/data/ct-chest-2 (marks it "demo-only" in its card
# when it misses the bar), records the wall time in each card ("training.total_seconds"), and copies
# model.pt + model.json into the package. Work files go to out/default-models/ (or $WORK).
#
# Usage:  scripts/train_default_models.sh [lungs] [table-headrest] [lung-tumour]
# Takes a few minutes per model on 2 CPU cores; it runs under `nice` so it yields to other work.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORK=${WORK:-out/default-models}
start=$(date +%s)
# --- lung-tumour: real chest CT with inserted lesions, built by its own script (needs ../shared/data) ---
tumour=0; rest=()
for a in "$@"; do if [ "$a" = lung-tumour ]; then tumour=1; else rest+=("$a"); fi; done
[ "$#" -eq 0 ] && tumour=1
only_tumour=0; [ "$#" -gt 0 ] && [ "${#rest[@]}" -eq 0 ] && only_tumour=1
set -- ${rest[@]+"${rest[@]}"}
# --- end lung-tumour ---
if [ "$only_tumour" -eq 0 ]; then
nice -n 10 "$PY" scripts/train_default_models.py "$@" --work "$WORK" --install
fi
# --- lung-tumour ---
if [ "$tumour" -eq 1 ]; then PY="$PY" WORK="$WORK/lung-tumour" scripts/train_lung_tumour.sh; fi
# --- end lung-tumour ---
echo "train_default_models: done in $(( $(date +%s) - start )) s"
