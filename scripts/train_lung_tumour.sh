#!/usr/bin/env bash
# Rebuild the shipped "lung-tumour" U-Net from the real chest series in ../shared/data.
#
# Offline, never in CI. Lesions are inserted into ct-pelvis-chest-134 and ct-chest-2
# (scripts/train_lung_tumour.py), a model is trained on them and scored on lesions inserted into
# the held-out ct-chest-141 and on its real nodule; that model, whose numbers are all out of
# sample, is shipped with them in its card (model.pt + model.json copied into the package).
# `--final` (passed through) would instead train on all three series, ct-chest-141's nodule slices
# left out. Work files go to out/lung-tumour/ (or $WORK). About 10 min with THREADS=2 on an idle
# 2-core machine (the shipped model), 30 min with one thread at load 8-11.
#
# Usage:  scripts/train_lung_tumour.sh [extra options of scripts/train_lung_tumour.py]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORK=${WORK:-out/lung-tumour}
start=$(date +%s)
# One torch thread: on the shared 2-core machine two threads ran a training step 6x slower (they wait
# for each other whenever the other is descheduled); set THREADS=2 on an idle machine.
nice -n 10 "$PY" scripts/train_lung_tumour.py --folds ct-chest-141 --ship-fold ct-chest-141 --install --threads "${THREADS:-1}" \
  --work "$WORK" "$@"
echo "train_lung_tumour: done in $(( $(date +%s) - start )) s"
