"""Where each lesion a model found lies: its axial slice whole, beside a close-up of the lesion.

A lesion model's table (volume, diameters, centroid) says how big each lesion is but not where a
reader should look, so each lesion gets two panels of the axial slice where it is largest: the
whole slice with a box around the lesion (which lung, how far from the pleura), and the box
enlarged with the lesion outlined. Both are drawn radiologically from the volume reoriented to
LPS (patient right on the image's left, anterior at the top), at the CT's own pixels, in a lung
window, and captioned with the slice's position (mm) so it can be found in any viewer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..preprocess import Reoriented
from .png import Picture
from .slices import Sheet, panel_box, position_text, rgb_slice

#: Lesions drawn, largest first; the table lists them all.
MOST_LESIONS = 8
#: Half the close-up's side (mm): the lesion's in-slice extent plus a margin, within these bounds.
CLOSE_UP_HALF_MM = (20.0, 60.0)
#: Outline of the lesions (the lung-tumour model's red).
LESION_COLOUR = (0.9, 0.24, 0.24)


@dataclass
class LesionView:
    """One lesion's panels on the LPS grid: axial slice ``z`` and the close-up ``rows`` x ``cols``
    (slices of that slice's (y, x) array), and the slice's position ("S -7.1 mm")."""

    lesion: int
    z: int
    rows: slice
    cols: slice
    position: str


def lesion_view(lps: sitk.Image, numbered: np.ndarray, lesion: int, box=None) -> LesionView:
    """Where to draw ``lesion`` (its value in ``numbered``, an LPS (z, y, x) array on ``lps``'s grid):
    the axial slice with most of its voxels and a box around it there. ``box``: the lesion's
    bounding slices (from :func:`scipy.ndimage.find_objects`), found when not given."""
    box = box or ndimage.find_objects((numbered == lesion).astype(np.uint8))[0]
    inside = numbered[box] == lesion
    z = box[0].start + int(np.argmax(inside.sum(axis=(1, 2))))
    ys, xs = np.nonzero(numbered[z] == lesion)
    sx, sy = lps.GetSpacing()[:2]
    extent_mm = max((np.ptp(ys) + 1) * sy, (np.ptp(xs) + 1) * sx)
    half = float(np.clip(0.75 * extent_mm + 10.0, *CLOSE_UP_HALF_MM))
    cy, cx = float(ys.mean()), float(xs.mean())
    ny, nx = numbered.shape[1:]
    rows = slice(max(0, int(round(cy - half / sy))), min(ny, int(round(cy + half / sy)) + 1))
    cols = slice(max(0, int(round(cx - half / sx))), min(nx, int(round(cx + half / sx)) + 1))
    where = lps.TransformContinuousIndexToPhysicalPoint((cx, cy, float(z)))[2]
    return LesionView(lesion, z, rows, cols, position_text(where, 2))


def lesion_views(image: sitk.Image, numbered: sitk.Image, lesions: Sequence[dict], *,
                 window: tuple[float, float] = (-600.0, 1500.0), most: int = MOST_LESIONS,
                 pairs_per_row: int = 2) -> Picture | None:
    """The picture of ``lesions`` (rows of :func:`medseg.measure.lesions.lesion_table`: ``lesion``,
    ``volume_ml``, ``max_diameter_mm``) found in ``numbered`` (lesion N has value N, on ``image``'s
    grid), HU window ``(centre, width)``. ``positions`` name each lesion's slice ("lesion-2: axial S -7.1 mm").
    None when there is no lesion."""
    if not lesions:
        return None
    lps = Reoriented.of(image).image  # held: hu is a view of its buffer
    hu = sitk.GetArrayViewFromImage(lps)
    lab = sitk.GetArrayFromImage(Reoriented.of(numbered).image)
    boxes = ndimage.find_objects(lab)
    shown = [r for r in lesions[:most] if int(r["lesion"]) <= len(boxes) and boxes[int(r["lesion"]) - 1]]
    if not shown:
        return None
    sx, sy = lps.GetSpacing()[:2]
    ny, nx = hu.shape[1:]
    aw, ah = panel_box(nx * sx, ny * sy)
    gap, head, t = 0.04, 0.11, Sheet.TITLE
    cols = min(pairs_per_row, len(shown))
    pair_w = aw + gap + 1.0  # the close-up is at most one unit wide
    inner = max(ah, 1.0)
    row_h = head + t + inner + gap
    sheet = Sheet(cols * (pair_w + 2 * gap), -(-len(shown) // cols) * row_h, inch_per_unit=2.3)
    from matplotlib.patches import Rectangle

    positions = []
    for k, r in enumerate(shown):
        n = int(r["lesion"])
        view = lesion_view(lps, lab, n, boxes[n - 1])
        x0, y0 = (k % cols) * (pair_w + 2 * gap), (k // cols) * row_h
        sheet.ax.text(x0, y0 + 0.01, f"lesion-{n}: {r.get('volume_ml', 0):.2f} ml, "
                      f"{r.get('max_diameter_mm', 0):.1f} mm", ha="left", va="top", fontsize=8, fontweight="bold")
        top = y0 + head + t
        oy = top + (inner - ah) / 2
        extent = sheet.place(rgb_slice(hu[view.z].astype(np.float32), window), x0, oy, aw, ah, 2,
                             f"axial {view.position}")
        sheet.outline(lab[view.z] == n, extent, LESION_COLOUR)
        bx, by = x0 + view.cols.start / nx * aw, oy + view.rows.start / ny * ah
        bw = (view.cols.stop - view.cols.start) / nx * aw
        bh = (view.rows.stop - view.rows.start) / ny * ah
        sheet.ax.add_patch(Rectangle((bx, by), bw, bh, fill=False, edgecolor="yellow", linewidth=0.8))
        crop = hu[view.z, view.rows, view.cols].astype(np.float32)
        cw, ch = panel_box(crop.shape[1] * sx, crop.shape[0] * sy, most_ratio=1.0)
        side_mm = (view.cols.stop - view.cols.start) * sx
        zoomed = sheet.place(rgb_slice(crop, window), x0 + aw + gap, top + (inner - ch) / 2, cw, ch, 2,
                             f"close-up, {side_mm:.0f} mm wide")
        sheet.outline(lab[view.z, view.rows, view.cols] != 0, zoomed, LESION_COLOUR)
        positions.append(f"lesion-{n}: axial {view.position}")
    caption = (f"each lesion on the axial slice where it is largest, whole (the yellow box) and close up, "
               f"outlined in red; window {window[0]:g}/{window[1]:g} HU (centre/width); patient's right on the "
               "image's left")
    if len(lesions) > len(shown):
        caption += f"; the {len(shown)} largest of {len(lesions)} lesions"
    return Picture(sheet.png(dpi=100), caption, positions)


__all__ = ["LesionView", "lesion_view", "lesion_views", "MOST_LESIONS"]
