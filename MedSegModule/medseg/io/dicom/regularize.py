"""Put an irregular slice stack (uneven spacing, missing slices, gantry tilt) onto a regular grid.

The method is the one dcm2niix (``_Eq`` / tilt correction) and Slicer's acquisition geometry
regularization use, and it preserves world (LPS) coordinates:

- the in-plane axes stay the slices' row and column directions, the slice axis becomes the slice
  normal (row × column), so the grid is orthogonal even when the gantry was tilted;
- along the normal the new grid runs from the first to the last slice at the most common step
  (the modal step); each new slice is interpolated linearly between its two neighbouring slices;
- slices displaced in-plane (tilt) are first shifted onto the common in-plane grid (bilinear);
  the in-plane grid grows to hold every slice, so nothing is cut off, and voxels no slice covers
  get the fill value (:data:`AIR_HU` for CT).

Arrays are (z, y, x); positions are mm along the normal; origins LPS mm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ...limits import check_allocation
from ...progress import CancelEvent, Progress, check_cancel, report
from .geometry import SeriesGeometry


@dataclass(frozen=True)
class RegularGrid:
    """The output grid, SimpleITK order: size/spacing (x, y, z), origin LPS mm, row-major direction.

    ``offsets`` are the new slices' distances (mm) from the first input slice along the normal;
    ``corner`` is the in-plane index (i, j) of the first input slice's pixel (0, 0) minus the
    new grid's: how far the grid was grown toward negative i and j.
    """

    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]
    offsets: tuple[float, ...]
    corner: tuple[int, int]


def _shifts_px(g: SeriesGeometry) -> np.ndarray:
    """Each slice's in-plane offset from the first, in pixels (i, j); zero when not shifted."""
    if not g.shifted:
        return np.zeros((len(g.positions), 2))
    return np.asarray(g.shifts) / np.asarray(g.spacing[:2])


def plan_grid(g: SeriesGeometry) -> RegularGrid:
    """The regular grid :func:`regularize` will fill for geometry ``g``."""
    step = g.modal_step if g.uneven else g.spacing[2]
    length = g.positions[-1] - g.positions[0]
    # Slices up to the last input slice; 1 % slack so rounding noise does not drop the last one.
    count = int(math.floor(length / step + 0.01)) + 1 if len(g.positions) > 1 else 1
    px = _shifts_px(g)
    eps = 1e-6
    i_lo, j_lo = (int(math.floor(v + eps)) for v in px.min(axis=0))
    i_hi, j_hi = (int(math.ceil(v - eps)) for v in px.max(axis=0))
    i_lo, j_lo, i_hi, j_hi = min(i_lo, 0), min(j_lo, 0), max(i_hi, 0), max(j_hi, 0)
    d = np.asarray(g.direction).reshape(3, 3)
    origin = np.asarray(g.origin) + i_lo * g.spacing[0] * d[:, 0] + j_lo * g.spacing[1] * d[:, 1]
    return RegularGrid(size=(g.size[0] + i_hi - i_lo, g.size[1] + j_hi - j_lo, count),
                       spacing=(g.spacing[0], g.spacing[1], float(step)),
                       origin=tuple(float(v) for v in origin), direction=g.direction,
                       offsets=tuple(float(k * step) for k in range(count)), corner=(-i_lo, -j_lo))


def _aligned_slice(array: np.ndarray, k: int, px: np.ndarray, grid: RegularGrid, fill: float) -> np.ndarray:
    """Input slice ``k`` on the common in-plane grid (bilinear; outside the slice → ``fill``)."""
    ny, nx = grid.size[1], grid.size[0]
    oi, oj = -grid.corner[0] - px[k, 0], -grid.corner[1] - px[k, 1]
    src = array[k].astype(np.float32, copy=False)
    if (ny, nx) == src.shape and abs(oi) < 1e-9 and abs(oj) < 1e-9:
        return src
    # Output pixel (j', i') samples input (j' + oj, i' + oi).
    return ndimage.affine_transform(src, np.eye(2), offset=(oj, oi), output_shape=(ny, nx), order=1,
                                    mode="constant", cval=fill, prefilter=False)


def regularize(array: np.ndarray, g: SeriesGeometry, fill: float, progress: Progress | None = None,
               cancel: CancelEvent = None) -> tuple[np.ndarray, RegularGrid]:
    """Resample the decoded stack ``array`` (z, y, x; slices in ``g.positions`` order) onto
    :func:`plan_grid`'s grid. int16 input gives int16 output (rounded), anything else float32.
    """
    grid = plan_grid(g)
    px = _shifts_px(g)
    t_in = np.asarray(g.positions) - g.positions[0]
    nx, ny, nz = grid.size
    check_allocation("the regular grid the slices are resampled onto", (nz, ny, nx), np.float32)
    out = np.empty((nz, ny, nx), dtype=np.float32)
    cache: dict[int, np.ndarray] = {}
    for m, t in enumerate(grid.offsets):
        check_cancel(cancel)
        k = int(np.clip(np.searchsorted(t_in, t, side="right") - 1, 0, max(len(t_in) - 2, 0)))
        for key in [c for c in cache if c < k]:
            del cache[key]  # slices are visited in order: earlier ones are done with
        for key in (k, k + 1) if len(t_in) > 1 else (k,):
            if key not in cache:  # each input slice is aligned once, not once per output slice
                cache[key] = _aligned_slice(array, key, px, grid, fill)
        below = cache[k]
        if len(t_in) == 1:
            out[m] = below
            continue
        w = float(np.clip((t - t_in[k]) / (t_in[k + 1] - t_in[k]), 0.0, 1.0))
        if w < 1e-6:
            out[m] = below
        else:
            out[m] = (1.0 - w) * below + w * cache[k + 1]
        report(progress, (m + 1) / nz, "resampling onto a regular grid")
    if array.dtype == np.int16:
        out = np.clip(np.rint(out), -32768, 32767).astype(np.int16)
    return out, grid


def describe(g: SeriesGeometry, grid: RegularGrid) -> dict:
    """JSON-ready record of what :func:`regularize` did, for ``meta["regularized"]``."""
    reasons = [r for r, on in (("tilt", g.shifted), ("uneven", g.uneven)) if on]
    return {
        "reason": "+".join(reasons),
        "tilt_deg": round(g.tilt_deg, 4) if g.shifted else 0.0,
        "step_mm": grid.spacing[2],
        "missing_slices": g.missing_slices,
        "original_positions": [list(p) for p in g.slice_origins],
        "original_offsets_mm": [round(t - g.positions[0], 6) for t in g.positions],
        "size": list(grid.size),
        "method": "linear along the slice normal at the most common step; in-plane shifts bilinear; "
                  "slice axis = slice normal; outside the slices = fill value",
    }
