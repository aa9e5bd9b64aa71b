"""Contours to label maps on an image's grid: point-list files and DICOM RT Structure Sets.

**Point lists** (the left-ventricle seed's i-contour / o-contour files): one text file per slice
per contour, one ``x y`` pair per line in pixel coordinates of that slice (x = column, y = row,
the centre of pixel (0, 0) at ``0 0``). A file name carries the slice number and the contour name,
``<prefix>-<number>-<name>[-manual].txt`` such as ``IM-0001-0048-icontour-manual.txt`` (number 48,
name ``icontour``). The slice is found from the number by this rule:

* DICOM image: the number is the slice's **InstanceNumber** (in the seed it is also the number in
  the DICOM file name ``IM-0001-0048.dcm``); the points go through that slice's own geometry
  (ImagePositionPatient, ImageOrientationPatient, PixelSpacing) to LPS mm and then onto the grid.
* Volume file (NRRD, NIfTI, MHA): the number is **1-based**: number N is slice index z = N - 1,
  as InstanceNumbers count a series from 1; x, y are the volume's column and row indices. A
  multi-frame DICOM file (its frames share one InstanceNumber) falls back to this rule too.
* A single file with ``slice_index`` given: that 0-based z index, whatever the name says.

**RT Structure Sets** (pydicom): each ROI of StructureSetROISequence (named by ROIName, coloured by
ROIDisplayColor) with its CLOSED_PLANAR contours in LPS mm. A contour's slice is the one its
ContourImageSequence names (ReferencedSOPInstanceUID) when the image is DICOM and holds that
instance; otherwise the slice whose plane the points lie in (z along the slice normal, within half
a slice). Points become continuous (x, y, z) indices through the image's origin, spacing and
direction.

**Rasterising**: a pixel is inside when its centre lies inside the polygon (``skimage.draw.polygon``).
Several contours of one ROI on one slice combine by XOR (even-odd), so a contour inside another
is a hole and separate contours are separate islands, as the DICOM standard intends.

**Label values**: one value per ROI in file order (RTSTRUCT) or name order (point lists), painted
largest first so a nested ROI stays visible: each voxel gets the smallest ROI containing it.
``ring=True`` takes an inner and an outer contour (i/o-contour, endo-/epicardium) and writes
1 = blood_pool (inside the inner one) and 2 = myocardium (outer minus inner).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.misc import is_dicom

from ..errors import GeometryError, InputError, ParameterError
from ..labels import Label, colour_for
from ..progress import CancelEvent, Progress, check_cancel, report

#: ``<prefix>-<number>-<name>[-manual].txt``: the slice number is the last number before the name.
POINT_LIST_RE = re.compile(r"^(?:.*?[-_ ])?(\d+)[-_ ]([A-Za-z][\w]*?)(?:[-_ ]manual)?\.txt$", re.IGNORECASE)

#: The label table of ``ring=True`` (the cardiac convention of the left-ventricle seed).
RING_LABELS: tuple[Label, Label] = (Label(1, "blood_pool", (216, 80, 80)), Label(2, "myocardium", (230, 200, 120)))

_INNER = re.compile(r"endo|inner|^i[-_ ]?contour", re.IGNORECASE)
_OUTER = re.compile(r"epi|outer|^o[-_ ]?contour", re.IGNORECASE)


@dataclass
class Roi:
    """One structure: ``polygons`` are (N, 3) continuous (x, y, z) indices on the image grid."""

    name: str
    color: tuple[int, int, int] | None = None
    polygons: list[np.ndarray] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass
class _Slice:
    """One image slice from the DICOM headers: its z index (continuous) and its pixel geometry."""

    z: float
    instance_number: int | None
    sop_uid: str
    origin: np.ndarray  # ImagePositionPatient, LPS mm
    row_cos: np.ndarray  # direction of increasing column index
    col_cos: np.ndarray  # direction of increasing row index
    spacing: tuple[float, float]  # (row spacing, column spacing) mm
    frame_of_reference: str


def read_point_list(path: str | os.PathLike) -> np.ndarray:
    """An (N, 2) float array of the ``x y`` lines of a point-list file (x = column, y = row)."""
    try:
        pts = np.loadtxt(path, dtype=float, ndmin=2)
    except ValueError as exc:
        raise InputError(f"{path}: not a point list of 'x y' lines ({exc})") from None
    if pts.shape[1] != 2:
        raise InputError(f"{path}: expected two numbers (x y) per line, got {pts.shape[1]}")
    return pts


def polygon_mask(points_xy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Rasterise a closed polygon of (x = column, y = row) points: the (y, x) pixels whose centres lie inside."""
    from skimage.draw import polygon

    pts = np.asarray(points_xy, dtype=float)
    mask = np.zeros(shape, dtype=bool)
    rr, cc = polygon(pts[:, 1], pts[:, 0], shape=shape)
    mask[rr, cc] = True
    return mask


