"""Bone: voxels above 300 HU inside the body, cleaned.

Cleaning, in order:

1. Components under :data:`MIN_ML` go (noise, small vascular calcifications).
2. Contrast-filled blood goes. A heart chamber or aorta full of iodine is 300-700 HU, as dense as
   bone, but it is thick and even, while bone above 300 HU is a thin cortical shell around
   marrow or a textured mix of cortex and trabeculae. A component is blood when at least
   :data:`BLOOD_CORE` of it survives an in-plane erosion of :data:`CORE_MM`, its HU spread is
   under :data:`BLOOD_STD_HU` and its mean under :data:`BLOOD_MAX_HU` (dense cortical shafts,
   thick and even too, are brighter than that).
3. Cortical rings broken by coarse pixels are mended by a small in-plane closing, then the holes
   of each slice are filled (marrow, cancellous or fatty), except the spinal canal: a small hole
   below :data:`MARROW_HU` on the midline behind the body's centre, enclosed by the vertebral
   arch, holds cord and CSF and is not bone; nor is a large soft-tissue cavity a bone encloses
   (the brain inside the skull, bowel inside the pelvic ring).

Arrays are (z, y, x) on the input grid; spacing (z, y, x) mm; everything runs in the body's box.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..progress import CancelEvent, check_cancel
from .lungs.ops import CROSS_2D, bbox, close_plane, dilate_plane, erode_plane
from .morphology import fill_holes_per_slice

BONE_HU = 300.0
MIN_ML = 0.1
CORE_MM, BLOOD_CORE, BLOOD_STD_HU, BLOOD_MAX_HU = 2.0, 0.5, 120.0, 800.0
MARROW_HU = 100.0
#: In-plane closing (mm, at least one pixel) that mends cortical rings thinner than a pixel.
RING_CLOSE_MM = 2.0
#: Cancellous bone (HU) inside the convex hull of a compact piece of bone (area, solidity, hull area limits).
CANCELLOUS_HU, HULL_MIN_CM2, HULL_SOLIDITY, HULL_MAX_CM2 = 120.0, 1.0, 0.25, 40.0
#: Bone fragments closer than twice this (mm) in a slice form one piece for the hull.
GROUP_MM = 3.0
CANAL_MAX_CM2, CANAL_MIDLINE_MM = 4.0, 15.0
#: A hole larger than this (cm²) and below MARROW_HU is a cavity the bone encloses, not marrow: the
#: brain inside the skull, bowel inside the pelvic ring. Vertebral and long-bone marrow is far smaller.
MARROW_MAX_CM2 = 20.0


def _drop_blood(mask: np.ndarray, hu: np.ndarray, spacing) -> tuple[np.ndarray, int]:
    """``mask`` without its contrast-blood components, and how many were dropped."""
    lab, n = ndimage.label(mask)
    if n == 0:
        return mask, 0
    size = np.bincount(lab.ravel(), minlength=n + 1).astype(np.float64)
    core = erode_plane(mask, CORE_MM / max(spacing[1], spacing[2]))
    core_frac = np.bincount(lab[core], minlength=n + 1) / np.maximum(size, 1)
    values = hu[mask].astype(np.float64)
    ids = lab[mask]
    mean = np.bincount(ids, values, minlength=n + 1) / np.maximum(size, 1)
    var = np.bincount(ids, values ** 2, minlength=n + 1) / np.maximum(size, 1) - mean ** 2
    std = np.sqrt(np.maximum(var, 0.0))
    blood = (core_frac >= BLOOD_CORE) & (std < BLOOD_STD_HU) & (mean < BLOOD_MAX_HU)
    blood[0] = False
    return mask & ~blood[lab], int(blood.sum())


def _cancellous(mask: np.ndarray, hu: np.ndarray, spacing) -> np.ndarray:
    """Cancellous bone (at least :data:`CANCELLOUS_HU`) inside the convex hull of each compact bone piece.

    An elderly vertebral body's shell is thin and open toward the canal, so its spongy inside is no
    hole. Within the slice's convex hull of a compact piece (area at least :data:`HULL_MIN_CM2`,
    solidity at least :data:`HULL_SOLIDITY`: vertebrae and joints, not a rib's long arc, whose hull
    would hold lung and heart) the voxels denser than marrow fat, CSF and muscle are bone.
    """
    from skimage.morphology import convex_hull_image

    out = np.zeros_like(mask)
    px_cm2 = spacing[1] * spacing[2] / 100.0
    dense = hu >= CANCELLOUS_HU
    # Fragments of one thin shell are grouped by their proximity (within 2 x GROUP_MM).
    near = dilate_plane(mask, max(1.0, GROUP_MM / max(spacing[1], spacing[2])))
    for k in np.flatnonzero(mask.any(axis=(1, 2))):
        lab, n = ndimage.label(near[k])
        lab[~mask[k]] = 0
        for i, sl in enumerate(ndimage.find_objects(lab), start=1):
            if sl is None:
                continue
            piece = lab[sl] == i
            area = piece.sum() * px_cm2
            if area < HULL_MIN_CM2 or min(piece.shape) < 3:
                continue
            hull = convex_hull_image(piece)
            if area / (hull.sum() * px_cm2) >= HULL_SOLIDITY and hull.sum() * px_cm2 <= HULL_MAX_CM2:
                out[k][sl] |= hull & dense[k][sl]
    return out


def _fill_marrow(mask: np.ndarray, hu: np.ndarray, body: np.ndarray, spacing) -> np.ndarray:
    """Close cortical rings broken by coarse pixels, then fill each slice's holes except the spinal canal.

    A hole is the canal when it is small (<= :data:`CANAL_MAX_CM2`), under :data:`MARROW_HU`, within
    :data:`CANAL_MIDLINE_MM` of the body's centre column and behind the body's centre. Other holes are
    marrow (fatty marrow of long bones is below 100 HU too) and are filled, unless larger than
    :data:`MARROW_MAX_CM2` and below :data:`MARROW_HU` (a cavity such as the cranial vault).
    """
    px = max(spacing[1], spacing[2])
    closed = close_plane(mask, max(1, int(round(RING_CLOSE_MM / px))))
    closed |= _cancellous(closed, hu, spacing)
    holes = fill_holes_per_slice(closed) & ~closed
    lab, n = ndimage.label(holes, structure=CROSS_2D)
    if n == 0:
        return closed
    zz, yy, xx = np.nonzero(holes)
    ids = lab[zz, yy, xx]
    size = np.bincount(ids, minlength=n + 1).astype(np.float64)
    size[0] = 1.0
    mean = np.bincount(ids, hu[zz, yy, xx].astype(np.float64), minlength=n + 1) / size
    row = np.bincount(ids, yy.astype(np.float64), minlength=n + 1) / size
    col = np.bincount(ids, xx.astype(np.float64), minlength=n + 1) / size
    hole_z = np.zeros(n + 1, dtype=np.int64)
    hole_z[ids] = zz
    counts = body.sum(axis=(1, 2)).astype(np.float64)
    ny, nx = body.shape[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        c_row = (body.sum(axis=2) * np.arange(ny)).sum(axis=1) / counts
        c_col = (body.sum(axis=1) * np.arange(nx)).sum(axis=1) / counts
    area_cm2 = size * spacing[1] * spacing[2] / 100.0
    canal = ((area_cm2 <= CANAL_MAX_CM2) & (mean < MARROW_HU)
             & (np.abs(col - c_col[hole_z]) * spacing[2] <= CANAL_MIDLINE_MM) & (row > c_row[hole_z]))
    cavity = (area_cm2 > MARROW_MAX_CM2) & (mean < MARROW_HU)
    fill = ~canal & ~cavity
    fill[0] = False
    return closed | fill[lab]


def bone_mask(hu: np.ndarray, body: np.ndarray, spacing, cancel: CancelEvent = None) -> tuple[np.ndarray, dict]:
    """(bone mask (bool, z, y, x), stats) of an HU volume inside ``body``."""
    out = np.zeros(hu.shape, dtype=bool)
    box = bbox(body)
    if box is None:
        return out, {"bone_ml": 0.0}
    sub_hu = hu[box]
    mask = (sub_hu > BONE_HU) & body[box]
    voxel_ml = float(np.prod(spacing)) / 1000.0
    lab, n = ndimage.label(mask)
    if n:
        sizes = np.bincount(lab.ravel(), minlength=n + 1)
        keep = sizes * voxel_ml >= MIN_ML
        keep[0] = False
        mask = keep[lab]
    check_cancel(cancel)
    mask, dropped = _drop_blood(mask, sub_hu, spacing)
    check_cancel(cancel)
    mask = _fill_marrow(mask, sub_hu, body[box], spacing) & body[box]
    out[box] = mask
    return out, {"bone_ml": round(float(out.sum() * voxel_ml), 2), "contrast_blood_components_dropped": dropped}
