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

No loop over labels touches the whole volume. For integer intensities (CT in HU) one pass over
the volume, in slabs, counts a histogram per label (``bincount`` of label x intensity); count,
mean, standard deviation, extremes and the exact median all follow from the histograms, exactly.
Float intensities are gathered once, grouped by label with one stable sort of the labels, and
each label's run is reduced on its own (``np.partition`` for the median). Bounding boxes come
from one ``scipy.ndimage.find_objects`` pass.
"""

from __future__ import annotations

import itertools
from typing import Any, Mapping

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

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


#: Most histogram bins (labels x intensity range) the integer path may use; beyond it, the sort path.
_MAX_BINS = 1 << 24
#: Voxels per slab of the histogram pass: bounds the temporary key array (int64, 8 bytes a voxel).
_SLAB_VOXELS = 1 << 22


def _histogram_fits(lab: np.ndarray, img: np.ndarray) -> bool:
    if img.dtype.kind not in "iub" or lab.size == 0 or lab.dtype.kind == "b":
        return False
    if int(lab.min()) < 0 or int(lab.max()) >= 1 << 16:
        return False
    span = int(img.max()) - int(img.min()) + 1
    return (int(lab.max()) + 1) * span <= _MAX_BINS


def _by_histogram(lab: np.ndarray, img: np.ndarray, cancel) -> tuple:
    """Per-label (values, counts, means, stds, mins, maxs, medians) from exact integer histograms."""
    lo = int(img.min())
    span = int(img.max()) - lo + 1
    n_labels = int(lab.max()) + 1
    hist = np.zeros(n_labels * span, dtype=np.int64)
    rows_per_slab = max(1, _SLAB_VOXELS // max(1, lab[0].size))
    for z in range(0, lab.shape[0], rows_per_slab):
        check_cancel(cancel)
        key = lab[z:z + rows_per_slab].astype(np.int64)
        key *= span
        key += img[z:z + rows_per_slab]
        key -= lo
        hist += np.bincount(key.ravel(), minlength=hist.size)
    hist = hist.reshape(n_labels, span)[1:]  # label 0 is background
    counts_all = hist.sum(axis=1)
    present = np.flatnonzero(counts_all)
    hist, counts = hist[present], counts_all[present]
    levels = np.arange(lo, lo + span, dtype=np.float64)
    means = (hist @ levels) / counts
    stds = np.sqrt(np.einsum("ij,ij->i", hist, (levels[None, :] - means[:, None]) ** 2) / counts)
    cum = np.cumsum(hist, axis=1)
    first = np.argmax(hist > 0, axis=1)
    last = span - 1 - np.argmax(hist[:, ::-1] > 0, axis=1)
    # int dtype given: with no labelled voxel the lists are empty and would index as float
    rank_lo = np.array([np.searchsorted(c, (n - 1) // 2, side="right") for c, n in zip(cum, counts)], dtype=np.int64)
    rank_hi = np.array([np.searchsorted(c, n // 2, side="right") for c, n in zip(cum, counts)], dtype=np.int64)
    medians = (levels[rank_lo] + levels[rank_hi]) / 2.0
    return (present + 1, counts, means, stds, levels[first], levels[last], medians)


def _by_sorting(lab: np.ndarray, img: np.ndarray, cancel) -> tuple:
    """The same tuple for float intensities: labelled voxels grouped by one stable sort of labels."""
    flat = np.flatnonzero(lab.reshape(-1))
    values = lab.reshape(-1)[flat]
    order = np.argsort(values, kind="stable")
    values = values[order]
    intensity = img.reshape(-1)[flat[order]].astype(np.float64)
    del flat, order
    check_cancel(cancel)
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]]) if values.size else np.zeros(0, np.int64)
    counts = np.diff(np.r_[starts, values.size])
    stats = []
    for start, count in zip(starts.tolist(), counts.tolist()):
        run = intensity[start:start + count]
        mean = run.mean()
        half = np.partition(run, [(count - 1) // 2, count // 2])
        stats.append((mean, np.sqrt(np.mean((run - mean) ** 2)), run.min(), run.max(),
                      (half[(count - 1) // 2] + half[count // 2]) / 2.0))
    cols = np.array(stats, dtype=np.float64).reshape(-1, 5).T
    return (values[starts].astype(np.int64), counts, *cols)


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

    reduced = _by_histogram(lab, img, cancel) if _histogram_fits(lab, img) else _by_sorting(lab, img, cancel)
    report(progress, 0.6, "statistics: bounding boxes")
    seg_values, counts, means, stds, mins, maxs, medians = reduced
    boxes = ndimage.find_objects(np.asarray(lab), max_label=int(seg_values.max(initial=0)))
    check_cancel(cancel)

    voxel_mm3 = float(np.prod(image.GetSpacing()))
    rows: dict[int, dict[str, Any]] = {}
    for n, value in enumerate(seg_values.tolist()):
        box = boxes[value - 1]
        lo = (box[2].start, box[1].start, box[0].start)    # (x, y, z)
        hi = (box[2].stop - 1, box[1].stop - 1, box[0].stop - 1)
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
