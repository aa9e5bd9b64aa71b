"""Slice pictures for the report: a montage of every n-th axial slice, and each label on three planes.

Every picture is drawn from the volume reoriented to LPS axes (:class:`~medseg.preprocess.Reoriented`)
in the radiological convention Slicer's views use:

* axial: rows anterior → posterior (top → bottom), columns patient right → left (image left =
  patient right), seen from the feet;
* coronal: superior at the top, patient right on the image's left, seen from the front;
* sagittal: superior at the top, anterior on the image's left, seen from the patient's left.

Captions give each slice's position in patient coordinates (mm from the DICOM origin, as
"S 45.0 mm", "R 12.3 mm"), never an index, so they can be found again in any viewer. The panels
are small, so in-plane the CT is shown as block means of at most :data:`DISPLAY_PIXELS` pixels a
side (labels at each block's centre voxel), computed only for the slices drawn.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import SimpleITK as sitk

from ..labels import TABLE_HEADREST, Label
from ..preprocess import Reoriented
from .png import Picture, png_bytes

#: (negative, positive) direction letters of LPS x, y, z.
_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))
#: Longest side (pixels) of a slice as drawn.
DISPLAY_PIXELS = 256
#: The largest number of slices in the montage.
MONTAGE_MOST = 24
#: Opacity of the removed objects' magenta (the table-headrest label): it must stand out on grey CT.
REMOVED_ALPHA = 0.85
_PLANES = {2: "axial", 1: "coronal", 0: "sagittal"}
#: A stack less deep than this (mm) gets no coronal or sagittal panel: it would be a strip a few
#: pixels high (a 2-slice series is 2 mm of a 350 mm body) that shows nothing.
MIN_STACK_MM = 20.0


def position_text(lps_mm: float, axis: int) -> str:
    """A position along LPS ``axis`` (0 x, 1 y, 2 z) as a direction and a distance: "S 45.0 mm", "R 12.3 mm"."""
    neg, pos = _LETTERS[axis]
    return f"{pos if lps_mm >= 0 else neg} {abs(lps_mm):.1f} mm"


class _Volume:
    """A volume on its LPS grid, with display-sized slices cut on demand and their positions (mm).

    Slice numbers are on the display grid: z every ``t``-th slice (only for stacks longer than twice
    DISPLAY_PIXELS), y and x in blocks of ``s`` voxels.
    """

    def __init__(self, image: sitk.Image, pixels: int = DISPLAY_PIXELS):
        self.image = Reoriented.of(image).image  # held: self.hu is a view of its buffer
        self.hu = sitk.GetArrayViewFromImage(self.image)
        nx, ny, nz = self.image.GetSize()
        self.s = max(1, math.ceil(max(nx, ny) / pixels))
        self.t = max(1, math.ceil(nz / (2 * pixels)))
        self.shape = (len(range(0, nz, self.t)), ny // self.s, nx // self.s)
        sx, sy, sz = self.image.GetSpacing()
        self.spacing = (sz * self.t, sy * self.s, sx * self.s)

    def _blocks(self, plane: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        """Block means over the in-plane ``axes`` of a 2D (or 3D, for one slab) array."""
        s = self.s
        if s == 1:
            return plane.astype(np.float32)
        for axis in axes:
            n = plane.shape[axis] // s * s
            plane = np.take(plane, np.arange(n), axis=axis)
            shape = plane.shape[:axis] + (n // s, s) + plane.shape[axis + 1:]
            plane = plane.reshape(shape).mean(axis=axis + 1, dtype=np.float32)
        return plane

    def ct(self, axis: int, k: int) -> np.ndarray:
        """The CT slice ``k`` across LPS ``axis`` as drawn (superior up on coronal and sagittal)."""
        s, t = self.s, self.t
        if axis == 2:
            return self._blocks(self.hu[k * t], (0, 1))
        if axis == 1:
            slab = self.hu[::t, k * s:(k + 1) * s, :].mean(axis=1, dtype=np.float32)
            return self._blocks(slab, (1,))[::-1]
        slab = self.hu[::t, :, k * s:(k + 1) * s].mean(axis=2, dtype=np.float32)
        return self._blocks(slab, (1,))[::-1]

    def labels(self, labels: sitk.Image) -> np.ndarray:
        """``labels`` (same grid as the volume) on the display grid: the voxel at each block's centre."""
        lps = Reoriented.of(labels).image  # held while its array view is in use
        lab = sitk.GetArrayViewFromImage(lps)
        z, y, x = self.shape
        c = self.s // 2
        return np.ascontiguousarray(lab[:: self.t, c:: self.s, c:: self.s][:z, :y, :x])

    def cut(self, array: np.ndarray, axis: int, k: int) -> np.ndarray:
        """Slice ``k`` across ``axis`` of an array on the display grid, oriented as :meth:`ct`."""
        if axis == 2:
            return array[k]
        return (array[:, k, :] if axis == 1 else array[:, :, k])[::-1]

    def aspect(self, axis: int) -> float:
        sz, sy, sx = self.spacing
        return {2: sy / sx, 1: sz / sx, 0: sz / sy}[axis]

    def extent_mm(self, axis: int) -> tuple[float, float]:
        """(width, height) in mm of a slice across ``axis`` as drawn."""
        (nz, ny, nx), (sz, sy, sx) = self.shape, self.spacing
        return {2: (nx * sx, ny * sy), 1: (nx * sx, nz * sz), 0: (ny * sy, nz * sz)}[axis]

    def position(self, axis: int, k: int) -> str:
        """Caption of slice ``k`` across LPS ``axis`` (0 sagittal, 1 coronal, 2 axial)."""
        size = self.image.GetSize()
        index = [(n - 1) / 2.0 for n in size]
        index[axis] = float(k * self.t) if axis == 2 else k * self.s + (self.s - 1) / 2.0  # a block's centre
        return position_text(self.image.TransformContinuousIndexToPhysicalPoint(index)[axis], axis)


