"""Steps composed into whole jobs, shared by the CLI and by Slicer's logic.

Each step is a plain function ``step(..., progress=None, cancel=None)``. Later issues add their
steps here (clean, autolabel, unet, radiomics, mesh); the CLI and ``mrml.logic`` call only these.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .io import input_files, load, write_volume
from .steps import CancelEvent, Progress, report, sub_progress


@dataclass
class Converted:
    """The result of :func:`convert`: the HU (or modality-LUT) image and its metadata."""

    image: sitk.Image
    meta: dict
    inputs: list[Path] = field(default_factory=list)


def convert(path: str | os.PathLike, series: str | None = None, progress: Progress | None = None,
            cancel: CancelEvent = None, resample: bool = True) -> Converted:
    """Step 1: read DICOM (or a volume file) into an image in HU with LPS geometry (see :func:`io.load`).

    ``resample`` puts tilted or unevenly spaced stacks onto a regular grid (the default); False
    keeps the slices as they are and warns.
    """
    image, meta = load(path, series=series, progress=progress, cancel=cancel, resample=resample)
    return Converted(image, meta, input_files(path, meta))


def convert_to_file(path: str | os.PathLike, out: str | os.PathLike, series: str | None = None,
                    progress: Progress | None = None, cancel: CancelEvent = None, resample: bool = True) -> Converted:
    """:func:`convert`, then write the image to ``out`` atomically (never over an input file)."""
    result = convert(path, series=series, progress=progress, cancel=cancel, resample=resample)
    write_volume(result.image, out, inputs=result.inputs)
    report(progress, 1.0, "written")
    return result


# --- clean: table/couch/headrest removal and the body mask (issue #4, section 1) ---------------


@dataclass
class CleanResult:
    """The result of :func:`clean`, all on the input's grid.

    ``cleaned``: the HU volume with objects and outside air set to ``AIR_HU``; ``body_mask`` and
    ``object_mask``: uint8 0/1 images (body holes filled per slice; removed table, couch,
    headrest, mask shell); ``stats``: what the method found (K-means centres, threshold HU,
    components and why each was kept or removed, seconds).
    """

    cleaned: sitk.Image
    body_mask: sitk.Image
    object_mask: sitk.Image
    stats: dict = field(default_factory=dict)


def clean(image: sitk.Image, meta: dict | None = None, force: bool = False, progress: Progress | None = None,
          cancel: CancelEvent = None) -> CleanResult:
    """Remove the table, couch and headrest, and find the body (see :mod:`MedSegLib.autolabel.body`).

    ``image`` is a CT volume in HU (any orientation; the work is done in LPS and mapped back).
    ``meta`` is :func:`io.load`'s metadata: non-CT input (``meta["is_hu"]`` False, or values with
    no air near -1000 HU when unknown) raises :class:`NotCTError` unless ``force``.
    """
    from .autolabel.body import body_and_objects
    from .autolabel.checks import require_ct
    from .labels import AIR_HU
    from .preprocess import lps_array

    require_ct(image, meta, force)
    hu, spacing, back = lps_array(image)
    found = body_and_objects(hu, spacing, progress=progress, cancel=cancel)
    cleaned = np.where(found.body, hu, np.asarray(AIR_HU, dtype=hu.dtype))
    report(progress, 1.0, "cleaned")
    return CleanResult(back(cleaned), back(found.body), back(found.objects), found.stats)


def clean_to_files(path: str | os.PathLike, out: str | os.PathLike, body_mask: str | os.PathLike | None = None,
                   object_mask: str | os.PathLike | None = None, series: str | None = None, force: bool = False,
                   progress: Progress | None = None, cancel: CancelEvent = None, resample: bool = True) -> CleanResult:
    """``medseg clean``: load, :func:`clean`, write the cleaned volume and the optional masks atomically.

    Masks are 0/1; a ``.seg.nrrd`` mask gets a named, coloured segment (body / table-headrest).
    """
    from .io import write_label_image
    from .labels import BODY, TABLE_HEADREST, Label

    loaded = convert(path, series=series, progress=sub_progress(progress, 0.0, 0.3), cancel=cancel, resample=resample)
    result = clean(loaded.image, loaded.meta, force=force, progress=sub_progress(progress, 0.3, 0.9), cancel=cancel)
    write_volume(result.cleaned, out, inputs=loaded.inputs)
    for mask, dest, label in ((result.body_mask, body_mask, BODY), (result.object_mask, object_mask, TABLE_HEADREST)):
        if dest is not None:
            write_label_image(mask, dest, segments=[Label(1, label.name, label.color)], inputs=loaded.inputs)
    report(progress, 1.0, "written")
    return result


# --- lungs: the anatomical lung mask and the tumour search region (issue #4, section 2) -------


@dataclass
class LungsResult:
    """The result of :func:`lungs`, on the input's grid.

    ``labels``: uint8, 1 = lung, or with ``split`` 1 = right, 2 = left (trachea and main bronchi
    excluded); ``roi``: uint8 0/1 tumour search region, or None unless asked; ``stats``: what
    the method found (pieces and their gas fractions, airway, how the sides were split, mL, s).
    """

    labels: sitk.Image
    roi: sitk.Image | None = None
    stats: dict = field(default_factory=dict)


#: The tumour search region's segment (written by ``medseg lungs --roi``).
ROI_SEGMENT_NAME, ROI_SEGMENT_COLOR = "tumour-search-region", (230, 220, 70)


def lungs(image: sitk.Image, meta: dict | None = None, split: bool = False, roi: bool = False,
          force: bool = False, body: sitk.Image | None = None, progress: Progress | None = None,
          cancel: CancelEvent = None) -> LungsResult:
    """Lung mask of a CT in HU (see :mod:`MedSegLib.autolabel.lungs`); ``roi`` adds the search region.

    ``body`` is an optional body mask image on the same grid (e.g. :func:`clean`'s); without it
    the lung step makes its own quick one. Non-CT input raises :class:`NotCTError` unless ``force``.
    """
    from .autolabel.checks import require_ct
    from .autolabel.lungs import segment_lungs
    from .autolabel.spine_roi import search_region
    from .preprocess import lps_array

    require_ct(image, meta, force, step="lungs")
    hu, spacing, back = lps_array(image)
    body_arr = lps_array(body)[0].astype(bool) if body is not None else None
    seg = segment_lungs(hu, spacing, body=body_arr, progress=sub_progress(progress, 0.0, 0.85 if roi else 1.0),
                        cancel=cancel)
    result = LungsResult(back(seg.labels(split)), None, dict(seg.stats))
    if roi:
        report(progress, 0.9, "tumour search region")
        region, axis = search_region(hu, seg.body, seg.lungs, spacing, cancel=cancel)
        result.roi = back(region)
        result.stats["roi_ml"] = round(float(region.sum() * np.prod(spacing)) / 1000.0, 2)
        result.stats["roi_spine_axis_column_lps"] = [round(float(axis.min()), 1), round(float(axis.max()), 1)]
    report(progress, 1.0, "lungs found")
    return result


def lungs_to_file(path: str | os.PathLike, out: str | os.PathLike, split: bool = False,
                  roi: str | os.PathLike | None = None, series: str | None = None, force: bool = False,
                  progress: Progress | None = None, cancel: CancelEvent = None, resample: bool = True) -> LungsResult:
    """``medseg lungs``: load, :func:`lungs`, write the labels (and the ROI) atomically.

    A ``.seg.nrrd`` output gets named, coloured segments (lung, or lung-right / lung-left).
    """
    from .io import write_label_image
    from .labels import LUNG, SPLIT_LUNG_LEFT, SPLIT_LUNG_RIGHT, Label

    loaded = convert(path, series=series, progress=sub_progress(progress, 0.0, 0.3), cancel=cancel,
                     resample=resample)
    result = lungs(loaded.image, loaded.meta, split=split, roi=roi is not None, force=force,
                   progress=sub_progress(progress, 0.3, 0.95), cancel=cancel)
    segments = [SPLIT_LUNG_RIGHT, SPLIT_LUNG_LEFT] if split else [LUNG]
    write_label_image(result.labels, out, segments=segments, inputs=loaded.inputs)
    if roi is not None:
        write_label_image(result.roi, roi, segments=[Label(1, ROI_SEGMENT_NAME, ROI_SEGMENT_COLOR)],
                          inputs=loaded.inputs)
    report(progress, 1.0, "written")
    return result


# --- autolabel: the DESIGN label table (issue #4, section 5) ----------------------------------


@dataclass
class AutoLabelResult:
    """The result of :func:`autolabel`: the exclusive label map (DESIGN table) on the input's grid.

    ``labels``: uint8 (body 1, table-headrest 2, lung-right 3, lung-left 4, airway 5, bone 6);
    ``segments``: the :class:`~MedSegLib.labels.Label` table, for names and colours; ``stats``:
    what each part found.
    """

    labels: sitk.Image
    segments: tuple
    stats: dict = field(default_factory=dict)


def autolabel(image: sitk.Image, meta: dict | None = None, force: bool = False, progress: Progress | None = None,
              cancel: CancelEvent = None) -> AutoLabelResult:
    """Body and table-headrest (as :func:`clean` finds them), lungs and airway, bone, merged by the label precedence.

    Everything runs on one LPS array of ``image``; only the final label map goes back to its grid.
    """
    from .autolabel.body import body_and_objects
    from .autolabel.bone import bone_mask
    from .autolabel.checks import require_ct
    from .autolabel.lungs import segment_lungs
    from .labels import AUTO_LABELS, compose
    from .preprocess import lps_array

    require_ct(image, meta, force, step="autolabel")
    hu, spacing, back = lps_array(image)
    found = body_and_objects(hu, spacing, progress=sub_progress(progress, 0.0, 0.4), cancel=cancel)
    body, objects = found.body, found.objects
    seg = segment_lungs(hu, spacing, body=body, progress=sub_progress(progress, 0.4, 0.8), cancel=cancel)
    report(progress, 0.85, "bone")
    bone, bone_stats = bone_mask(hu, body, spacing, cancel=cancel)
    masks = {"body": body, "table-headrest": objects & ~body, "lung-right": seg.right, "lung-left": seg.left,
             "airway": seg.airway, "bone": bone}
    labels = compose(masks)
    stats = {"clean": found.stats, "lungs": seg.stats, "bone": bone_stats,
             "voxels": {lab.name: int(np.count_nonzero(labels == lab.value)) for lab in AUTO_LABELS}}
    report(progress, 1.0, "labelled")
    return AutoLabelResult(back(labels), AUTO_LABELS, stats)


def autolabel_to_file(path: str | os.PathLike, out: str | os.PathLike, series: str | None = None,
                      force: bool = False, progress: Progress | None = None,
                      cancel: CancelEvent = None, resample: bool = True) -> AutoLabelResult:
    """``medseg autolabel``: load, :func:`autolabel`, write ``LABELS.seg.nrrd`` (named, coloured) or a plain map."""
    from .io import write_label_image

    loaded = convert(path, series=series, progress=sub_progress(progress, 0.0, 0.2), cancel=cancel,
                     resample=resample)
    result = autolabel(loaded.image, loaded.meta, force=force, progress=sub_progress(progress, 0.2, 0.95),
                       cancel=cancel)
    write_label_image(result.labels, out, segments=list(result.segments), inputs=loaded.inputs)
    report(progress, 1.0, "written")
    return result
