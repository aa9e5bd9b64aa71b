"""The pipeline's steps on images: each takes SimpleITK images in and gives a result dataclass out.

``step(image, meta, ..., progress=None, cancel=None) -> Result``. The steps check their input
(CT in HU where they need it), run the stage's algorithm on one LPS array and put every output
back on the input's grid. :mod:`.files` wraps each in load -> step -> write for the command line;
``mrml.logic`` calls them directly on the scene's volumes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import ParameterError
from ..io import input_files, load
from ..progress import CancelEvent, Progress, report, sub_progress


@dataclass
class Converted:
    """The result of :func:`convert`: the HU (or modality-LUT) image and its metadata."""

    image: sitk.Image
    meta: dict
    inputs: list[Path] = field(default_factory=list)


def convert(path: str | os.PathLike, series: str | None = None, progress: Progress | None = None,
            cancel: CancelEvent = None, resample: bool = True, rescale_slope: float | None = None,
            rescale_intercept: float | None = None, skip_damaged: bool = False) -> Converted:
    """Step 1: read DICOM (or a volume file) into an image in HU with LPS geometry (see :func:`io.load`).

    ``resample`` puts tilted or unevenly spaced stacks onto a regular grid (the default); False
    keeps the slices as they are and warns. ``rescale_slope``/``rescale_intercept`` replace the
    stored values' rescale; without them CT values that cannot be HU (air stored at 0) are
    corrected by -1024 with a warning, and ``meta["hu_check"]`` says what the histogram showed.
    ``skip_damaged`` leaves damaged slices out and interpolates over them (``meta["damaged"]``
    says which) instead of refusing the series.
    """
    image, meta = load(path, series=series, progress=progress, cancel=cancel, resample=resample,
                       rescale_slope=rescale_slope, rescale_intercept=rescale_intercept, skip_damaged=skip_damaged)
    return Converted(image, meta, input_files(path, meta))


def remove_outside(image: sitk.Image, keep: np.ndarray) -> sitk.Image:
    """``image`` with every voxel outside ``keep`` (a (z, y, x) mask on its grid) set to AIR_HU."""
    from ..labels import AIR_HU

    hu = sitk.GetArrayViewFromImage(image)
    out = sitk.GetImageFromArray(np.where(keep, hu, np.asarray(AIR_HU, dtype=hu.dtype)))
    out.CopyInformation(image)
    return out


# --- clean: table/couch/headrest removal and the body mask --------------------------------------------


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
    """Remove the table, couch and headrest, and find the body (see :mod:`medseg.autolabel.table.body`).

    ``image`` is a CT volume in HU (any orientation; the work is done in LPS and mapped back).
    ``meta`` is :func:`io.load`'s metadata: non-CT input (``meta["is_hu"]`` False, or values with
    no air near -1000 HU when unknown) raises :class:`NotCTError` unless ``force``.
    """
    from ..autolabel.checks import require_ct
    from ..autolabel.table.body import body_and_objects
    from ..preprocess import lps_array

    require_ct(image, meta, force)
    hu, spacing, back = lps_array(image)
    found = body_and_objects(hu, spacing, progress=progress, cancel=cancel)
    body = back(found.body)
    report(progress, 1.0, "cleaned")
    return CleanResult(remove_outside(image, sitk.GetArrayViewFromImage(body) != 0), body, back(found.objects),
                       found.stats)


# --- lungs: the anatomical lung mask and the tumour search region -------------------------------------


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


def lungs(image: sitk.Image, meta: dict | None = None, split: bool = False, roi: bool = False,
          force: bool = False, body: sitk.Image | None = None, progress: Progress | None = None,
          cancel: CancelEvent = None) -> LungsResult:
    """Lung mask of a CT in HU (see :mod:`medseg.autolabel.lungs.mask`); ``roi`` adds the search region.

    ``body`` is an optional body mask image on the same grid (e.g. :func:`clean`'s); without it
    the lung step makes its own quick one. Non-CT input raises :class:`NotCTError` unless ``force``.
    """
    from ..autolabel.checks import require_ct
    from ..autolabel.lungs.mask import segment_lungs
    from ..autolabel.lungs.search_region import search_region
    from ..preprocess import lps_array

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


# --- autolabel: the DESIGN label table ----------------------------------------------------------------


@dataclass
class AutoLabelResult:
    """The result of :func:`autolabel`: the exclusive label map (DESIGN table) on the input's grid.

    ``labels``: uint8 (body 1, table-headrest 2, lung-right 3, lung-left 4, airway 5, bone 6);
    ``segments``: the :class:`~medseg.labels.Label` table, for names and colours; ``stats``:
    what each part found.
    """

    labels: sitk.Image
    segments: tuple
    stats: dict = field(default_factory=dict)

    def cleaned(self, image: sitk.Image) -> sitk.Image:
        """``image`` (the HU volume labelled) with the table-headrest and the outside air set to AIR_HU:
        what :func:`clean` gives, from these labels, without finding the body again."""
        from ..labels import TABLE_HEADREST

        lab = sitk.GetArrayViewFromImage(self.labels)
        return remove_outside(image, (lab != 0) & (lab != TABLE_HEADREST.value))


def autolabel(image: sitk.Image, meta: dict | None = None, force: bool = False, progress: Progress | None = None,
              cancel: CancelEvent = None) -> AutoLabelResult:
    """Body and table-headrest (as :func:`clean` finds them), lungs and airway, bone, merged by the label precedence.

    Everything runs on one LPS array of ``image``; only the final label map goes back to its grid.
    """
    from ..autolabel.table.body import body_and_objects
    from ..autolabel.bone import bone_mask
    from ..autolabel.checks import require_ct
    from ..autolabel.lungs.mask import segment_lungs
    from ..labels import AUTO_LABELS, compose
    from ..preprocess import lps_array

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




# --- grow: seed segments grown into a full label map (semi-automatic) ---------------------------------


@dataclass
class GrowResult:
    """The result of :func:`grow`: ``labels`` on the input's grid with the seeds' values (0 where
    nothing grew), ``segments`` (the seeds' names through :func:`medseg.labels.label_table`) and
    ``stats`` (region, voxels per value, seconds)."""

    labels: sitk.Image
    segments: list
    stats: dict = field(default_factory=dict)


def grow(image: sitk.Image, seeds: sitk.Image, names=None, hu_range: tuple[float, float] | None = None,
         smooth: str = "median", kernel_mm: float = 3.0, locality: float = 0.0, whole_image: bool = False,
         engine=None, progress: Progress | None = None, cancel: CancelEvent = None) -> GrowResult:
    """Grow from seeds (see :mod:`medseg.autolabel.grow`) on ``image`` (HU, or any intensities).

    ``seeds``: a label image on ``image``'s grid (two or more values); ``names``: its ``{value: name}``
    (or :class:`~medseg.labels.Label` s). ``hu_range``: (lo, hi) the editable intensity range.
    ``smooth``: ``median`` (closing, then a median), ``closing`` or ``none``; ``kernel_mm``: their box.
    ``locality``: Slicer's seed locality. ``engine``: the grow-cut (default ITK's fast grow-cut).
    """
    from ..autolabel.grow import grow_from_seeds
    from ..io.grid import align_labels
    from ..labels import label_table

    seeds = align_labels(seeds, image, what="seeds")  # same voxels in another axis order are fine
    seed_array = sitk.GetArrayFromImage(seeds)
    if seed_array.dtype.kind not in "ui":
        raise ParameterError("seeds must be an integer label image")
    grown = grow_from_seeds(sitk.GetArrayViewFromImage(image), seed_array, image.GetSpacing()[::-1],
                            hu_range=hu_range, smooth=smooth, kernel_mm=kernel_mm, locality=locality,
                            whole_image=whole_image, engine=engine, progress=progress, cancel=cancel)
    labels = sitk.GetImageFromArray(grown.labels)
    labels.CopyInformation(image)
    return GrowResult(labels, label_table(sorted(grown.stats["voxels"]), names), grown.stats)


# --- predict: a U-Net model's labels ---------------------------------------------------------------


def predict(image: sitk.Image, model, meta: dict | None = None, device: str = "auto",
            progress: Progress | None = None, cancel: CancelEvent = None, **options):
    """A U-Net model's labels on ``image`` (HU, any orientation): :func:`medseg.unet.predict.predict`.

    ``model``: a model folder or a shipped model's name (:func:`medseg.unet.card.installed_models`).
    Returns its :class:`~medseg.unet.predict.Prediction` (labels on the input's grid, the card, and
    the warnings of inputs outside the model's trained range). Needs torch, imported here.
    A card with ``preprocessing.roi`` = ``"lungs"`` (the lung-tumour model) segments only inside the
    tumour search region, which is made here with :func:`lungs` (``roi=True``) unless ``roi`` is given;
    a card with ``postprocess.min_lung_fraction`` gets the same step's lung mask unless ``lungs`` is given.
    """
    from ..unet.card import read_card
    from ..unet.predict import predict as unet_predict

    card = model[1] if isinstance(model, tuple) else read_card(model)
    wanted = (card.get("preprocessing") or {}).get("roi")
    if wanted and wanted != "lungs":
        raise ParameterError(f"model '{card.get('name')}' asks for an input region {wanted!r} this version "
                             "cannot make (only 'lungs')")
    need_roi = bool(wanted) and options.get("roi") is None
    need_lungs = bool((card.get("postprocess") or {}).get("min_lung_fraction")) and options.get("lungs") is None
    if need_roi or need_lungs:
        found = lungs(image, meta, roi=need_roi, progress=sub_progress(progress, 0.0, 0.4), cancel=cancel)
        if need_roi:
            options["roi"] = found.roi
        if need_lungs:
            options["lungs"] = found.labels
        progress = sub_progress(progress, 0.4, 1.0)
    return unet_predict(image, model, meta, device=device, progress=progress, cancel=cancel, **options)
