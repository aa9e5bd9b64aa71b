"""DICOM Segmentation output (highdicom): a BINARY SEG that references the source CT series.

:func:`write_dicom_seg` takes a label map on the grid of a DICOM series (``io.load`` of a DICOM
input gives that grid, and ``meta["files"]`` the series' files in the same slice order) and
writes one SEG instance: one segment per non-zero label value, in ascending value order, numbered
1..n (DICOM wants consecutive segment numbers, so the label values themselves are not kept; the
segment labels carry the names). Each segment has category/type codes (SNOMED CT), algorithm
type AUTOMATIC with an algorithm identification "MedSeg" and its version, and a display colour.
Empty frames are omitted.

:func:`read_dicom_seg` reads one back as a label image (segment numbers as values), on the
source grid when the source files are given. :func:`validate_dicom_seg` checks a written SEG
against the label map: segments, frame count, per-frame positions and source references,
and pixels.

highdicom is optional (``pip install highdicom``); it is imported only when used.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import SimpleITK as sitk

from .. import __version__
from ..errors import DependencyError, GeometryError, InputError, ParameterError
from . import atomic_output
from .grid import describe, resample_nearest
from ..labels import Label, label_table

POSITION_TOL_MM = 0.01
_REQUIRED_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID")
_ALGORITHM_FAMILIES = {"classical": "MorphologicalOperations", "ai": "ArtificialIntelligence"}


def _highdicom():
    try:
        import highdicom as hd
    except ImportError as exc:
        raise DependencyError("DICOM SEG output needs highdicom, which is not installed; "
                              "install it with: pip install highdicom") from exc
    return hd


# --- source series and grid ---------------------------------------------------------------------

def _read_sources(source_files: Sequence[str | os.PathLike]) -> list:
    import pydicom
    if not source_files:
        raise InputError("DICOM SEG needs the source DICOM series; the input was not DICOM (no source files)")
    datasets = []
    for f in source_files:
        try:
            ds = pydicom.dcmread(str(f), stop_before_pixels=True)
        except Exception as exc:  # pydicom raises several types for unreadable files
            raise InputError(f"{f}: cannot read the source DICOM file ({exc})") from exc
        if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1:
            raise InputError(f"{f}: multi-frame source images are not supported for DICOM SEG output")
        if "ImagePositionPatient" not in ds or "ImageOrientationPatient" not in ds:
            raise InputError(f"{f}: has no image position/orientation, so it cannot be a SEG source")
        meta = getattr(ds, "file_meta", None)
        for key, meta_key in (("SOPClassUID", "MediaStorageSOPClassUID"), ("SOPInstanceUID", "MediaStorageSOPInstanceUID")):
            if not str(ds.get(key, "") or "") and meta is not None and str(meta.get(meta_key, "") or ""):
                setattr(ds, key, meta[meta_key].value)  # in memory only: the input file is not touched
        missing = [k for k in _REQUIRED_UIDS if not str(ds.get(k, "") or "")]
        if missing:
            raise InputError(f"{f}: has no {', '.join(missing)} (anonymised?), so a DICOM SEG cannot reference it")
        datasets.append(ds)
    if len({str(ds.SOPInstanceUID) for ds in datasets}) != len(datasets):
        raise InputError("the source files repeat a SOPInstanceUID, so a DICOM SEG cannot reference them")
    for key in ("SeriesInstanceUID", "FrameOfReferenceUID", "Rows", "Columns"):
        found = {str(getattr(ds, key, "")) for ds in datasets}
        if len(found) > 1:
            raise InputError(f"the source files are not one series: they differ in {key} ({sorted(found)[:3]})")
    return datasets


def source_grid(datasets: Sequence) -> tuple[sitk.Image, np.ndarray]:
    """An empty image on the source series' grid (slices in the given order) and the (n, 3) IPPs."""
    first = datasets[0]
    iop = np.asarray(first.ImageOrientationPatient, dtype=np.float64)
    row, col = iop[:3], iop[3:]
    ipp = np.array([np.asarray(ds.ImagePositionPatient, dtype=np.float64) for ds in datasets])
    ps = [float(v) for v in first.PixelSpacing]
    if len(datasets) > 1:
        step = (ipp[-1] - ipp[0]) / (len(datasets) - 1)
        spacing_z = float(np.linalg.norm(step))
        if spacing_z < 1e-6:
            raise GeometryError("the source slices all lie at one position; cannot build a volume grid")
        normal = step / spacing_z
    else:
        normal = np.cross(row, col)
        spacing_z = float(getattr(first, "SliceThickness", 1.0) or 1.0)
    ref = sitk.Image(int(first.Columns), int(first.Rows), len(datasets), sitk.sitkUInt8)
    ref.SetSpacing((ps[1], ps[0], spacing_z))
    ref.SetOrigin(tuple(ipp[0]))
    ref.SetDirection(tuple(np.column_stack([row, col, normal]).ravel()))
    return ref, ipp


