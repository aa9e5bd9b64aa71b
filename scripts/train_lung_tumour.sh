#!/usr/bin/env bash
# Rebuild the shipped "lung-tumour" U-Net from the real chest series in ../shared/data.
#
# Offline, never in CI. Lesions are inserted into ct-chest-141, ct-pelvis-chest-134 and ct-chest-2
# (scripts/train_lung_tumour.py), a model is trained without ct-chest-141 and scored on lesions
# inserted into it and on its real nodule, then the shipped model is trained on all three and its
# card filled with those numbers; model.pt + model.json are copied into the package.
# Work files go to out/lung-tumour/ (or $WORK). About 20-40 min on 2 shared CPU cores, under nice.
#
# Usage:  scripts/train_lung_tumour.sh [extra options of scripts/train_lung_tumour.py]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORK=${WORK:-out/lung-tumour}
start=$(date +%s)
nice -n 10 "$PY" scripts/train_lung_tumour.py --folds ct-chest-141 --final --install --work "$WORK" "$@"
echo "train_lung_tumour: done in $(( $(date +%s) - start )) s"