def physical_to_index(image: sitk.Image, points_lps: np.ndarray) -> np.ndarray:
    """(N, 3) LPS mm points -> (N, 3) continuous (x, y, z) indices of ``image`` (voxel centres at integers)."""
    d = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    m = d * np.asarray(image.GetSpacing(), dtype=float)[None, :]  # columns: one index step, in mm
    rel = np.asarray(points_lps, dtype=float) - np.asarray(image.GetOrigin(), dtype=float)
    return np.linalg.solve(m, rel.T).T


def dicom_slices(image: sitk.Image, files: Sequence[str | os.PathLike]) -> list[_Slice]:
    """The slices of the image's DICOM files, each placed on ``image``'s z axis by its position."""
    from .dicom.headers import read_headers

    out = []
    for f in files:
        for h in read_headers(Path(f)):
            ds = h.dataset
            z = float(physical_to_index(image, h.position[None])[0, 2])
            out.append(_Slice(z, h.instance_number, str(ds.get("SOPInstanceUID", "")), h.position,
                              h.orientation[:3], h.orientation[3:], h.pixel_spacing,
                              str(ds.get("FrameOfReferenceUID", ""))))
    return out


def _slice_pixels_to_index(image: sitk.Image, s: _Slice, xy: np.ndarray) -> np.ndarray:
    """Pixel (x = column, y = row) points of DICOM slice ``s`` -> continuous indices of ``image``."""
    lps = s.origin + xy[:, :1] * s.spacing[1] * s.row_cos + xy[:, 1:2] * s.spacing[0] * s.col_cos
    return physical_to_index(image, lps)


def _point_list_files(path: Path) -> list[tuple[Path, int | None, str]]:
    """(file, number, name) for a folder's point-list files, or for one file."""
    files = sorted(path.glob("*.txt")) if path.is_dir() else [path]
    out = []
    for f in files:
        m = POINT_LIST_RE.match(f.name)
        out.append((f, int(m.group(1)), m.group(2)) if m else (f, None, f.stem))
    if path.is_dir():
        bad = [f.name for f, n, _ in out if n is None]
        if bad:
            raise InputError(f"{path}: {len(bad)} .txt file(s) do not name a slice and a contour as "
                             f"<prefix>-<number>-<name>[-manual].txt, e.g. {bad[0]}")
        if not out:
            raise InputError(f"{path}: no point-list files (*.txt) found")
    return out


def read_point_lists(path: str | os.PathLike, image: sitk.Image, slices: Sequence[_Slice] | None = None,
                     slice_index: int | None = None) -> tuple[list[Roi], str]:
    """Point-list files (a folder, or one file) as ROIs on ``image``'s grid; and the matching rule used.

    ``slices``: the image's DICOM slices (:func:`dicom_slices`), or None for a volume file. See the
    module docstring for the number-to-slice rule; ``slice_index`` (0-based z) places a single file.
    """
    p = Path(path)
    entries = _point_list_files(p)
    if p.is_file() and slice_index is None and entries[0][1] is None:
        raise ParameterError(f"{p.name}: the file name gives no slice number; give the slice index (--slice Z)")
    by_number: dict[int, list[_Slice]] = {}
    for s in slices or ():
        if s.instance_number is not None:
            by_number.setdefault(int(s.instance_number), []).append(s)
    use_instance = bool(slices and by_number and slice_index is None and all(len(v) == 1 for v in by_number.values()))
    rule = "InstanceNumber" if use_instance else ("slice index (given)" if slice_index is not None else "slice index = number - 1")
    rois: dict[str, Roi] = {}
    for f, number, name in entries:
        roi = rois.setdefault(name, Roi(name))
        xy = read_point_list(f)
        if len(xy) < 3:
            roi.skipped.append(f"{f.name}: fewer than 3 points")
            continue
        if use_instance:
            match = by_number.get(number)
            if not match:
                roi.skipped.append(f"{f.name}: no slice has InstanceNumber {number}")
                continue
            roi.polygons.append(_slice_pixels_to_index(image, match[0], xy))
        else:
            z = slice_index if slice_index is not None else number - 1
            roi.polygons.append(np.column_stack([xy, np.full(len(xy), float(z))]))
    return [rois[k] for k in sorted(rois)], rule


