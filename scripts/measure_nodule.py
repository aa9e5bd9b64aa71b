"""Measure the real ct-chest-141 nodule: the solid-tumour statistics that medseg.phantom.lesions uses.

The nodule is grown from the tests' seeds (Testing/grow_helpers.py) with `medseg grow`'s step; its
interior (2 mm in from the edge) gives the mean and standard deviation of HU and the texture's
correlation between neighbouring voxels (in-plane and across slices, of the residual after a 3-voxel
Gaussian low-pass), and a 5-10 mm shell of parenchyma around it the lung's HU.

    PYTHONPATH=MedSegModule python scripts/measure_nodule.py [../shared/data/ct-chest-141/dicom]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Testing"))


def measure(dicom: Path) -> dict:
    from grow_helpers import nodule_seeds
    from medseg.autolabel.grow import grow_from_seeds
    from medseg.autolabel.grow_engine import itk_grow_cut_here
    from medseg.autolabel.morphology import ellipsoid
    from medseg.io import load

    image, _ = load(dicom)
    stored = sitk.GetArrayFromImage(image)
    hu = stored.astype(np.float32)
    spacing = image.GetSpacing()[::-1]
    nodule = grow_from_seeds(stored, nodule_seeds(image), spacing, smooth="median", engine=itk_grow_cut_here).labels == 1
    interior = ndimage.binary_erosion(nodule, ellipsoid(2.0, spacing))
    residual = hu - ndimage.gaussian_filter(hu, 3.0)

    def lag1(axis: int) -> float:
        a, b = [np.take(residual, range(0, hu.shape[axis] - 1), axis), np.take(residual, range(1, hu.shape[axis]), axis)]
        both = np.take(interior, range(0, hu.shape[axis] - 1), axis) & np.take(interior, range(1, hu.shape[axis]), axis)
        return float(np.corrcoef(a[both], b[both])[0, 1])

    outside = ndimage.distance_transform_edt(~nodule, sampling=spacing)
    parenchyma = (outside > 5) & (outside < 10) & (hu < -500)
    zz, yy, xx = np.nonzero(nodule)
    return {
        "series": "ct-chest-141", "voxels": int(nodule.sum()),
        "volume_ml": round(float(nodule.sum() * np.prod(spacing)) / 1000, 3),
        "equivalent_diameter_mm": round(float((6 * nodule.sum() * np.prod(spacing) / np.pi) ** (1 / 3)), 1),
        "extent_mm_zyx": [round(float((a.max() - a.min() + 1) * s), 1) for a, s in zip((zz, yy, xx), spacing)],
        "interior_voxels": int(interior.sum()),
        "interior_mean_hu": round(float(hu[interior].mean()), 1), "interior_sd_hu": round(float(hu[interior].std()), 1),
        "texture_lag1_in_plane": round((lag1(1) + lag1(2)) / 2, 3), "texture_lag1_across_slices": round(lag1(0), 3),
        "parenchyma_mean_hu": round(float(hu[parenchyma].mean()), 1),
        "parenchyma_sd_hu": round(float(hu[parenchyma].std()), 1),
    }


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "data" / "ct-chest-141" / "dicom"
    print(json.dumps(measure(path), indent=2))
