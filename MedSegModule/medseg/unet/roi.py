"""A search region as a model's input mask: voxels outside it set to air, the volume cropped to its box.

A model whose card declares ``preprocessing.roi`` (the lung-tumour model: ``"lungs"``, the
mirrored+dilated region of ``medseg lungs --roi``) only ever sees the inside of that region, in
training and in prediction alike; its output outside the region is zero by construction. The
crop keeps the model's fixed-size grid on the region instead of on the centre of a wide field of
view, where an off-centre patient's lungs would fall outside it.

Arrays are (z, y, x); boxes are tuples of three slices.
"""

from __future__ import annotations

import numpy as np

from ..labels import AIR_HU


def roi_box(roi: np.ndarray, margin_px: int = 4) -> tuple[slice, slice, slice] | None:
    """The (z, y, x) bounding box of ``roi`` (bool), grown in-plane by ``margin_px``; None when empty.

    The z range is exact (slices without region are not needed); the in-plane margin keeps the
    convolutions' view of the region's edge the same as inside it.
    """
    roi = np.asarray(roi, bool)
    if not roi.any():
        return None
    box = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        idx = np.flatnonzero(roi.any(axis=other))
        m = 0 if axis == 0 else int(margin_px)
        box.append(slice(max(0, int(idx[0]) - m), min(roi.shape[axis], int(idx[-1]) + 1 + m)))
    return tuple(box)  # type: ignore[return-value]


def masked(hu: np.ndarray, roi: np.ndarray, fill: float = float(AIR_HU)) -> np.ndarray:
    """A float32 copy of ``hu`` (HU) with every voxel outside ``roi`` set to ``fill`` (air)."""
    out = np.array(hu, dtype=np.float32)
    out[~np.asarray(roi, bool)] = fill
    return out


def box_extent_mm(box: tuple[slice, slice, slice], spacing) -> tuple[float, float]:
    """In-plane size (rows, columns) in mm of ``box`` at ``spacing`` (z, y, x) mm."""
    return ((box[1].stop - box[1].start) * float(spacing[1]), (box[2].stop - box[2].start) * float(spacing[2]))


#: In-plane closing radius (mm) that makes the classical lung mask whole again where a lesion sits in it.
LUNG_CLOSING_MM = 8.0


def whole_lungs(lung: np.ndarray, spacing, radius_mm: float = LUNG_CLOSING_MM) -> np.ndarray:
    """The lung mask (bool, (z, y, x), ``spacing`` (z, y, x) mm) closed slice by slice with a disk of
    ``radius_mm`` and hole-filled in 3D: a solid nodule (a hole in the classical mask) and the
    notch a pleural lesion cuts into it count as lung; the liver dome and the heart, far wider than
    the disk, do not."""
    from scipy import ndimage

    lung = np.asarray(lung, bool)
    ry, rx = (max(1, int(round(radius_mm / float(s)))) for s in spacing[1:])
    yy, xx = np.ogrid[-ry:ry + 1, -rx:rx + 1]
    disk = ((yy / ry) ** 2 + (xx / rx) ** 2 <= 1.0)[None]
    padded = np.pad(lung, ((0, 0), (ry, ry), (rx, rx)))
    closed = ndimage.binary_closing(padded, structure=disk)[:, ry:ry + lung.shape[1], rx:rx + lung.shape[2]]
    return ndimage.binary_fill_holes(closed | lung)


def drop_components(labels: np.ndarray, drop) -> np.ndarray:
    """``labels`` (uint8, (z, y, x)) without the components (26-connected, per class) that ``drop``
    picks: ``drop(comp, n)`` gets one class's component map (1..n) and returns a bool array of
    length n + 1 (index 0, the background, False)."""
    from scipy import ndimage

    out = labels.copy()
    for c in [int(v) for v in np.unique(out) if v]:
        comp, n = ndimage.label(out == c, structure=np.ones((3, 3, 3), bool))
        if n:
            out[drop(comp, n)[comp]] = 0
    return out


def keep_in_lungs(labels: np.ndarray, lung: np.ndarray, spacing, min_fraction: float) -> np.ndarray:
    """``labels`` (uint8, (z, y, x)) without the components (26-connected, per class) of which less
    than ``min_fraction`` lies in :func:`whole_lungs` of ``lung``: a component is judged whole, so a
    pleural lesion keeps the part that reaches past the lung's edge while a band along the diaphragm
    or the heart border, mostly outside the lung, goes."""
    inside = whole_lungs(lung, spacing)

    def outside_mostly(comp: np.ndarray, n: int) -> np.ndarray:
        size = np.bincount(comp.ravel(), minlength=n + 1)
        in_lung = np.bincount(comp[inside], minlength=n + 1)
        fraction = in_lung / np.maximum(size, 1)
        return np.r_[False, fraction[1:] < float(min_fraction)]

    return drop_components(labels, outside_mostly)
