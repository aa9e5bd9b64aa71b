"""Right and left lung from one lung mask, including lungs that touch at the anterior junction.

The patient's left is +x in LPS (the column index grows toward it), as the header says; a patient
lying on their side whose scan is recorded as supine is split along the header's axes. The
mid-sagittal line of each slice runs through the body's centre along the posterior direction;
``u`` is the signed distance (mm) from it toward the patient's left.

Each connected lung piece goes wholly to the side it lies on. A piece with much of itself on
both sides is two lungs joined at a junction: it is eroded in-plane until it falls apart into a
right and a left core, and every voxel goes to the core it is geodesically nearer to (the cores
grow in step inside the piece). Where no erosion separates it, each slice is cut at its
narrowest point near the midline. Arrays are (z, y, x); spacing (z, y, x) mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ...progress import CancelEvent, check_cancel
from .ops import CROSS_2D, erode_plane

#: Largest in-plane erosion (mm) tried to separate touching lungs.
MAX_ERODE_MM = 16.0
#: A piece with at least this fraction of its voxels on each side spans both.
SPAN_FRACTION = 0.1
#: Half-width (mm) of the band around the midline where a slice's cut is sought.
CUT_BAND_MM = 30.0


@dataclass
class Axes:
    """Per-slice body centre (row, col; px) and the in-plane unit vectors (row, col components, in mm)."""

    centre: np.ndarray
    left: tuple[float, float]
    posterior: tuple[float, float]
    spacing: tuple[float, float]

    def shifted(self, offset) -> "Axes":
        """The same axes for a sub-volume starting at ``offset`` (z, y, x) voxels."""
        z0, y0, x0 = offset
        n = len(self.centre)
        centre = self.centre[z0:] if z0 < n else self.centre[-1:]
        return Axes(centre - np.array([y0, x0]), self.left, self.posterior, self.spacing)

    def u(self, zz: np.ndarray, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        """Signed distance (mm) toward the patient's left of the mid-sagittal line, per voxel."""
        c = self.centre[zz]
        return (yy - c[:, 0]) * self.spacing[0] * self.left[0] + (xx - c[:, 1]) * self.spacing[1] * self.left[1]


def body_axes(body: np.ndarray, spacing) -> Axes:
    """Body centre per slice (row, col px) with the LPS axes: the patient's left is +x (columns).

    The header is trusted for direction: a spine-based guess was tried and is fooled by
    contrast-filled heart and aorta, which are as dense as bone and as central.
    """
    nz, ny, nx = body.shape
    counts = body.sum(axis=(1, 2)).astype(np.float64)
    ok = counts > 0
    centre = np.empty((nz, 2))
    if not ok.any():
        centre[:] = ((ny - 1) / 2.0, (nx - 1) / 2.0)
    else:
        rows, cols = np.arange(ny, dtype=np.float64), np.arange(nx, dtype=np.float64)
        centre[ok, 0] = (body.sum(axis=2)[ok] * rows).sum(axis=1) / counts[ok]
        centre[ok, 1] = (body.sum(axis=1)[ok] * cols).sum(axis=1) / counts[ok]
        centre[~ok] = centre[ok].mean(axis=0)
    return Axes(centre, (0.0, 1.0), (1.0, 0.0), (float(spacing[1]), float(spacing[2])))


def _right_fraction(mask: np.ndarray, axes: Axes, offset) -> float:
    zz, yy, xx = np.nonzero(mask)
    if zz.size == 0:
        return 0.0
    return float(np.mean(axes.u(zz + offset[0], yy + offset[1], xx + offset[2]) < 0))


def _grow_markers(piece: np.ndarray, right: np.ndarray, left: np.ndarray, cancel: CancelEvent):
    """Grow two markers inside ``piece`` in step (in-plane) until it is covered; ties go to neither."""
    right, left = right & piece, left & piece
    while True:
        free = piece & ~right & ~left
        if not free.any():
            break
        check_cancel(cancel)
        r_new = ndimage.binary_dilation(right, CROSS_2D) & free
        l_new = ndimage.binary_dilation(left, CROSS_2D) & free
        if not r_new.any() and not l_new.any():
            break  # the rest is cut off from both in its slice
        both = r_new & l_new
        right |= r_new & ~both
        left |= l_new & ~both
        piece = piece & ~both  # a voxel both reach at once is on the watershed: the midline decides
    return right, left


