"""Seeded, deterministic phantoms with exact ground truth, written as real DICOM series.

Kinds (:data:`PHANTOMS`): ``chest`` (:func:`make_chest`), ``head`` (:func:`make_head`, headrest
variants), ``abdomen`` (:func:`make_abdomen`, arms beside the body) and ``cardiac-mr``
(:func:`make_cardiac_mr`, short-axis MR with contours). Each builds a :class:`Phantom` (values +
labels on one LPS grid). ``write_ct_series`` / ``write_mr_series`` write a volume as a DICOM
series; ``write_phantom_study`` writes a phantom's series, its ground-truth labels and, for the
cardiac MR, its contours as point-list files and an RT Structure Set; its test options
(:data:`OPTION_NAMES`: tilt, missing slices, uneven spacing, multi-frame, a localizer, a second
series, a DICOMDIR) are in :mod:`.study_options`.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np
import pydicom

from ..io.atomic import atomic_output
from ..io.volumes import write_volume
from .abdomen import make_abdomen
from .base import Phantom
from .cardiac import CARDIAC_LABELS, CONTOUR_ROIS, make_cardiac_mr, write_mr_series
from .chest import make_chest
from .contours import POINT_LIST_PATTERN, write_point_lists, write_rtstruct
from .dicom_writer import write_ct_series
from .head import HEADREST_VARIANTS, make_head
from .study_options import OPTION_NAMES, describe, pop_study_options, write_study_series

__all__ = ["CARDIAC_LABELS", "HEADREST_VARIANTS", "OPTION_NAMES", "PHANTOMS", "Phantom", "make_abdomen",
           "make_cardiac_mr", "make_chest", "make_head", "make_phantom", "write_ct_series", "write_mr_series",
           "write_phantom_study"]

#: Phantom makers by kind; each is ``maker(shape=..., spacing=..., seed=..., noise_hu=..., ...) -> Phantom``.
PHANTOMS: dict[str, Callable[..., Phantom]] = {
    "chest": make_chest, "head": make_head, "abdomen": make_abdomen, "cardiac-mr": make_cardiac_mr,
}


def _maker(kind: str) -> Callable[..., Phantom]:
    try:
        return PHANTOMS[kind]
    except KeyError:
        raise ValueError(f"unknown phantom kind {kind!r}; known: {sorted(PHANTOMS)}") from None


def make_phantom(kind: str = "chest", **kw) -> Phantom:
    """Build a phantom of ``kind`` (a key of :data:`PHANTOMS`) with the maker's keyword arguments."""
    return _maker(kind)(**kw)


def write_phantom_study(out_dir: str | os.PathLike, seed: int = 0, *, kind: str = "chest",
                        phantom: Phantom | None = None, **kw) -> dict:
    """Write ``<out>/dicom/`` (the series), ``<out>/labels.nrrd`` and ``<out>/labels.json``.

    Keyword arguments the phantom maker accepts (shape, spacing, noise_hu, headrest, ...) build the
    phantom; the test options (:mod:`.study_options`: ``tilt_deg``, ``missing_slices``,
    ``uneven``, ``multiframe``, ``localizer``, ``second_series``, ``dicomdir``) shape the
    acquisition and the folder; the rest go to the series writer (shuffle_names, instance_numbers,
    transfer_syntax, rescale_slope/intercept, ...). A ``transfer_syntax`` this environment cannot
    encode raises :class:`~medseg.errors.DependencyError` before anything is written. CT
    phantoms are written by :func:`write_ct_series` (or, with ``multiframe``, one Enhanced CT file),
    MR ones by :func:`write_mr_series`. A phantom with out-of-field voxels gets them written as
    stored -2000 (PixelPaddingValue) unless ``pixel_padding_value`` says otherwise. A phantom with
    contours (cardiac MR) also gets ``<out>/contours/`` (point lists,
    ``IM-0001-{InstanceNumber:04d}-{i,o}contour-manual.txt``) and ``<out>/rtstruct.dcm``.

    ``labels.nrrd`` is always the phantom's regular grid. A tilted or unevenly spaced series is
    resampled by the loader onto a regular grid in world coordinates (not necessarily this one):
    compare after resampling the labels onto the loaded image (nearest neighbour).

    Returns a dict of paths: ``dicom`` (folder), ``files`` (the main series' files in position
    order; one file with ``multiframe``), ``labels``, ``labels_json``, ``phantom``; with moved
    slices ``positions`` ((n, 3) ImagePositionPatient, LPS mm); where asked ``localizer``,
    ``second_series_files`` and ``dicomdir`` (the DICOMDIR file; all paths then point into the
    File-set); for contours ``contours`` (folder), ``contour_files`` and ``rtstruct``.
    """
    out = Path(out_dir)
    options = pop_study_options(kw)
    if phantom is None:
        maker = _maker(kind)
        names = set(inspect.signature(maker).parameters)
        phantom = maker(seed=seed, **{k: v for k, v in kw.items() if k in names})
        kw = {k: v for k, v in kw.items() if k not in names}
    writer_kw = dict(seed=seed, body_part=phantom.body_part,
                     series_description=f"MedSeg {phantom.name} phantom (seed {seed})")
    if phantom.padding_mask is not None and phantom.padding_mask.any():
        writer_kw.update(pixel_padding_value=kw.pop("pixel_padding_value", -2000), padding_mask=phantom.padding_mask)
    writer_kw.update(kw)
    series = write_study_series(phantom, out / "dicom", options, writer_kw, seed=seed)
    files = series["files"]
    labels_path = write_volume(phantom.labels_image(), out / "labels.nrrd")
    present = {int(v) for v in np.unique(phantom.labels)}
    info = {
        "phantom": phantom.name,
        "modality": phantom.modality,
        "seed": seed,
        "shape_zyx": list(phantom.hu.shape),
        "spacing_zyx_mm": list(phantom.spacing),
        "origin_xyz_lps_mm": list(phantom.origin),
        "labels": [{"value": lab.value, "name": lab.name, "color": list(lab.color),
                    "present": lab.value in present} for lab in phantom.label_table],
    }
    acquisition = describe(options, series, writer_kw)
    if acquisition:
        info["acquisition"] = acquisition
    result = {"dicom": out / "dicom", **series, "labels": labels_path, "phantom": phantom}
    if phantom.contours:
        numbers = [int(pydicom.dcmread(f, stop_before_pixels=True).InstanceNumber) for f in files]
        result["contours"] = out / "contours"
        result["contour_files"] = write_point_lists(out / "contours", phantom.contours, numbers)
        rois = [(*CONTOUR_ROIS.get(name, (name, (255, 255, 0))), per_slice)
                for name, per_slice in phantom.contours.items()]
        result["rtstruct"] = write_rtstruct(out / "rtstruct.dcm", files, rois, seed=seed,
                                            label=f"MedSeg {phantom.name}")
        info["contours"] = {"pattern": POINT_LIST_PATTERN, "coordinates": "x = column, y = row (pixel centres)",
                            "rtstruct": "rtstruct.dcm",
                            "rois": {name: CONTOUR_ROIS.get(name, (name,))[0] for name in phantom.contours}}
    json_path = out / "labels.json"
    with atomic_output(json_path) as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n")
    result["labels_json"] = json_path
    return result
