"""The tumour search region (`medseg lungs --roi`): the lungs, their mirror image, dilated.

The lung seed's method, step by step:

1. **Spine axis.** A bone-window image (HU mapped linearly from :data:`BONE_WINDOW` to 0..1) is
   projected onto the coronal plane (summed along y, anterior to posterior). Only the back
   :data:`BACK_FRACTION` of each slice's body depth is summed: the sternum, a contrast-filled
   heart and the aorta (as dense as bone, and beside the spine) are in front of it and would
   pull the centre away; the posterior elements of the vertebra are there. In each slice the spine is the peak of that profile
   near the body's centre; its centre is the profile's centroid within :data:`SPINE_HALF_MM`.
2. The per-slice centres go through a 7-point moving average along z (:data:`MOVING_AVERAGE`).
3. Over the lung slices, in slice order (foot to head on the LPS grid), the axis starts at the
   mean of the first 5 lung slices' centres and follows them by exponential smoothing,
   ``s[k] = a c[k] + (1 - a) s[k - 1]`` with a = 0.3 (:data:`ALPHA`).
4. The region is the lung mask united with its mirror about the sagittal plane through that
   axis (x -> 2 s - x per slice), which recovers the space of a collapsed lung from the healthy
   one, then dilated in-plane by a disc of radius 5 voxels (:data:`DILATE_PX`).

Arrays are (z, y, x) on an LPS grid (columns toward the patient's left); spacing (z, y, x) mm.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ...progress import CancelEvent, check_cancel
from .ops import dilate_disc, reduce_mask, work_factor
from ..morphology import block_mean

#: Bone window (HU) mapped to 0..1 before projecting.
BONE_WINDOW = (200.0, 1200.0)
#: Back fraction of the body's depth (per slice) that is projected.
BACK_FRACTION = 0.25
#: Half-width (mm) around the profile's peak over which the spine's centre is taken.
SPINE_HALF_MM = 20.0
#: Farthest (mm) from the body's centre that a spine peak is looked for.
SEARCH_MM = 60.0
MOVING_AVERAGE = 7
FIRST_SLICES = 5
ALPHA = 0.3
DILATE_PX = 5


def spine_centres(hu: np.ndarray, body: np.ndarray, spacing) -> np.ndarray:
    """Per slice, the spine's centre column (float, px) from the coronal bone-window projection; NaN where none."""
    nz, ny, nx = hu.shape
    lo_hu, hi_hu = BONE_WINDOW
    bone = np.clip((hu.astype(np.float32) - lo_hu) / (hi_hu - lo_hu), 0.0, 1.0)
    rows = np.arange(ny)[None, :]
    counts = body.sum(axis=2)  # (z, y)
    total = counts.sum(axis=1)
    has = counts > 0
    front = np.where(has.any(axis=1), np.argmax(has, axis=1), 0)
    back = np.where(has.any(axis=1), ny - 1 - np.argmax(has[:, ::-1], axis=1), ny - 1)
    # Only the back part of each slice: the posterior elements and the back of the vertebral body
    # are there, while the sternum, a contrast-filled heart and the aorta lie further forward.
    behind = rows >= (back - BACK_FRACTION * (back - front))[:, None]  # (z, y)
    profile = (bone * (body & behind[:, :, None])).sum(axis=1)  # (z, x) coronal projection
    cols = np.arange(nx, dtype=np.float64)
    col_counts = body.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre_col = (col_counts * cols).sum(axis=1) / total
    half = max(1, int(round(SPINE_HALF_MM / spacing[2])))
    reach = int(round(SEARCH_MM / spacing[2]))
    out = np.full(nz, np.nan)
    for k in range(nz):
        if not total[k] or profile[k].max() <= 0:
            continue
        c = int(round(centre_col[k]))
        lo_c, hi_c = max(0, c - reach), min(nx, c + reach + 1)
        if hi_c <= lo_c or profile[k, lo_c:hi_c].max() <= 0:
            continue
        peak = lo_c + int(np.argmax(profile[k, lo_c:hi_c]))
        a, b = max(0, peak - half), min(nx, peak + half + 1)
        w = profile[k, a:b]
        out[k] = float((w * cols[a:b]).sum() / w.sum())
    return out


def spine_axis(hu: np.ndarray, body: np.ndarray, lungs: np.ndarray, spacing) -> np.ndarray:
    """Per slice, the smoothed spine axis column (float, px of ``hu``), for every slice of the volume.

    The projection is taken on the ~2 mm work grid (a column's centre needs no finer pixels).
    Slices without a spine centre take the body's centre; slices outside the lungs' range hold
    the nearest lung slice's value.
    """
    nz, _, nx = hu.shape
    f = work_factor(spacing)
    low_spacing = (spacing[0], spacing[1] * f, spacing[2] * f)
    centres = spine_centres(block_mean(hu, f), reduce_mask(body, f), low_spacing)
    centres = (centres + 0.5) * f - 0.5  # work-grid column centre -> full-grid column
    if np.isnan(centres).all():
        cols = np.arange(nx, dtype=np.float64)
        w = body.sum(axis=1)
        tot = w.sum(axis=1)
        centres = np.where(tot > 0, (w * cols).sum(axis=1) / np.maximum(tot, 1), (nx - 1) / 2.0)
    else:
        ok = ~np.isnan(centres)
        centres = np.interp(np.arange(nz), np.flatnonzero(ok), centres[ok])
    smooth = ndimage.uniform_filter1d(centres, size=MOVING_AVERAGE, mode="nearest")
    lung_slices = np.flatnonzero(lungs.any(axis=(1, 2)))
    if lung_slices.size == 0:
        return smooth
    axis = np.empty(nz)
    s = float(np.mean(smooth[lung_slices[:FIRST_SLICES]]))
    first, last = int(lung_slices[0]), int(lung_slices[-1])
    for k in range(first, last + 1):
        s = ALPHA * smooth[k] + (1.0 - ALPHA) * s
        axis[k] = s
    axis[:first] = axis[first]
    axis[last + 1:] = axis[last]
    return axis


def mirror(mask: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """``mask`` mirrored in each slice about the column ``axis[k]`` (x -> 2 axis - x)."""
    nz, ny, nx = mask.shape
    src = np.rint(2.0 * axis[:, None] - np.arange(nx)[None, :]).astype(np.int64)  # (z, x)
    valid = (src >= 0) & (src < nx)
    src = np.clip(src, 0, nx - 1)
    out = np.empty_like(mask)
    for k in range(nz):  # per slice: a whole-volume gather index would cost 8 bytes per voxel
        out[k] = mask[k][:, src[k]] & valid[k]
    return out


def search_region(hu: np.ndarray, body: np.ndarray, lungs: np.ndarray, spacing,
                  cancel: CancelEvent = None) -> tuple[np.ndarray, np.ndarray]:
    """(region, axis): the tumour search region (bool, z, y, x) and the spine axis column per slice."""
    axis = spine_axis(hu, body, lungs, spacing)
    check_cancel(cancel)
    region = np.zeros(lungs.shape, dtype=bool)
    zs = np.flatnonzero(lungs.any(axis=(1, 2)))
    if zs.size == 0:
        return region, axis
    # Work on the lung slices only; the mirror and the dilation stay within a slice.
    sl = slice(int(zs[0]), int(zs[-1]) + 1)
    both = lungs[sl] | mirror(lungs[sl], axis[sl])
    check_cancel(cancel)
    region[sl] = dilate_disc(both, DILATE_PX)
    return region, axis