def _tolerant_same_grid(labels: sitk.Image, ref: sitk.Image, ipp: np.ndarray) -> bool:
    if labels.GetSize() != ref.GetSize():
        return False
    if not np.allclose(labels.GetSpacing()[:2], ref.GetSpacing()[:2], atol=1e-3):
        return False
    d_lab = np.asarray(labels.GetDirection()).reshape(3, 3)
    d_ref = np.asarray(ref.GetDirection()).reshape(3, 3)
    if not np.allclose(d_lab[:, :2], d_ref[:, :2], atol=1e-4):
        return False
    starts = np.array([labels.TransformIndexToPhysicalPoint((0, 0, k)) for k in range(len(ipp))])
    return bool(np.all(np.linalg.norm(starts - ipp, axis=1) < POSITION_TOL_MM))


def _same_voxels(labels: sitk.Image, ref: sitk.Image) -> bool:
    """True when ``labels`` samples exactly ``ref``'s voxel centres, in flipped or permuted axis order.

    The index-to-index map between the grids must be a signed permutation with an integer
    offset that maps the label grid onto the whole reference grid (oblique grids included).
    """
    def affine(image):
        return np.asarray(image.GetDirection()).reshape(3, 3) @ np.diag(image.GetSpacing()), np.asarray(image.GetOrigin())
    (a_lab, o_lab), (a_ref, o_ref) = affine(labels), affine(ref)
    m = np.linalg.solve(a_ref, a_lab)
    t = np.linalg.solve(a_ref, o_lab - o_ref)
    if not (np.allclose(np.abs(m).sum(axis=0), 1, atol=1e-4) and np.allclose(np.round(m), m, atol=1e-4)
            and np.allclose(np.round(t), t, atol=1e-3)):
        return False
    m, t = np.round(m), np.round(t)
    ends = m @ (np.asarray(labels.GetSize()) - 1.0) + t
    return bool(np.array_equal(np.minimum(t, ends), np.zeros(3))
                and np.array_equal(np.maximum(t, ends), np.asarray(ref.GetSize()) - 1.0))


def labels_on_source_grid(labels: sitk.Image, datasets: Sequence, resample: bool = False) -> np.ndarray:
    """The label map as a (slices, rows, columns) array in the source files' order.

    The same grid (within 0.01 mm per slice position) is used as is; the same voxels in flipped or
    permuted axis order are resampled exactly; anything else is a :class:`GeometryError`, or a
    nearest-neighbour resample with ``resample`` (``--resample-labels``).
    """
    ref, ipp = source_grid(datasets)
    if not _tolerant_same_grid(labels, ref, ipp):
        if not (_same_voxels(labels, ref) or resample):
            raise GeometryError(f"the labels are not on the source DICOM series' grid (pass --resample-labels to "
                                f"resample): labels {describe(labels)}; series {describe(ref)}")
        labels = resample_nearest(labels, ref)
        if not _tolerant_same_grid(labels, ref, ipp):
            raise GeometryError(f"the source series' slices are unevenly spaced, and the labels do not "
                                f"follow them; labels {describe(labels)}")
    return sitk.GetArrayFromImage(labels)


# --- segment descriptions -----------------------------------------------------------------------

def _sct(value: str, meaning: str):
    from pydicom.sr.coding import Code
    return Code(value, "SCT", meaning)


