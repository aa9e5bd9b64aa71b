"""Helpers for lung, airway and bone labelling: the LPS work grid and in-plane morphology.

Arrays are (z, y, x) numpy arrays on an LPS-oriented grid (column index grows toward the
patient's left, row index toward the back, slice index toward the head); spacing is (z, y, x) mm.
Most of the work runs on a grid reduced in-plane to about :data:`WORK_MM` pixels, where a
512 x 512 x 300 chest costs a ninth as much; only boundaries are redrawn at full resolution.
Morphology is in-plane (per slice) on purpose: the methods must work on a 2-slice volume as
well as on a 300-slice one, and thick slices are no neighbourhood for a few-mm bridge.
"""

from __future__ import annotations


import numpy as np
from scipy import ndimage

from ..morphology import block_factor, block_mean, block_up, bounding_box, fill_holes_per_slice

#: In-plane pixel size (mm) of the reduced work grid.
WORK_MM = 2.2

#: 4-connected neighbourhood inside a slice, as a 3-D structure that links no slices.
CROSS_2D = np.zeros((3, 3, 3), dtype=bool)
CROSS_2D[1] = ndimage.generate_binary_structure(2, 1)


def work_factor(spacing) -> int:
    """In-plane reduction factor for the lung work grid (pixels of about :data:`WORK_MM`)."""
    return block_factor(spacing, WORK_MM)


def disc(radius_px: int) -> np.ndarray:
    """Boolean 2-D disc of ``radius_px`` pixels, (2r+1) x (2r+1)."""
    r = int(radius_px)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return yy ** 2 + xx ** 2 <= r * r + 1e-9


def _octagon(radius_px: float) -> tuple[int, int]:
    """(square half-size a, diamond radius b) whose Minkowski sum is the octagon nearest a disc of r.

    Square extent a + b along the axes and (a + b/2) * sqrt(2) along diagonals both equal r when
    a = 0.414 r and b = 0.586 r. Square dilations are separable running maxima, so the cost
    barely grows with r (a disc structure costs r^2 per voxel).
    """
    a = int(round(0.414 * radius_px))
    return a, max(0, int(round(radius_px)) - a)


def _octagon_filter(mask: np.ndarray, radius_px: float, dilate: bool) -> np.ndarray:
    """In-plane dilation (or erosion) of a (z, y, x) mask by a near-disc octagon of ``radius_px``:
    a square of the octagon's straight part, then cross steps for its corners. Outside the array
    counts as empty for a dilation and as inside for an erosion (no erosion at the edge)."""
    a, b = _octagon(radius_px)
    outside = 0 if dilate else 1
    line = ndimage.maximum_filter1d if dilate else ndimage.minimum_filter1d
    out = mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8)
    if a:
        out = line(out, 2 * a + 1, axis=1, mode="constant", cval=outside)
        out = line(out, 2 * a + 1, axis=2, mode="constant", cval=outside)
    out = out.astype(bool)
    if not b:
        return out
    if dilate:
        return ndimage.binary_dilation(out, CROSS_2D, iterations=b)
    return ndimage.binary_erosion(out, CROSS_2D, iterations=b, border_value=1)


def dilate_plane(mask: np.ndarray, radius_px: float) -> np.ndarray:
    """In-plane dilation of a (z, y, x) mask by a near-disc octagon of ``radius_px``; outside counts as empty."""
    return _octagon_filter(mask, radius_px, dilate=True)


def erode_plane(mask: np.ndarray, radius_px: float) -> np.ndarray:
    """In-plane erosion by the same octagon; outside the array counts as inside (no erosion at the edge)."""
    return _octagon_filter(mask, radius_px, dilate=False)


