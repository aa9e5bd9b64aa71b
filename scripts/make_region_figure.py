#!/usr/bin/env python3
"""Write Resources/figures/region-thresholds.png and print the region-labelling numbers for the README.

The cardiac MR phantom (the left-ventricle seed) is written as a DICOM study; its o-contour files
become the region (``run_contours``), and every automatic threshold is tried inside it on one
mid-ventricular slice (the montage) and on the whole volume (the printed Dice values).

Usage::

    python scripts/make_region_figure.py [--seed 0] [--slice 5] [-o Resources/figures/region-thresholds.png]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from medseg.autolabel.region import THRESHOLD_METHODS, kmeans_labels, ks_test, threshold, threshold_in_region
from medseg.io import load
from medseg.measure.metrics import dice, iou
from medseg.phantom import write_phantom_study
from medseg.pipeline.files import contours_to_file
from medseg.report.thresholds import threshold_montage


def overlap(mask, reference) -> dict:
    return {"dice": dice(mask, reference), "iou": iou(mask, reference)}

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slice", type=int, default=5, help="z index of the montage slice")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "Resources" / "figures" / "region-thresholds.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        study = write_phantom_study(tmp, seed=args.seed, kind="cardiac-mr")
        image, _ = load(study["dicom"])
        labels, _, _ = contours_to_file(study["dicom"], study["contours"], None, ring=True)
    lab = sitk.GetArrayFromImage(labels)
    values = sitk.GetArrayFromImage(image)
    gt = study["phantom"].labels
    outer, blood, myo = lab > 0, gt == 1, gt == 2
    print(f"cardiac MR phantom seed {args.seed}, {values.shape} (z, y, x); region = outer contour ({outer.sum()} voxels)")
    for method in THRESHOLD_METHODS:
        m = threshold_in_region(values, outer, method)
        s = overlap(m, blood)
        print(f"  {method:<9} t = {threshold(values, method, outer):7.1f}  blood-pool Dice {s['dice']:.4f}  IoU {s['iou']:.4f}")
    filled = overlap(threshold_in_region(values, outer, "otsu", fill_holes=True), blood)
    print(f"  otsu + per-slice hole filling: Dice {filled['dice']:.4f}")
    km = kmeans_labels(values, 3, outer)
    print("  k-means k=3 cluster means: " + ", ".join(f"{values[km == j].mean():.1f}" for j in (1, 2, 3)))
    ks = ks_test(values, blood, myo)
    print(f"  KS blood pool vs myocardium: D = {ks.statistic:.3f}, p = {ks.pvalue:.3g}")
    k = args.slice
    sy, sx = image.GetSpacing()[1], image.GetSpacing()[0]
    out = threshold_montage(values[k], args.output, mask=outer[k], reference=blood[k], aspect=sy / sx,
                            title=f"Cardiac MR phantom (seed {args.seed}), slice {k}: thresholds inside the outer "
                                  "contour (white = above t);\nred = the true blood pool, scored by Dice")
    print(f"wrote {out}")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