def rgb_slice(ct: np.ndarray, window: tuple[float, float], mask: np.ndarray | None = None,
         colour: tuple[float, float, float] = (1.0, 0.0, 1.0), alpha: float = 0.5) -> np.ndarray:
    """A windowed CT slice as RGB (0..1), with ``mask`` blended in ``colour``: one image to draw, not two."""
    lo, hi = window[0] - window[1] / 2, window[0] + window[1] / 2
    grey = np.clip((ct - lo) / (hi - lo), 0.0, 1.0)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    if mask is not None and mask.any():
        rgb[mask] = (1.0 - alpha) * rgb[mask] + alpha * np.asarray(colour)
    return rgb


class Sheet:
    """Panels on one matplotlib axes, each placed by its box in sheet units (1 unit = a panel's height).

    One axes, not one per panel: building and laying out dozens of axes would cost more than
    drawing the images. The y axis runs downwards, as rows are read.
    """

    TITLE = 0.09  # room above each panel for its caption, in sheet units

    def __init__(self, width: float, height: float, inch_per_unit: float):
        from matplotlib.figure import Figure

        self.fig = Figure(figsize=(width * inch_per_unit, height * inch_per_unit))
        self.ax = self.fig.add_axes((0, 0, 1, 1))
        self.ax.set_xlim(0, width)
        self.ax.set_ylim(height, 0)
        self.ax.set_aspect("equal")
        self.ax.set_axis_off()

    def place(self, rgb: np.ndarray, x0: float, y0: float, w: float, h: float, axis: int, title: str) -> tuple:
        """Draw ``rgb`` in the box (x0, y0, w, h) with its orientation letters and caption; returns the extent."""
        extent = (x0, x0 + w, y0 + h, y0)
        self.ax.imshow(rgb, extent=extent, interpolation="nearest")
        left, right, top = {2: ("R", "L", "A"), 1: ("R", "L", "S"), 0: ("A", "P", "S")}[axis]
        style = dict(color="yellow", fontsize=7, va="center")
        self.ax.text(x0 + 0.01 * w, y0 + h / 2, left, **style)
        self.ax.text(x0 + 0.99 * w, y0 + h / 2, right, ha="right", **style)
        self.ax.text(x0 + w / 2, y0 + 0.01 * h, top, ha="center", **{**style, "va": "top"})
        self.ax.text(x0 + w / 2, y0 - 0.01, title, ha="center", va="bottom", fontsize=7)
        return extent

    def outline(self, mask: np.ndarray, extent: tuple, colour) -> None:
        self.ax.contour(mask.astype(np.uint8), levels=[0.5], colors=[colour], linewidths=0.9, extent=extent,
                        origin="upper")

    def png(self, dpi: int) -> bytes:
        return png_bytes(self.fig, dpi=dpi)