def segment_codes(name: str):
    """(category, type) codes for a segment name: the auto-label table, then SNOMED CT by name.

    Names are matched to pydicom's SNOMED CT keywords ("inferior_vena_cava" -> Inferior vena
    cava, "vertebrae_T12" -> T12 vertebra, "rib_left_6" -> Rib); a match counts only when the
    concept is a DICOM segmentation property type (CID 7151). Unknown names get Tissue/Tissue.
    """
    from pydicom.sr._concepts_dict import concepts
    from pydicom.sr.codedict import codes
    anatomy, tissue, thing = codes.SCT.AnatomicalStructure, codes.SCT.Tissue, codes.SCT.PhysicalObject
    fixed = {
        "body": (anatomy, codes.SCT.EntireBody), "table-headrest": (thing, codes.SCT.Table),
        "table": (thing, codes.SCT.Table), "headrest": (thing, codes.SCT.Headrest),
        "lung": (anatomy, codes.SCT.Lung), "lung-right": (anatomy, _sct("3341006", "Right lung")),
        "lung-left": (anatomy, _sct("44029006", "Left lung")), "airway": (anatomy, codes.SCT.AirwayStructure),
        "bone": (tissue, codes.SCT.Bone),
    }
    low = name.strip().lower()
    if low in fixed:
        return fixed[low]
    tokens = [t for t in re.split(r"[^A-Za-z0-9]+", name) if t and t.lower() not in ("left", "right", "l", "r")]
    words = [t for t in tokens if not t.isdigit()]
    level = next((w.upper() for w in words if re.fullmatch(r"[CTLS]\d+", w, re.I)), None)
    words = ["Vertebra" if w.lower().startswith("vertebr") else w.capitalize() for w in words
             if not re.fullmatch(r"[CTLS]\d+", w, re.I)]
    candidates = [f"{level}Vertebra"] if level and "Vertebra" in words else []
    for n in range(len(words), 0, -1):  # longest prefix first, each also without a plural "s"
        joined = "".join(words[:n])
        candidates += [joined, joined[:-1]] if joined.endswith("s") else [joined]
    sct = concepts["SCT"]
    for keyword in candidates:
        entry = sct.get(keyword)
        if not entry:
            continue
        value, (meaning, cids) = next(iter(entry.items()))
        if 7151 not in cids:
            continue
        category = thing if 7157 in cids else (anatomy if 7192 in cids else tissue)
        return category, _sct(value, meaning)
    return tissue, tissue


def _descriptions(hd, labels: Sequence[Label], algorithm_type: str, family: str):
    from pydicom.sr.codedict import codes
    algorithm = None
    if algorithm_type.upper() != "MANUAL":
        if family not in _ALGORITHM_FAMILIES:
            raise ParameterError(f"algorithm family must be one of {sorted(_ALGORITHM_FAMILIES)}, got {family!r}")
        algorithm = hd.AlgorithmIdentificationSequence(
            name="MedSeg", version=__version__, family=getattr(codes.cid7162, _ALGORITHM_FAMILIES[family]))
    out = []
    for number, lab in enumerate(labels, start=1):
        category, kind = segment_codes(lab.name)
        out.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=lab.name[:64], segmented_property_category=category,
            segmented_property_type=kind, algorithm_type=algorithm_type.upper(),
            algorithm_identification=algorithm, display_color=hd.color.CIELabColor.from_rgb(*lab.color)))
    return out


# --- write, read, validate ----------------------------------------------------------------------

def write_dicom_seg(labels: sitk.Image, source_files: Sequence[str | os.PathLike], path: str | os.PathLike,
                    segments: Sequence[Label] | Mapping[int, str] | None = None,
                    inputs: Iterable[str | os.PathLike] = (), algorithm_type: str = "AUTOMATIC",
                    algorithm_family: str = "classical", series_description: str = "MedSeg segmentation",
                    series_number: int | None = None, resample_labels: bool = False) -> Path:
    """Write ``labels`` as a BINARY DICOM SEG referencing the CT series in ``source_files``.

    ``source_files`` are the series' files in the label map's slice order (``meta["files"]``).
    ``segments`` names and colours the values (Labels or ``{value: name}``; default the auto-label
    table). ``algorithm_family`` is "classical" (Morphological operations) or "ai" (Artificial
    intelligence); ``algorithm_type`` "MANUAL" drops the algorithm identification (for reference
    labels). Raises :class:`GeometryError` when the labels are not on the series' grid (unless
    ``resample_labels``), :class:`InputError` for unusable sources (not one series, multi-frame, or
    UIDs blanked by an anonymiser) or an empty label map.
    """
    hd = _highdicom()
    datasets = _read_sources(source_files)
    arr = labels_on_source_grid(labels, datasets, resample=resample_labels)
    values = [int(v) for v in np.unique(arr) if v != 0]
    if not values:
        raise InputError("the label map is empty: a DICOM SEG needs at least one non-zero label")
    seg_labels = label_table(values, segments)
    lut = np.zeros(int(arr.max()) + 1, dtype=np.uint16 if len(values) > 255 else np.uint8)
    lut[values] = np.arange(1, len(values) + 1)
    number = series_number if series_number is not None else 1000 + int(getattr(datasets[0], "SeriesNumber", 0) or 0)
    seg = hd.seg.Segmentation(
        source_images=datasets, pixel_array=lut[arr], segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=_descriptions(hd, seg_labels, algorithm_type, algorithm_family),
        series_instance_uid=hd.UID(), series_number=number, sop_instance_uid=hd.UID(), instance_number=1,
        manufacturer="MedSeg", manufacturer_model_name="medseg", software_versions=__version__,
        device_serial_number="0", content_label="MEDSEG", content_description="MedSeg segmentation",
        series_description=series_description, omit_empty_frames=True)
    with atomic_output(path, [*inputs, *source_files]) as tmp:
        seg.save_as(str(tmp))
    return Path(path)


