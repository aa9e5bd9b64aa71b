"""Segment statistics: volume and intensity (HU) statistics per segment, as Slicer's Segment Statistics.

``segment_statistics(image, labels, names)`` returns one row per segment:

=====================  ====================================================================
``segment``            the segment's name (``label-<value>`` when the label map has none)
``label_value``        its value in the label map
``voxel_count``        voxels in the segment
``volume_mm3``         ``voxel_count`` x voxel volume (spacing product), mm³
``volume_ml``          the same in ml (cm³)
``mean`` ``std``       intensity mean and population standard deviation (ddof 0, as Slicer's
                       vtkImageAccumulate); HU for a CT loaded by MedSeg
``min`` ``max``        intensity extremes
``median``             exact median (the mean of the two middle values for an even count)
``bbox_index_min_x``   bounding box as voxel indices, inclusive, in (x, y, z) = (i, j, k) order
... ``bbox_index_max_z``
``bbox_min_L_mm``      bounding box in physical LPS millimetres: the extent of the voxel
... ``bbox_max_S_mm``  centres of the index box's corners (so a one-voxel segment has min = max)
=====================  ====================================================================

Segments named in ``names`` but absent from the map get a row with ``voxel_count`` 0 and empty
intensity columns, as Slicer lists empty segments. Label 0 is background and never a segment.

One pass over the label map: the labelled voxels are gathered once, sorted by (label, intensity)
in one ``lexsort``, and every statistic is a ``reduceat`` over the contiguous groups; there is no
loop over labels touching the whole volume.
"""

from __future__ import annotations

import itertools
from typing import Any, Mapping

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..progress import CancelEvent, Progress, check_cancel, report
from ..io.tables import write_rows
from ..labels import segment_name

__all__ = ["STAT_COLUMNS", "segment_statistics", "write_rows"]

_AXES = "xyz"
_LPS = "LPS"

#: Column order of a statistics row.
STAT_COLUMNS: tuple[str, ...] = (
    "segment", "label_value", "voxel_count", "volume_mm3", "volume_ml", "mean", "std", "min", "max", "median",
    *(f"bbox_index_{end}_{a}" for end in ("min", "max") for a in _AXES),
    *(f"bbox_{end}_{a}_mm" for end in ("min", "max") for a in _LPS),
)


def _physical_box(image: sitk.Image, lo: tuple[int, int, int], hi: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    corners = np.array([image.TransformIndexToPhysicalPoint(tuple(int(c) for c in corner))
                        for corner in itertools.product(*zip(lo, hi))])
    return corners.min(axis=0), corners.max(axis=0)


def segment_statistics(image: sitk.Image, labels: sitk.Image, names: Mapping[int, str] | None = None,
                       resample_labels: bool = False, progress: Progress | None = None,
                       cancel: CancelEvent = None) -> list[dict[str, Any]]:
    """Volume, intensity statistics and bounding box of every segment (see the module docstring).

    ``labels`` is put onto ``image``'s grid with :func:`medseg.io.grid.align_labels`: a grid that
    truly differs is a :class:`GeometryError` naming both, unless ``resample_labels`` is true.
    """
    from ..io.grid import align_labels

    if image.GetDimension() != 3 or labels.GetDimension() != 3:
        raise InputError(f"segment statistics need 3D images; got image {image.GetDimension()}D and "
                         f"labels {labels.GetDimension()}D")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"expected a scalar image, got {image.GetNumberOfComponentsPerPixel()} components per voxel")
    report(progress, 0.0, "statistics: aligning labels")
    mask = align_labels(labels, image, resample=resample_labels, what="labels")
    lab = sitk.GetArrayViewFromImage(mask)
    if lab.dtype.kind not in "iub":
        raise InputError(f"the label image has voxel type {mask.GetPixelIDTypeAsString()}; expected integer labels")
    img = sitk.GetArrayViewFromImage(image)
    check_cancel(cancel)

    # The labelled voxels, once: flat indices, labels and intensities.
    flat = np.flatnonzero(lab.reshape(-1))
    values = lab.reshape(-1)[flat]
    intensity = img.reshape(-1)[flat].astype(np.float64)
    report(progress, 0.3, "statistics: sorting labelled voxels")
    check_cancel(cancel)

    # Sort by label, then intensity: each label is one contiguous run, sorted by intensity.
    order = np.lexsort((intensity, values))
    values = values[order]
    intensity = intensity[order]
    flat = flat[order]
    del order
    check_cancel(cancel)
    report(progress, 0.6, "statistics: reducing per segment")

    if values.size:
        starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    else:
        starts = np.zeros(0, dtype=np.int64)
    counts = np.diff(np.r_[starts, values.size])
    seg_values = values[starts].astype(np.int64)
    sums = np.add.reduceat(intensity, starts) if starts.size else np.zeros(0)
    means = sums / np.maximum(counts, 1)
    deviations = intensity - np.repeat(means, counts)
    stds = np.sqrt(np.add.reduceat(deviations * deviations, starts) / np.maximum(counts, 1)) if starts.size else np.zeros(0)
    del deviations
    mins = intensity[starts] if starts.size else np.zeros(0)
    maxs = intensity[starts + counts - 1] if starts.size else np.zeros(0)
    lower = starts + (counts - 1) // 2
    upper = starts + counts // 2
    medians = (intensity[lower] + intensity[upper]) / 2.0 if starts.size else np.zeros(0)

    # Bounding boxes from the voxels' (z, y, x) indices, reduced over the same runs.
    zyx = np.unravel_index(flat, lab.shape)
    box_min = [np.minimum.reduceat(a, starts) if starts.size else a[:0] for a in zyx]
    box_max = [np.maximum.reduceat(a, starts) if starts.size else a[:0] for a in zyx]
    check_cancel(cancel)

    voxel_mm3 = float(np.prod(image.GetSpacing()))
    rows: dict[int, dict[str, Any]] = {}
    for n, value in enumerate(seg_values.tolist()):
        lo = (int(box_min[2][n]), int(box_min[1][n]), int(box_min[0][n]))    # (x, y, z)
        hi = (int(box_max[2][n]), int(box_max[1][n]), int(box_max[0][n]))
        pmin, pmax = _physical_box(image, lo, hi)
        count = int(counts[n])
        row: dict[str, Any] = {
            "segment": segment_name(value, names),
            "label_value": int(value),
            "voxel_count": count,
            "volume_mm3": count * voxel_mm3,
            "volume_ml": count * voxel_mm3 / 1000.0,
            "mean": float(means[n]),
            "std": float(stds[n]),
            "min": float(mins[n]),
            "max": float(maxs[n]),
            "median": float(medians[n]),
        }
        for end, box in (("min", lo), ("max", hi)):
            for axis, idx in zip(_AXES, box):
                row[f"bbox_index_{end}_{axis}"] = idx
        for end, point in (("min", pmin), ("max", pmax)):
            for axis, coord in zip(_LPS, point):
                row[f"bbox_{end}_{axis}_mm"] = float(coord)
        rows[int(value)] = row

    for value in (names or {}):
        value = int(value)
        if value != 0 and value not in rows:
            empty = {column: None for column in STAT_COLUMNS}
            empty.update(segment=segment_name(value, names), label_value=value, voxel_count=0,
                         volume_mm3=0.0, volume_ml=0.0)
            rows[value] = empty
    report(progress, 1.0, "statistics: done")
    return [rows[v] for v in sorted(rows)]
