"""Contour writers for phantom studies: point-list files and a DICOM RT Structure Set.

Point lists follow the left-ventricle seed (Sunnybrook-style) i-contour / o-contour files: one
text file per slice per contour, one ``x y`` pair per line, in pixel coordinates of that slice
(x = column index, y = row index, the centre of pixel (0, 0) at 0 0), named
``IM-0001-{number:04d}-{name}-manual.txt`` where ``number`` is the slice's InstanceNumber (and the
number in its DICOM file name, ``IM-0001-{number:04d}.dcm``).

The RT Structure Set holds the same polygons as CLOSED_PLANAR contours in patient LPS mm, each
referencing its slice's SOPInstanceUID, with the frame of reference and series of the images.

The readers (point lists and RT Structure Sets to masks on an image grid) are the toolkit's:
:mod:`medseg.io.contours` (``read_point_list``, ``polygon_mask``, ``run_contours``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, RTStructureSetStorage

from ..io.atomic import atomic_output
from ..io.dicom.compat import save_as
from .dicom_writer import _uid, new_dataset

POINT_LIST_PATTERN = "IM-0001-{number:04d}-{name}-manual.txt"

#: The Study Component Management SOP class an RTReferencedStudySequence item names.
_STUDY_COMPONENT = UID("1.2.840.10008.3.1.2.3.1")


def write_point_lists(out_dir: str | os.PathLike, contours: Mapping[str, Mapping[int, np.ndarray]],
                      numbers: Mapping[int, int] | Sequence[int] | None = None,
                      pattern: str = POINT_LIST_PATTERN) -> list[Path]:
    """Write ``contours[name][slice_index] = (N, 2) x, y pixel points`` as point-list files.

    ``numbers`` maps a slice index to the number in the file name (its InstanceNumber); the
    default is ``index + 1``. Returns the paths written, sorted.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, per_slice in contours.items():
        for k, pts in sorted(per_slice.items()):
            pts = np.asarray(pts, dtype=float)
            if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
                raise ValueError(f"contour {name!r} slice {k}: need (N >= 3, 2) points, got {pts.shape}")
            number = int(numbers[k]) if numbers is not None else k + 1
            path = out / pattern.format(number=number, name=name, index=k)
            with atomic_output(path) as tmp:
                tmp.write_text("".join(f"{x:.2f} {y:.2f}\n" for x, y in pts))
            paths.append(path)
    return sorted(paths)


def _geometry(ds) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    ipp = np.array([float(v) for v in ds.ImagePositionPatient])
    iop = np.array([float(v) for v in ds.ImageOrientationPatient])
    row_spacing, col_spacing = (float(v) for v in ds.PixelSpacing)
    return ipp, iop[:3], iop[3:], row_spacing, col_spacing


def pixel_to_patient(points_xy: np.ndarray, ds) -> np.ndarray:
    """(N, 2) pixel (x = column, y = row) points of slice ``ds`` -> (N, 3) LPS mm."""
    ipp, row_cos, col_cos, row_spacing, col_spacing = _geometry(ds)
    pts = np.asarray(points_xy, dtype=float)
    return ipp + pts[:, :1] * col_spacing * row_cos + pts[:, 1:2] * row_spacing * col_cos


def write_rtstruct(path: str | os.PathLike, image_files: Sequence[str | os.PathLike],
                   rois: Iterable[tuple[str, tuple[int, int, int], Mapping[int, np.ndarray]]], *,
                   label: str = "MedSeg", seed: int = 0, series_description: str = "MedSeg contours",
                   interpreted_type: str = "ORGAN") -> Path:
    """Write an RT Structure Set of ``rois`` on the image series ``image_files`` (in slice order).

    Each ROI is ``(name, (r, g, b), {slice_index: (N, 2) x, y pixel points})``; slice indices are
    positions in ``image_files``. Contours become CLOSED_PLANAR polygons in LPS mm on their slice's
    plane, each referencing that slice's SOPInstanceUID.
    """
    images = [pydicom.dcmread(f, stop_before_pixels=True) for f in image_files]
    if not images:
        raise ValueError("write_rtstruct needs the image series' files")
    first = images[0]
    rois = list(rois)
    sop_uid = _uid("rtstruct", first.SeriesInstanceUID, seed, *(r[0] for r in rois))
    ds = new_dataset(RTStructureSetStorage, sop_uid)
    for tag in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
                "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName", "StudyDescription"):
        setattr(ds, tag, first.get(tag, ""))
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = _uid("rtstruct-series", sop_uid)
    ds.SeriesNumber = int(first.get("SeriesNumber", 1) or 1) + 100
    ds.SeriesDescription = series_description
    ds.InstanceNumber = 1
    ds.Manufacturer = "MedSeg"
    ds.StructureSetLabel = label[:16]  # SH: at most 16 characters
    ds.StructureSetName = label
    ds.StructureSetDate, ds.StructureSetTime = first.get("StudyDate", ""), first.get("StudyTime", "")
    ds.SeriesDate, ds.SeriesTime = ds.StructureSetDate, ds.StructureSetTime

    def image_ref(img) -> Dataset:
        item = Dataset()
        item.ReferencedSOPClassUID = img.SOPClassUID
        item.ReferencedSOPInstanceUID = img.SOPInstanceUID
        return item

    series = Dataset()
    series.SeriesInstanceUID = first.SeriesInstanceUID
    series.ContourImageSequence = DicomSequence([image_ref(img) for img in images])
    study = Dataset()
    study.ReferencedSOPClassUID = _STUDY_COMPONENT
    study.ReferencedSOPInstanceUID = first.StudyInstanceUID
    study.RTReferencedSeriesSequence = DicomSequence([series])
    frame = Dataset()
    frame.FrameOfReferenceUID = first.FrameOfReferenceUID
    frame.RTReferencedStudySequence = DicomSequence([study])
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([frame])

    structure_set, roi_contours, observations = [], [], []
    for number, (name, colour, per_slice) in enumerate(rois, start=1):
        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = first.FrameOfReferenceUID
        roi.ROIName = name
        roi.ROIGenerationAlgorithm = "MANUAL"
        structure_set.append(roi)
        contour_items = []
        for k, pts in sorted(per_slice.items()):
            xyz = pixel_to_patient(pts, images[k])
            item = Dataset()
            item.ContourImageSequence = DicomSequence([image_ref(images[k])])
            item.ContourGeometricType = "CLOSED_PLANAR"
            item.NumberOfContourPoints = len(xyz)
            item.ContourNumber = len(contour_items) + 1
            item.ContourData = [f"{v:.4f}" for v in xyz.ravel()]
            contour_items.append(item)
        rc = Dataset()
        rc.ROIDisplayColor = [int(c) for c in colour]
        rc.ReferencedROINumber = number
        rc.ContourSequence = DicomSequence(contour_items)
        roi_contours.append(rc)
        obs = Dataset()
        obs.ObservationNumber = number
        obs.ReferencedROINumber = number
        obs.RTROIInterpretedType = interpreted_type
        obs.ROIInterpreter = ""
        observations.append(obs)
    ds.StructureSetROISequence = DicomSequence(structure_set)
    ds.ROIContourSequence = DicomSequence(roi_contours)
    ds.RTROIObservationsSequence = DicomSequence(observations)
    ds.ApprovalStatus = "UNAPPROVED"
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as tmp:
        save_as(ds, tmp)
    return out