def read_dicom_seg(path: str | os.PathLike, source_files: Sequence[str | os.PathLike] | None = None
                   ) -> tuple[sitk.Image, dict[int, str]]:
    """Read a SEG as (label image of segment numbers, {segment number: segment label}).

    With ``source_files`` the image is on the source series' grid (slices in their order, frames
    the SEG omitted are zero); without, on the SEG's own volume geometry (highdicom ``get_volume``).
    Overlapping segments resolve to the higher segment number.
    """
    hd = _highdicom()
    try:
        seg = hd.seg.segread(str(path))
    except Exception as exc:
        raise InputError(f"{path}: not a readable DICOM Segmentation ({exc})") from exc
    names = {int(s.SegmentNumber): str(s.SegmentLabel) for s in seg.SegmentSequence}
    if source_files:
        datasets = _read_sources(source_files)
        ref, _ = source_grid(datasets)
        arr = seg.get_pixels_by_source_instance([ds.SOPInstanceUID for ds in datasets], combine_segments=True,
                                                skip_overlap_checks=True, dtype=np.uint16)
        image = sitk.GetImageFromArray(np.asarray(arr).reshape(len(datasets), ref.GetSize()[1], ref.GetSize()[0]))
        image.CopyInformation(ref)
        return image, names
    volume = seg.get_volume(combine_segments=True, skip_overlap_checks=True, dtype=np.uint16)
    array = np.asarray(volume.array)
    affine = np.asarray(volume.affine, dtype=np.float64)  # (slice, row, column) index -> LPS mm
    columns = affine[:3, [2, 1, 0]]
    spacing = np.linalg.norm(columns, axis=0)
    image = sitk.GetImageFromArray(array.reshape(array.shape[:3]))
    image.SetSpacing(tuple(spacing))
    image.SetDirection(tuple((columns / spacing).ravel()))
    image.SetOrigin(tuple(affine[:3, 3]))
    return image, names


