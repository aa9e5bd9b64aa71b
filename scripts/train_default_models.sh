#!/usr/bin/env bash
# Retrain the U-Net models shipped in MedSegModule/medseg/resources/models/ ("lungs", "table-headrest",
# "lung-tumour")
# from the real CT series in ../shared/data, and their leave-one-series-out table.
#
# Offline, never in CI. For each model: the classical pseudo-labels of the six real series
# (scripts/make_real_labels.py; the review's drops are in scripts/data/real_ct_manifest.json), a few
# seeded phantoms, the training folder (`medseg dataset --manifest`), the leave-one-series-out folds
# (scripts/loso_unet.py: six short trainings, each scored on its held-out series), then the shipped
# model on all of it (cpu-small, 192x192, fixed seed). Its card gets the LOSO table, the acceptance
# figures (ct-abdomen-20, ct-chest-2), the wall time and a status that follows from the numbers; then
# model.pt + model.json are copied into the package. Work files go to out/default-models/ (or $WORK).
#
# lung-tumour is built by scripts/train_lung_tumour.sh: real chest CT with inserted lesions.
#
# Usage:  scripts/train_default_models.sh [lungs] [table-headrest] [lung-tumour]
# On 2 shared CPU cores: about 20-25 min per shipped model; LOSO folds 8-12 min each (lungs, the
# shipped recipe) and 1-7 min (table-headrest, short folds); runs under `nice`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORK=${WORK:-out/default-models}
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(lungs table-headrest lung-tumour)
start=$(date +%s)
for name in "${names[@]}"; do
  if [ "$name" = lung-tumour ]; then
    PY="$PY" WORK="$WORK/lung-tumour" scripts/train_lung_tumour.sh
    continue
  fi
  nice -n 10 "$PY" scripts/loso_unet.py "$name" --work "$WORK"
  nice -n 10 "$PY" scripts/train_default_models.py "$name" --work "$WORK" --install
done
echo "train_default_models: done in $(( $(date +%s) - start )) s"
