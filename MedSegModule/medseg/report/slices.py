"""Slice pictures for the report: a montage of every n-th axial slice, and each label on three planes.

Every picture is drawn from the volume reoriented to LPS axes (:class:`~medseg.preprocess.Reoriented`)
in the radiological convention Slicer's views use:

* axial: rows anterior → posterior (top → bottom), columns patient right → left (image left =
  patient right), seen from the feet;
* coronal: superior at the top, patient right on the image's left, seen from the front;
* sagittal: superior at the top, anterior on the image's left, seen from the patient's left.

Captions give each slice's position in patient coordinates (mm from the DICOM origin, as
"S 45.0 mm", "R 12.3 mm"), never an index, so they can be found again in any viewer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import SimpleITK as sitk

from ..labels import TABLE_HEADREST, Label
from ..preprocess import Reoriented
from .png import png_bytes

#: (negative, positive) direction letters of LPS x, y, z.
_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))
#: Longest side (pixels) of a slice as drawn: the panels are small, so the display works on a strided copy.
DISPLAY_PIXELS = 256
#: The largest number of slices in the montage.
MONTAGE_MOST = 24


def position_text(lps_mm: float, axis: int) -> str:
    """A position along LPS ``axis`` (0 x, 1 y, 2 z) as a direction and a distance: "S 45.0 mm", "R 12.3 mm"."""
    neg, pos = _LETTERS[axis]
    return f"{pos if lps_mm >= 0 else neg} {abs(lps_mm):.1f} mm"


@dataclass
class _Grid:
    """A volume on its LPS grid, strided for display, and where its slices lie (mm)."""

    hu: np.ndarray          # (z, y, x) strided
    step: tuple[int, int, int]
    spacing: tuple[float, float, float]  # (z, y, x) mm of the strided array
    image: sitk.Image       # the LPS image (full resolution), for positions

    @classmethod
    def of(cls, image: sitk.Image, pixels: int = DISPLAY_PIXELS) -> "_Grid":
        img = Reoriented.of(image).image
        nx, ny, nz = img.GetSize()
        sx, sy, sz = img.GetSpacing()
        # Same in-plane step on both axes keeps the pixels' aspect; z is strided only for very long stacks.
        s = max(1, math.ceil(max(nx, ny) / pixels))
        t = max(1, math.ceil(nz / (2 * pixels)))
        hu = sitk.GetArrayFromImage(img)[::t, ::s, ::s]
        return cls(hu, (t, s, s), (sz * t, sy * s, sx * s), img)

    def strided(self, labels: sitk.Image | None) -> np.ndarray | None:
        if labels is None:
            return None
        lab = sitk.GetArrayFromImage(Reoriented.of(labels).image)
        t, s, _ = self.step
        return np.ascontiguousarray(lab[::t, ::s, ::s])

    def position(self, axis: int, k: int) -> str:
        """Caption of slice ``k`` (strided index) across LPS axis ``axis`` (0 sagittal, 1 coronal, 2 axial)."""
        nx, ny, nz = self.image.GetSize()
        index = [(nx - 1) / 2.0, (ny - 1) / 2.0, (nz - 1) / 2.0]
        index[axis] = float(k * self.step[2 - axis])
        point = self.image.TransformContinuousIndexToPhysicalPoint(index)
        return position_text(point[axis], axis)

    def plane(self, array: np.ndarray, axis: int, k: int) -> tuple[np.ndarray, float]:
        """(2D picture, aspect) of slice ``k`` across LPS ``axis``, oriented as the module docstring says."""
        sz, sy, sx = self.spacing
        if axis == 2:
            return array[k], sy / sx
        if axis == 1:
            return array[::-1, k, :], sz / sx  # superior up
        return array[::-1, :, k], sz / sy


def _show_ct(ax, picture: np.ndarray, aspect: float, window: tuple[float, float]) -> None:
    lo, hi = window[0] - window[1] / 2, window[0] + window[1] / 2
    ax.imshow(picture, cmap="gray", vmin=lo, vmax=hi, aspect=aspect, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)


def _letters(ax, axis: int) -> None:
    left, right, top = {2: ("R", "L", "A"), 1: ("R", "L", "S"), 0: ("A", "P", "S")}[axis]
    style = dict(transform=ax.transAxes, color="yellow", fontsize=7, va="center")
    ax.text(0.01, 0.5, left, **style)
    ax.text(0.99, 0.5, right, ha="right", **style)
    ax.text(0.5, 0.98, top, ha="center", **{**style, "va": "top"})


def montage(image: sitk.Image, *, every: int | None = None, window: tuple[float, float] = (40.0, 400.0),
            removed: sitk.Image | None = None, columns: int = 6) -> tuple[bytes, int]:
    """Every ``every``-th axial slice (HU window ``(centre, width)``), inferior first: (PNG bytes, every).

    ``every`` defaults to the step that shows at most :data:`MONTAGE_MOST` slices. ``removed`` (a
    label image on the same grid, non-zero = removed objects) is drawn as a magenta outline so the
    table or headrest the clean step took out can be checked slice by slice.
    """
    from matplotlib.figure import Figure

    g = _Grid.of(image)
    t = g.step[0]
    every = every or math.ceil(g.image.GetSize()[2] / MONTAGE_MOST)
    every = t * max(1, math.ceil(every / t))  # slices the strided copy holds
    zs = list(range(0, g.hu.shape[0], every // t))
    rem = g.strided(removed)
    cols = min(columns, len(zs))
    rows = math.ceil(len(zs) / cols)
    ny, nx = g.hu.shape[1:]
    aspect = (ny * g.spacing[1]) / (nx * g.spacing[2])
    fig = Figure(figsize=(1.9 * cols, 1.9 * rows * aspect + 0.5))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, z in zip(axes.ravel(), zs):
        ax.axis("on")
        picture, asp = g.plane(g.hu, 2, z)
        _show_ct(ax, picture, asp, window)
        if rem is not None and rem[z].any():
            ax.contour(rem[z] != 0, levels=[0.5], colors=[TABLE_HEADREST.color_float], linewidths=0.9)
        ax.set_title(g.position(2, z), fontsize=7, pad=2)
        _letters(ax, 2)
    apart = f"every axial slice" if every == 1 else f"one axial slice in {every} ({every * g.image.GetSpacing()[2]:.1f} mm apart)"
    note = f"{apart}, inferior first; window {window[0]:g}/{window[1]:g} HU (centre/width)"
    if rem is not None and rem.any():
        note += "; removed objects outlined in magenta"
    fig.suptitle(note, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.97), pad=0.3, h_pad=0.6, w_pad=0.3)
    return png_bytes(fig, dpi=90), every


def _largest_slice(mask: np.ndarray, axis: int) -> int:
    """Strided index across LPS ``axis`` where ``mask`` (z, y, x) has the most voxels."""
    other = tuple(a for a in (0, 1, 2) if a != 2 - axis)
    return int(np.argmax(np.count_nonzero(mask, axis=other)))


def label_planes(image: sitk.Image, labels: sitk.Image, label_table: Sequence[Label], *,
                 window: tuple[float, float] = (-300.0, 1600.0), alpha: float = 0.5,
                 names: dict[int, str] | None = None) -> bytes | None:
    """Each present label on an axial, a coronal and a sagittal slice: one row per label.

    Each plane is the slice where the label has the most voxels; only that label is filled (removed
    objects, the table-headrest, more opaque so the magenta stands out). ``names`` renames labels
    in the row titles (e.g. "body (remainder)"). Returns PNG bytes, or None when no label is present.
    """
    from matplotlib.figure import Figure

    g = _Grid.of(image)
    lab = g.strided(labels)
    present = set(np.unique(lab).tolist()) - {0}
    shown = [lb for lb in label_table if lb.value in present]
    if not shown:
        return None
    nz, ny, nx = g.hu.shape
    sz, sy, sx = g.spacing
    widths = [nx * sx, nx * sx, ny * sy]
    heights = [ny * sy, nz * sz, nz * sz]
    row_h = 2.6
    # Each panel as wide as its aspect at the row's height, capped so a long stack stays readable.
    ratios = [min(w / h, 3.0) for w, h in zip(widths, heights)]
    fig = Figure(figsize=(row_h * sum(ratios) + 0.4, row_h * len(shown) + 0.3))
    axes = fig.subplots(len(shown), 3, squeeze=False, gridspec_kw={"width_ratios": ratios})
    names = names or {}
    for row, lb in zip(axes, shown):
        mask = lab == lb.value
        a = 0.85 if lb.name == TABLE_HEADREST.name else alpha
        for ax, axis, plane in zip(row, (2, 1, 0), ("axial", "coronal", "sagittal")):
            k = _largest_slice(mask, axis)
            picture, asp = g.plane(g.hu, axis, k)
            _show_ct(ax, picture, asp, window)
            m, _ = g.plane(mask, axis, k)
            rgba = np.zeros(m.shape + (4,))
            rgba[m] = (*lb.color_float, a)
            ax.imshow(rgba, aspect=asp, interpolation="nearest")
            ax.set_title(f"{names.get(lb.value, lb.name)}: {plane} {g.position(axis, k)}", fontsize=8, pad=2)
            _letters(ax, axis)
    fig.tight_layout(pad=0.4, h_pad=0.8, w_pad=0.4)
    return png_bytes(fig, dpi=80)


__all__ = ["position_text", "montage", "label_planes", "DISPLAY_PIXELS", "MONTAGE_MOST"]