def _cut_narrowest(piece: np.ndarray, axes: Axes, offset) -> np.ndarray:
    """Right part of ``piece``: per slice, the voxels on the right of its narrowest point near the midline."""
    right = np.zeros_like(piece)
    step = min(axes.spacing)
    for k in np.flatnonzero(piece.any(axis=(1, 2))):
        yy, xx = np.nonzero(piece[k])
        u = axes.u(np.full(yy.shape, k + offset[0]), yy + offset[1], xx + offset[2])
        bins = np.floor(u / step).astype(np.int64)
        band = int(np.ceil(CUT_BAND_MM / step))
        edges = np.arange(-band, band + 1)
        counts = np.array([(bins == e).sum() for e in edges]) + 1e-3 * np.abs(edges)
        cut = edges[int(np.argmin(counts))] * step
        sel = u < cut
        right[k, yy[sel], xx[sel]] = True
    return right


def _split_piece(piece: np.ndarray, axes: Axes, offset, px: float, cancel: CancelEvent):
    """(right part, how) of one piece that spans the midline."""
    size = piece.sum()
    padded = np.pad(piece, ((0, 0), (1, 1), (1, 1)))
    for r in range(1, int(np.ceil(MAX_ERODE_MM / px)) + 1):
        check_cancel(cancel)
        core = erode_plane(padded, r)[:, 1:-1, 1:-1]
        lab, n = ndimage.label(core)
        if n == 0:
            break
        if n < 2:
            continue
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        big = [j for j in np.argsort(sizes)[::-1][:4] if sizes[j] >= 0.05 * size]
        sides = {j: _right_fraction(lab == j, axes, offset) >= 0.5 for j in big}
        if len(set(sides.values())) < 2:
            continue
        r_part, l_part = _grow_markers(piece, np.isin(lab, [j for j in big if sides[j]]),
                                       np.isin(lab, [j for j in big if not sides[j]]), cancel)
        zz, yy, xx = np.nonzero(piece & ~r_part & ~l_part)  # ties and cut-off bits: by the midline
        r_part[zz, yy, xx] = axes.u(zz + offset[0], yy + offset[1], xx + offset[2]) < 0
        return r_part, f"erosion at {r * px:.1f} mm"
    frac = _right_fraction(piece, axes, offset)
    if frac >= 0.75 or frac <= 0.25:  # one lung over the midline (e.g. hyperinflated after the other's loss)
        return (piece.copy() if frac >= 0.5 else np.zeros_like(piece)), "one lung across the midline"
    return _cut_narrowest(piece, axes, offset), "narrowest point"


def split_lungs(lungs: np.ndarray, axes: Axes, spacing, cancel: CancelEvent = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """(right, left, info): bool masks (z, y, x) partitioning ``lungs``.

    ``info`` says how each joined piece was split ("erosion at r mm", "narrowest point").
    """
    right = np.zeros_like(lungs)
    lab, n = ndimage.label(lungs)
    info: dict = {"pieces": int(n), "joined": [], "left_axis_row_col": [round(v, 3) for v in axes.left]}
    px = max(spacing[1], spacing[2])
    for i, sl in enumerate(ndimage.find_objects(lab), start=1):
        check_cancel(cancel)
        piece = lab[sl] == i
        offset = (sl[0].start, sl[1].start, sl[2].start)
        frac = _right_fraction(piece, axes, offset)
        if frac >= 1.0 - SPAN_FRACTION or frac <= SPAN_FRACTION:
            if frac >= 0.5:
                right[sl] |= piece
            continue
        part, how = _split_piece(piece, axes, offset, px, cancel)
        right[sl] |= part
        info["joined"].append(how)
    return right, lungs & ~right, info
