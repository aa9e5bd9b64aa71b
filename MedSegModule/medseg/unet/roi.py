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