def dilate_disc(mask: np.ndarray, radius_px: int) -> np.ndarray:
    """Exact in-plane dilation by a disc of ``radius_px`` pixels, at a cost that grows only with r.

    The disc is a stack of horizontal runs (half-width ``floor(sqrt(r^2 - dy^2))`` at row offset
    ``dy``): one running maximum along x per distinct run width, then the shifted rows OR-ed.
    """
    r = int(radius_px)
    if r <= 0 or not mask.any():
        return mask.copy()
    m = mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8)
    runs: dict[int, np.ndarray] = {}
    out = np.zeros(mask.shape, dtype=bool)
    ny = mask.shape[1]
    for dy in range(-r, r + 1):
        w = int(np.floor(np.sqrt(r * r - dy * dy) + 1e-9))
        if w not in runs:
            runs[w] = ndimage.maximum_filter1d(m, 2 * w + 1, axis=2, mode="constant", cval=0).astype(bool) if w else m.astype(bool)
        src = runs[w]
        # Output row y takes the run of input row y - dy.
        if dy >= 0:
            out[:, dy:, :] |= src[:, :ny - dy, :]
        else:
            out[:, :ny + dy, :] |= src[:, -dy:, :]
    return out


def close_plane(mask: np.ndarray, radius_px: float) -> np.ndarray:
    """In-plane closing (fills concavities narrower than about 2 r pixels: vessels, pleural nodules)."""
    if radius_px < 0.5 or not mask.any():
        return mask.copy()
    return erode_plane(dilate_plane(mask, radius_px), radius_px) | mask


def simple_body(low: np.ndarray, spacing_low, threshold_hu: float = -500.0, open_mm: float = 4.0) -> np.ndarray:
    """Fallback body mask on the work grid: big components of HU > ``threshold_hu``, holes filled per slice.

    An in-plane opening of ``open_mm`` first removes thin table shells and blankets and cuts thin
    bridges; every component at least 2% of the largest is kept, so arms beside the body stay.
    Used only when the table-aware body mask (``autolabel.body``) is not available or not asked for.
    """
    fg = low > threshold_hu
    r = open_mm / max(spacing_low[1], spacing_low[2])
    core = dilate_plane(erode_plane(fg, r), r) & fg if r >= 1 else fg
    lab, n = ndimage.label(core)
    if n == 0:
        return np.zeros_like(fg)
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    sizes[0] = 0
    keep = sizes >= 0.02 * sizes.max()
    keep[0] = False
    return fill_holes_per_slice(keep[lab])


def reduce_mask(mask: np.ndarray, f: int) -> np.ndarray:
    """A full-resolution mask on the work grid: blocks at least half inside."""
    if f == 1:
        return mask.astype(bool, copy=True)
    return block_mean(mask.view(np.uint8) if mask.dtype == bool else mask, f) >= 0.5


def bbox(mask: np.ndarray, margin=(0, 0, 0)) -> tuple[slice, slice, slice] | None:
    """The bounding box of ``mask`` grown by ``margin`` voxels per axis (clipped), or None when empty."""
    return bounding_box(mask, margin) if mask.any() else None


def refine(mask_low: np.ndarray, f: int, hu: np.ndarray, below_hu) -> np.ndarray:
    """Enlarge a work-grid mask to the full grid of ``hu``, redrawing its boundary at full resolution.

    Inside the mask eroded by one work pixel every voxel is kept (holes were filled on purpose);
    in the band one work pixel either side of the boundary a voxel is kept where ``hu < below_hu``
    (a number, or an array of ``hu``'s shape: a threshold per voxel).
    With ``f == 1`` (the work grid is the grid) the same band is redrawn, so the edge follows the
    same rule at every resolution. Only the mask's bounding box is touched.
    """
    out = np.zeros(hu.shape, dtype=bool)
    box = bbox(mask_low, (0, 2, 2))
    if box is None:
        return out
    sub = mask_low[box]
    inner = ndimage.binary_erosion(sub, CROSS_2D, border_value=1)
    band = ndimage.binary_dilation(sub, CROSS_2D) & ~inner
    full_box = (box[0], slice(box[1].start * f, min(hu.shape[1], box[1].stop * f)),
                slice(box[2].start * f, min(hu.shape[2], box[2].stop * f)))
    shape = tuple(s.stop - s.start for s in full_box)
    below = below_hu[full_box] if np.ndim(below_hu) else below_hu
    region = block_up(inner, f, shape) | (block_up(band, f, shape) & (hu[full_box] < below))
    out[full_box] = region
    return out