def read_rtstruct(path: str | os.PathLike, image: sitk.Image, slices: Sequence[_Slice] | None = None
                  ) -> tuple[list[Roi], str, list[str]]:
    """An RT Structure Set's ROIs on ``image``'s grid; the matching rule used; and warnings."""
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # pydicom raises several kinds for a damaged file
        raise InputError(f"{path}: cannot read it as DICOM ({exc})") from None
    if str(ds.get("Modality", "")) != "RTSTRUCT" and "ROIContourSequence" not in ds:
        raise InputError(f"{path}: a DICOM {ds.get('Modality', '?')} file, not an RT Structure Set")
    warnings = []
    # A multi-frame image shares one SOPInstanceUID among its frames: such a UID names no single slice.
    uids = [s.sop_uid for s in slices or () if s.sop_uid]
    by_uid = {s.sop_uid: s for s in slices or () if s.sop_uid and uids.count(s.sop_uid) == 1}
    frames = {str(f.get("FrameOfReferenceUID", "")) for f in ds.get("ReferencedFrameOfReferenceSequence", [])}
    image_frames = {s.frame_of_reference for s in slices or () if s.frame_of_reference}
    if frames and image_frames and not frames & image_frames:
        warnings.append("the RTSTRUCT's frame of reference differs from the image's; contours placed by position")
    names = {int(r.ROINumber): str(r.get("ROIName", f"ROI {r.ROINumber}")) for r in ds.get("StructureSetROISequence", [])}
    rois = {number: Roi(name) for number, name in names.items()}
    used_uid = False
    for rc in ds.get("ROIContourSequence", []):
        number = int(rc.ReferencedROINumber)
        roi = rois.setdefault(number, Roi(f"ROI {number}"))
        if "ROIDisplayColor" in rc:
            roi.color = tuple(int(c) for c in rc.ROIDisplayColor)[:3]
        for item in rc.get("ContourSequence", []):
            kind = str(item.get("ContourGeometricType", "CLOSED_PLANAR"))
            pts = np.asarray([float(v) for v in item.get("ContourData", [])], dtype=float).reshape(-1, 3)
            if kind != "CLOSED_PLANAR" or len(pts) < 3:
                roi.skipped.append(f"contour {item.get('ContourNumber', '?')}: {kind} with {len(pts)} point(s), not an area")
                continue
            idx = physical_to_index(image, pts)
            refs = [str(r.get("ReferencedSOPInstanceUID", "")) for r in item.get("ContourImageSequence", [])]
            ref = next((by_uid[u] for u in refs if u in by_uid), None)
            if ref is not None:
                used_uid = True
                if abs(np.mean(idx[:, 2]) - ref.z) > 0.5:
                    warnings.append(f"{roi.name}: a contour lies {abs(np.mean(idx[:, 2]) - ref.z):.2f} slices from "
                                    "the slice it references; placed on the referenced slice")
                idx[:, 2] = ref.z
            roi.polygons.append(idx)
    rule = "ReferencedSOPInstanceUID" if used_uid else "plane position"
    return [rois[k] for k in sorted(rois)], rule, warnings


def rasterise(roi: Roi, shape: tuple[int, int, int], cancel: CancelEvent = None) -> tuple[np.ndarray, list[str]]:
    """A boolean (z, y, x) mask of ``roi``'s polygons (even-odd per slice); and why contours were skipped."""
    mask = np.zeros(shape, dtype=bool)
    notes = []
    for n, poly in enumerate(roi.polygons):
        check_cancel(cancel)
        z = poly[:, 2]
        if np.ptp(z) > 0.5:
            notes.append(f"{roi.name}: contour {n + 1} spans {np.ptp(z):.2f} slices (not in an image plane); skipped")
            continue
        k = int(np.floor(np.mean(z) + 0.5))
        if not 0 <= k < shape[0]:
            notes.append(f"{roi.name}: contour {n + 1} lies outside the image (slice {np.mean(z):.2f} of {shape[0]}); skipped")
            continue
        mask[k] ^= polygon_mask(poly[:, :2], shape[1:])
    return mask, notes


def _names(names, count: int) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    names = [str(n) for n in names]
    if len(names) != count:
        raise ParameterError(f"--names gives {len(names)} name(s) for {count} label(s)")
    return names


def _ring(rois: list[Roi], masks: list[np.ndarray]) -> tuple[int, int]:
    """Indices (inner, outer) of the two ROIs: by name (i/o-contour, endo/epi, inner/outer), else by size."""
    if len(rois) != 2:
        raise ParameterError(f"--ring needs exactly two contours (inner and outer); found {len(rois)}: "
                             + ", ".join(r.name for r in rois))
    inner = [i for i, r in enumerate(rois) if _INNER.search(r.name)]
    outer = [i for i, r in enumerate(rois) if _OUTER.search(r.name)]
    if len(inner) == 1 and len(outer) == 1 and inner != outer:
        return inner[0], outer[0]
    small = int(np.argmin([m.sum() for m in masks]))  # names say nothing: the inner one is the smaller
    return small, 1 - small


