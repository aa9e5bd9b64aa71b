"""Binary morphology and resolution helpers in millimetres, for (z, y, x) arrays.

Structuring elements are ellipsoids given as a radius in mm, so a step means the same thing at
0.7 mm and at 3 mm pixels. Slices thicker than the radius get an in-plane disc only: a 5 mm
slice gap is not a neighbourhood in which a 4 mm bridge can be judged.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def ellipsoid(radius_mm: float, spacing) -> np.ndarray:
    """Boolean ellipsoid structuring element of ``radius_mm`` on a (z, y, x) ``spacing`` in mm."""
    half = [int(np.floor(radius_mm / float(s) + 1e-6)) for s in spacing]
    grids = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    dist = sum((g * float(s) / radius_mm) ** 2 for g, s in zip(grids, spacing))
    return dist <= 1.0 + 1e-9


#: A z spacing (mm) so large that an ellipsoid built on it is a disc within each slice.
IN_PLANE_Z = 1e6


def in_plane(structure_2d: np.ndarray) -> np.ndarray:
    """A 3 x 3 (y, x) structure as a 3 x 3 x 3 one that links no voxels across slices."""
    out = np.zeros((3, 3, 3), dtype=bool)
    out[1] = structure_2d
    return out


#: 8-connected neighbourhood within each slice (fill holes per slice, label per slice).
SLICE_8 = in_plane(np.ones((3, 3), dtype=bool))


def _shifted(dst: np.ndarray, src: np.ndarray, offset, op) -> None:
    """``dst[p] = op(dst[p], src[p + offset])`` where ``p + offset`` is inside; elsewhere unchanged.

    Leaving out-of-array neighbours unchanged treats the outside as neutral: it neither erodes
    (the body cut by the field-of-view edge is not thin there) nor dilates.
    """
    if any(abs(o) >= n for o, n in zip(offset, dst.shape)):
        return  # no voxel has that neighbour inside the array (e.g. a 3-slice offset in 2 slices)
    d_sl, s_sl = [], []
    for o, n in zip(offset, dst.shape):
        d_sl.append(slice(max(0, -o), n - max(0, o)))
        s_sl.append(slice(max(0, o), n - max(0, -o)))
    op(dst[tuple(d_sl)], src[tuple(s_sl)], out=dst[tuple(d_sl)])


def _morph(mask: np.ndarray, se: np.ndarray, erode: bool) -> np.ndarray:
    """Erosion (AND) or dilation (OR) by a symmetric structuring element, done with array shifts.

    The element is split into x-runs: one run per (dz, dy) row, of half-width w. The result of
    each run width is built once along x, then combined over the rows' (dz, dy) shifts. For the
    small ellipsoids used here this is ~10x faster than ``scipy.ndimage.binary_erosion``.
    """
    op = np.logical_and if erode else np.logical_or
    cz, cy, cx = (n // 2 for n in se.shape)
    widths = {}
    for dz in range(se.shape[0]):
        for dy in range(se.shape[1]):
            row = se[dz, dy]
            if row.any():
                widths[(dz - cz, dy - cy)] = int(np.abs(np.nonzero(row)[0] - cx).max())
    runs = {0: mask}
    for w in range(1, max(widths.values()) + 1):
        r = runs[w - 1].copy()
        _shifted(r, mask, (0, 0, w), op)
        _shifted(r, mask, (0, 0, -w), op)
        runs[w] = r
    out = runs[widths.get((0, 0), 0)].copy()
    for (dz, dy), w in widths.items():
        if (dz, dy) != (0, 0):
            _shifted(out, runs[w], (dz, dy, 0), op)
    return out


def erode(mask: np.ndarray, radius_mm: float, spacing) -> np.ndarray:
    """Binary erosion by an ellipsoid of ``radius_mm`` (outside the array counts as inside)."""
    return _morph(mask, ellipsoid(radius_mm, spacing), erode=True)


def dilate(mask: np.ndarray, radius_mm: float, spacing) -> np.ndarray:
    """Binary dilation by an ellipsoid of ``radius_mm``."""
    return _morph(mask, ellipsoid(radius_mm, spacing), erode=False)


def opening(mask: np.ndarray, radius_mm: float, spacing) -> np.ndarray:
    """Binary opening by an ellipsoid of ``radius_mm``: removes structures thinner than about 2 r mm."""
    se = ellipsoid(radius_mm, spacing)
    return _morph(_morph(mask, se, erode=True), se, erode=False)


def fill_holes_per_slice(mask: np.ndarray) -> np.ndarray:
    """Fill every hole of each axial slice: background not 4-connected to that slice's border.

    One labelling of the background with an in-plane structure does all slices at once, which
    is much faster than a Python loop of 2D ``binary_fill_holes``. Lungs and bowel gas, which
    are enclosed in the slice, become inside; air reaching the edge of the slice stays outside.
    """
    background = ~mask
    cross = in_plane(ndimage.generate_binary_structure(2, 1))
    lab, n = ndimage.label(background, structure=cross)
    if n == 0:
        return mask.copy()
    outside = np.zeros(n + 1, dtype=bool)
    for edge in (lab[:, 0, :], lab[:, -1, :], lab[:, :, 0], lab[:, :, -1]):
        outside[np.unique(edge)] = True
    outside[0] = False
    return mask | ~outside[lab] & background


#: A hole is the top of something below the mask when more than this share of its footprint on the
#: slice below is outside the mask (:func:`fill_holes_except_domes`).
DOME_BELOW_SHARE = 0.5


def fill_holes_except_domes(mask: np.ndarray) -> np.ndarray:
    """:func:`fill_holes_per_slice`, except the holes that are the top of something rising into the
    mask from below (z, y, x on an LPS grid: z grows to the head, so "below" is z - 1).

    Near a lung's base an axial slice cuts the diaphragm's dome as an island of liver or spleen with
    lung all round it. A hole is such an island when more than :data:`DOME_BELOW_SHARE` of its
    footprint on the slice below is outside the filled mask there (the island is dropped there too,
    so a dome that shows as an island on several slices goes as a whole: the slices are walked
    upwards). Vessels and nodules have lung or their own cross-section below and are filled. The
    lowest slice has nothing below it and is filled as it is.
    """
    filled = fill_holes_per_slice(mask)
    holes = filled & ~mask
    for k in range(1, filled.shape[0]):
        if not holes[k].any():
            continue
        lab, n = ndimage.label(holes[k])
        outside_below = np.bincount(lab.ravel(), weights=(~filled[k - 1]).ravel(), minlength=n + 1)
        dome = outside_below > DOME_BELOW_SHARE * np.bincount(lab.ravel(), minlength=n + 1)
        dome[0] = False
        if dome.any():
            filled[k] &= ~dome[lab]
    return filled


def bounding_box(mask: np.ndarray, margin=(0, 0, 0)) -> tuple[slice, slice, slice]:
    """(z, y, x) slices of the box around ``mask`` widened by ``margin`` voxels, clipped to the array.

    An empty mask gives the whole array (the caller then works on everything, as without a box).
    """
    box = []
    for axis, m in enumerate(margin):
        hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        if hit.size == 0:
            return tuple(slice(0, n) for n in mask.shape)  # type: ignore[return-value]
        box.append(slice(max(0, int(hit[0]) - m), min(mask.shape[axis], int(hit[-1]) + 1 + m)))
    return tuple(box)  # type: ignore[return-value]


def scale_box(box, f: int, shape) -> tuple[slice, slice, slice]:
    """A reduced-grid box on the full grid of ``shape`` (in-plane factor ``f``; z unchanged)."""
    z, y, x = box
    return (z, slice(y.start * f, min(shape[1], y.stop * f)), slice(x.start * f, min(shape[2], x.stop * f)))


def block_factor(spacing, target_mm: float) -> int:
    """In-plane reduction factor so that pixels become about ``target_mm`` (1 = keep the grid)."""
    return max(1, int(np.floor(target_mm / max(float(spacing[1]), float(spacing[2])) + 1e-6)))


def block_mean(hu: np.ndarray, f: int) -> np.ndarray:
    """Mean over f x f in-plane blocks, float32; edge rows/columns are padded by repetition.

    Summed from f * f strided views (in int32 for integer or boolean input, else float32), which is
    several times faster than a reshaped mean.
    """
    if f == 1:
        return hu.astype(np.float32)
    nz, ny, nx = hu.shape
    py, px = (-ny) % f, (-nx) % f
    if py or px:
        hu = np.pad(hu, ((0, 0), (0, py), (0, px)), mode="edge")
    total = np.zeros((nz, (ny + py) // f, (nx + px) // f), dtype=np.int32 if hu.dtype.kind in "biu" else np.float32)
    for dy in range(f):
        for dx in range(f):
            total += hu[:, dy::f, dx::f]
    return total.astype(np.float32) * np.float32(1.0 / (f * f))


def block_up(mask: np.ndarray, f: int, shape) -> np.ndarray:
    """Nearest-neighbour enlargement of a reduced mask back to the full (z, y, x) ``shape``."""
    if f == 1:
        return mask.copy()
    return mask.repeat(f, axis=1).repeat(f, axis=2)[:, :shape[1], :shape[2]]


def refine_up(mask_low: np.ndarray, hu: np.ndarray, level: float, f: int,
              allowed_low: np.ndarray | None = None) -> np.ndarray:
    """Enlarge a reduced mask to the full grid of ``hu``, redrawing its boundary at full resolution.

    Away from the boundary every enlarged voxel is kept (holes were filled on purpose). In the
    ring one reduced pixel either side of the boundary (within ``allowed_low``, so that a
    neighbour's pixels are not taken), a full-resolution voxel is in the mask exactly when its HU
    is above ``level``. With ``f == 1`` the mask is returned as it is.
    """
    if f == 1:
        return mask_low.copy()
    square = SLICE_8[1:2]  # 1 x 3 x 3: the ring is drawn within each slice
    ring = _morph(mask_low, square, erode=False) & ~_morph(mask_low, square, erode=True)
    if allowed_low is not None:
        ring &= allowed_low
    return np.where(block_up(ring, f, hu.shape), hu > level, block_up(mask_low, f, hu.shape))