def panel_box(width_mm: float, height_mm: float, most_ratio: float = 3.0) -> tuple[float, float]:
    """(w, h) in sheet units of a panel of that physical size: 1 unit high, unless wider than ``most_ratio``."""
    r = width_mm / height_mm
    return (r, 1.0) if r <= most_ratio else (most_ratio, most_ratio / r)


def montage(image: sitk.Image, *, every: int | None = None, window: tuple[float, float] = (40.0, 400.0),
            removed: sitk.Image | None = None, columns: int = 6) -> Picture:
    """Every ``every``-th axial slice (HU window ``(centre, width)``), inferior first.

    ``every`` defaults to the step that shows at most :data:`MONTAGE_MOST` slices. ``removed`` (a
    label image on the same grid, non-zero = removed objects) is drawn as a magenta outline so the
    table or headrest the clean step took out can be checked slice by slice. The caption says the
    step and window; ``positions`` are the slices' captions ("S 45.0 mm"), in the order shown.
    """
    vol = _Volume(image)
    every = every or math.ceil(vol.image.GetSize()[2] / MONTAGE_MOST)
    every = vol.t * max(1, math.ceil(every / vol.t))  # slices the display grid holds
    zs = list(range(0, vol.shape[0], every // vol.t))
    rem = vol.labels(removed) if removed is not None else None
    cols = min(columns, len(zs))
    rows = math.ceil(len(zs) / cols)
    w, h = panel_box(*vol.extent_mm(2))
    gap, head, t = 0.03, 0.12, Sheet.TITLE
    sheet = Sheet(cols * (w + gap), head + rows * (h + t + gap), inch_per_unit=1.9 / w)
    for n, z in enumerate(zs):
        x0, y0 = (n % cols) * (w + gap), head + (n // cols) * (h + t + gap) + t
        extent = sheet.place(rgb_slice(vol.ct(2, z), window), x0, y0, w, h, 2, vol.position(2, z))
        if rem is not None and rem[z].any():
            sheet.outline(rem[z] != 0, extent, TABLE_HEADREST.color_float)
    apart = "every axial slice" if every == 1 else \
        f"one axial slice in {every} ({every * vol.image.GetSpacing()[2]:.1f} mm apart)"
    note = f"{apart}, inferior first; window {window[0]:g}/{window[1]:g} HU (centre/width)"
    if rem is not None and rem.any():
        note += "; removed objects outlined in magenta"
    sheet.ax.text(cols * (w + gap) / 2, 0.02, note, ha="center", va="top", fontsize=8)
    return Picture(sheet.png(dpi=90), note, [vol.position(2, z) for z in zs])


def _slice_counts(lab: np.ndarray, values: Sequence[int]) -> dict[int, np.ndarray]:
    """For each LPS axis (0 x, 1 y, 2 z): voxels of each value in each slice, shape (slices, len(values))."""
    k = int(max(values)) + 1
    take = np.asarray(values)
    out = {}
    for axis, arr_axis in ((2, 0), (1, 1), (0, 2)):
        moved = np.moveaxis(lab, arr_axis, 0)
        out[axis] = np.stack([np.bincount(sl.ravel(), minlength=k)[take] if sl.size else np.zeros(len(take), int)
                              for sl in moved])
    return out


def _plane_layout(vol: _Volume, gap: float, t: float) -> dict[int, tuple[float, float, float, float]]:
    """Where the axial (2), coronal (1) and sagittal (0) panels of one row go: {axis: (x, y, w, h)}, sheet
    units, y from the row's top (each panel's caption above it). Side by side; for a short stack (a
    few cm of a wide body) the flat coronal and sagittal panels go one above the other, twice as wide;
    a stack under :data:`MIN_STACK_MM` deep is shown axially only."""
    (aw, ah), (cw, ch), (sw, sh) = (panel_box(*vol.extent_mm(a)) for a in (2, 1, 0))
    if vol.extent_mm(1)[1] < MIN_STACK_MM:
        return {2: (0.0, t, aw, ah)}
    side = {2: (0.0, t, aw, ah), 1: (aw + gap, t + (1 - ch) / 2, cw, ch),
            0: (aw + cw + 2 * gap, t + (1 - sh) / 2, sw, sh)}
    wide = cw + sw + gap
    (cw2, ch2), (sw2, sh2) = (panel_box(*vol.extent_mm(a), most_ratio=wide) for a in (1, 0))
    if ch + sh + t + gap > 1 or min(cw2 / cw, sw2 / sw) < 1.5:
        return side
    return {2: (0.0, t, aw, ah), 1: (aw + gap, t, cw2, ch2), 0: (aw + gap, 2 * t + ch2 + gap, sw2, sh2)}


def label_planes(image: sitk.Image, labels: sitk.Image, label_table: Sequence[Label], *,
                 window: tuple[float, float] = (-300.0, 1600.0), alpha: float = 0.5,
                 names: dict[int, str] | None = None) -> Picture | None:
    """Each present label on an axial, a coronal and a sagittal slice (axial only for a stack under
    :data:`MIN_STACK_MM` deep): one row per label.

    Each plane is the slice where the label has the most voxels; only that label is filled (the
    table-headrest, the removed objects, at :data:`REMOVED_ALPHA` so the magenta stands out).
    ``names`` renames labels in the titles (e.g. "body (remainder)"). Returns the picture, whose
    ``positions`` are its panels' titles ("lung-right: axial S 45.0 mm"), or None when no label is present.
    """
    vol = _Volume(image)
    lab = vol.labels(labels)
    values = [lb.value for lb in label_table]
    counts = _slice_counts(lab, values)
    shown = [(i, lb) for i, lb in enumerate(label_table) if counts[2][:, i].sum()]
    if not shown:
        return None
    gap, t = 0.04, Sheet.TITLE
    slots = _plane_layout(vol, gap, t)
    width = max(x + w for x, _, w, _ in slots.values())
    height = max(y + h for _, y, _, h in slots.values())
    row = t + height + gap  # the label's name, then the panels with their captions
    sheet = Sheet(width, len(shown) * row, inch_per_unit=2.5)
    names = names or {}
    titles = []
    for r, (i, lb) in enumerate(shown):
        a = REMOVED_ALPHA if lb.name == TABLE_HEADREST.name else alpha
        name = names.get(lb.value, lb.name)
        sheet.ax.text(0.0, r * row + 0.01, name, ha="left", va="top", fontsize=8, fontweight="bold")
        for axis, (x0, y0, w, h) in slots.items():
            k = int(np.argmax(counts[axis][:, i]))
            mask = vol.cut(lab, axis, k) == lb.value
            where = f"{_PLANES[axis]} {vol.position(axis, k)}"
            titles.append(f"{name}: {where}")
            sheet.place(rgb_slice(vol.ct(axis, k), window, mask, lb.color_float, a), x0, r * row + t + y0, w, h, axis,
                        where)
    note = f"window {window[0]:g}/{window[1]:g} HU (centre/width)"
    if len(slots) == 1:
        note += f"; axial only: the stack is {vol.extent_mm(1)[1]:.0f} mm deep"
    return Picture(sheet.png(dpi=95), note, titles, tuple(_PLANES[axis] for axis in slots))


__all__ = ["position_text", "montage", "label_planes", "DISPLAY_PIXELS", "MIN_STACK_MM", "MONTAGE_MOST", "REMOVED_ALPHA"]