def validate_dicom_seg(path: str | os.PathLike, labels: sitk.Image, source_files: Sequence[str | os.PathLike],
                       segments: Sequence[Label] | Mapping[int, str] | None = None) -> dict:
    """Check a written SEG against its label map and source series; returns a report dict.

    Checks: BINARY type; segment numbers 1..n with the expected labels and MedSeg algorithm;
    the referenced series and instances are the source's; the frame count equals the number of
    non-empty (segment, slice) pairs; each frame's ImagePositionPatient equals its source slice's;
    pixel spacing and orientation equal the source's; each frame's pixels equal the label mask.
    ``report["ok"]`` is true when ``report["problems"]`` is empty.
    """
    import pydicom
    _highdicom()
    ds = pydicom.dcmread(str(path))
    datasets = _read_sources(source_files)
    arr = labels_on_source_grid(labels, datasets)
    values = [int(v) for v in np.unique(arr) if v != 0]
    expected_names = [lab.name[:64] for lab in label_table(values, segments)]
    problems: list[str] = []
    if str(ds.SOPClassUID) != "1.2.840.10008.5.1.4.1.1.66.4":
        problems.append(f"SOP class is {ds.SOPClassUID}, not Segmentation Storage")
    if str(getattr(ds, "SegmentationType", "")) != "BINARY":
        problems.append(f"segmentation type is {getattr(ds, 'SegmentationType', None)}, not BINARY")
    numbers = [int(s.SegmentNumber) for s in ds.SegmentSequence]
    names = [str(s.SegmentLabel) for s in ds.SegmentSequence]
    if numbers != list(range(1, len(values) + 1)):
        problems.append(f"segment numbers {numbers}, expected 1..{len(values)}")
    if names != expected_names:
        problems.append(f"segment labels {names}, expected {expected_names}")
    for s in ds.SegmentSequence:
        if s.SegmentAlgorithmType != "MANUAL" and s.SegmentAlgorithmName != "MedSeg":
            problems.append(f"segment {s.SegmentNumber}: algorithm name {s.SegmentAlgorithmName!r}")
    source_uids = [str(d.SOPInstanceUID) for d in datasets]
    series_uid = str(datasets[0].SeriesInstanceUID)
    referenced = ds.ReferencedSeriesSequence
    ref_series = [str(r.SeriesInstanceUID) for r in referenced]
    ref_instances = {str(i.ReferencedSOPInstanceUID) for r in referenced for i in r.ReferencedInstanceSequence}
    if ref_series != [series_uid]:
        problems.append(f"referenced series {ref_series}, expected [{series_uid}]")
    if not ref_instances <= set(source_uids):
        problems.append(f"{len(ref_instances - set(source_uids))} referenced instances are not in the source series")
    if str(ds.FrameOfReferenceUID) != str(datasets[0].FrameOfReferenceUID):
        problems.append("frame of reference differs from the source series'")
    shared = ds.SharedFunctionalGroupsSequence[0]
    ps = [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing]
    iop = [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient]
    if not np.allclose(ps, [float(v) for v in datasets[0].PixelSpacing], atol=1e-4):
        problems.append(f"pixel spacing {ps} differs from the source's {list(datasets[0].PixelSpacing)}")
    if not np.allclose(iop, [float(v) for v in datasets[0].ImageOrientationPatient], atol=1e-4):
        problems.append(f"orientation {iop} differs from the source's")
    expected_pairs = {(n, k) for n, v in enumerate(values, 1) for k in np.flatnonzero((arr == v).any(axis=(1, 2)))}
    n_frames = int(getattr(ds, "NumberOfFrames", 1))
    if n_frames != len(expected_pairs):
        problems.append(f"{n_frames} frames, expected {len(expected_pairs)} non-empty (segment, slice) pairs")
    pixels = ds.pixel_array.reshape(n_frames, int(ds.Rows), int(ds.Columns))
    ipp = np.array([np.asarray(d.ImagePositionPatient, dtype=np.float64) for d in datasets])
    seen, max_offset, bad_pixels = set(), 0.0, 0
    for i, frame in enumerate(ds.PerFrameFunctionalGroupsSequence):
        number = int(frame.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        uid = str(frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
        if uid not in source_uids or not 1 <= number <= len(values):
            problems.append(f"frame {i + 1}: references segment {number} / instance {uid} not in the source")
            continue
        k = source_uids.index(uid)
        seen.add((number, k))
        position = np.asarray(frame.PlanePositionSequence[0].ImagePositionPatient, dtype=np.float64)
        max_offset = max(max_offset, float(np.linalg.norm(position - ipp[k])))
        bad_pixels += int(np.count_nonzero(pixels[i].astype(bool) != (arr[k] == values[number - 1])))
    if max_offset > POSITION_TOL_MM:
        problems.append(f"frame positions differ from their source slices by up to {max_offset:.4f} mm")
    if seen != expected_pairs:
        problems.append(f"frames cover {len(seen)} (segment, slice) pairs; {len(expected_pairs)} expected, "
                        f"{len(expected_pairs ^ seen)} differ")
    if bad_pixels:
        problems.append(f"{bad_pixels} pixels differ from the label map")
    return {"ok": not problems, "problems": problems, "segments": dict(zip(numbers, names)),
            "label_values": dict(zip(range(1, len(values) + 1), values)), "frames": n_frames,
            "expected_frames": len(expected_pairs), "series_uid": series_uid, "referenced_series_uids": ref_series,
            "seg_series_uid": str(ds.SeriesInstanceUID), "max_position_offset_mm": max_offset}


__all__ = ["write_dicom_seg", "read_dicom_seg", "validate_dicom_seg", "segment_codes", "source_grid",
           "labels_on_source_grid", "POSITION_TOL_MM"]