def labels_from_masks(rois: list[Roi], masks: list[np.ndarray], ring: bool = False, names=None
                      ) -> tuple[np.ndarray, list[Label], list[str]]:
    """An exclusive uint8 (z, y, x) label map, its label table, and notes (overlaps, ring checks).

    ``masks`` are the ROIs' boolean (z, y, x) masks from :func:`rasterise`; ``names`` (a list, or
    one comma-separated string) renames the labels in value order.
    """
    notes = []
    shape = masks[0].shape if masks else (0, 0, 0)
    out = np.zeros(shape, dtype=np.uint8)
    if ring:
        i, o = _ring(rois, masks)
        inner, outer = masks[i], masks[o]
        if inner.any() and (inner & ~outer).sum() > 0.05 * inner.sum():
            notes.append(f"{(inner & ~outer).sum()} voxels of {rois[i].name!r} lie outside {rois[o].name!r}")
        out[outer & ~inner] = RING_LABELS[1].value
        out[inner] = RING_LABELS[0].value
        table = list(RING_LABELS)
    else:
        if len(rois) > 255:
            raise ParameterError(f"{len(rois)} ROIs do not fit one uint8 label map (at most 255)")
        table = [Label(v, r.name, r.color or colour_for(r.name, v)) for v, r in enumerate(rois, 1)]
        # Largest first, so a nested ROI (endocardium inside epicardium) keeps its own value.
        for v in sorted(range(len(rois)), key=lambda j: -int(masks[j].sum())):
            out[masks[v]] = v + 1
        shared = int((np.sum(masks, axis=0) > 1).sum()) if len(masks) > 1 else 0
        if shared:
            notes.append(f"{shared} voxels lie in more than one ROI (nested ROIs); each has the value of the smallest")
    new = _names(names, len(table))
    if new:
        table = [Label(lab.value, n, lab.color) for lab, n in zip(table, new)]
    return out, table, notes


def contours_to_labels(image: sitk.Image, contours_path: str | os.PathLike, meta: dict | None = None, *,
                       ring: bool = False, names=None, slice_index: int | None = None,
                       progress: Progress | None = None, cancel: CancelEvent = None
                       ) -> tuple[sitk.Image, list[Label], dict]:
    """Contours (point-list folder/file or RTSTRUCT .dcm) as a uint8 label image on ``image``'s grid.

    ``meta`` is :func:`medseg.io.load`'s metadata; with ``meta["source"] == "dicom"`` its
    ``files`` give the slices' InstanceNumbers, SOPInstanceUIDs and geometry. Returns the label
    image, its label table and a summary dict (kind, matching rule, per-ROI counts, warnings).
    Raises InputError for unreadable contours and GeometryError when no contour lands on the grid.
    """
    path = Path(contours_path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    report(progress, 0.0, "reading contours")
    slices = dicom_slices(image, meta["files"]) if meta and meta.get("source") == "dicom" and meta.get("files") else None
    warnings: list[str] = []
    if path.is_file() and path.suffix.lower() != ".txt":
        if not is_dicom(path):
            raise InputError(f"{path}: neither an RT Structure Set (DICOM) nor a point-list .txt file")
        rois, rule, warnings = read_rtstruct(path, image, slices)
        kind = "rtstruct"
    else:
        rois, rule = read_point_lists(path, image, slices, slice_index)
        kind = "point-lists"
    if not rois:
        raise InputError(f"{path}: holds no contours")
    shape = sitk.GetArrayViewFromImage(image).shape
    masks = []
    for n, roi in enumerate(rois):
        mask, notes = rasterise(roi, shape, cancel)
        masks.append(mask)
        warnings += roi.skipped + notes
        report(progress, 0.1 + 0.8 * (n + 1) / len(rois), f"rasterised {roi.name}")
    if not any(m.any() for m in masks):
        raise GeometryError(f"{path}: no contour lands on the image grid ({rule} matching); is it for this image?")
    array, table, notes = labels_from_masks(rois, masks, ring=ring, names=names)
    labels = sitk.GetImageFromArray(array)
    labels.CopyInformation(image)
    summary = {"kind": kind, "matching": rule, "ring": ring, "warnings": warnings, "notes": notes,
               "rois": [{"name": r.name, "contours": len(r.polygons), "skipped": len(r.skipped),
                         "slices": int(np.count_nonzero(m.any(axis=(1, 2)))), "voxels": int(m.sum())}
                        for r, m in zip(rois, masks)],
               "labels": [{"value": lab.value, "name": lab.name, "voxels": int((array == lab.value).sum())}
                          for lab in table]}
    report(progress, 1.0, "contours done")
    return labels, table, summary


__all__ = ["POINT_LIST_RE", "RING_LABELS", "Roi", "contours_to_labels", "dicom_slices", "labels_from_masks",
           "physical_to_index", "polygon_mask", "rasterise", "read_point_list", "read_point_lists",
           "read_rtstruct"]
