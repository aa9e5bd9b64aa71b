"""DICOM file headers, read without decoding pixels, reduced to what grouping and geometry need.

One file gives one :class:`SliceHeader` per frame: a classic CT file gives one, an Enhanced
(multi-frame) CT file one per frame with that frame's position, orientation and rescale
(:mod:`.dicom_multiframe`).

What is skipped, and why (:class:`NotAnImage` carries the reason, said as a warning):

- DICOMDIR (a media index), structured reports, RT objects, segmentations: not images;
- files without pixel data, or without the tags that place a slice in space;
- localizers/scouts (ImageType contains LOCALIZER);
- secondary captures (SOP class 1.2.840.10008.5.1.4.1.1.7*): screenshots, not measured slices;
- derived secondary images (ImageType ``DERIVED\\SECONDARY``: post-processed copies such as MIPs
  or screen saves). Only this pair is skipped: ``DERIVED\\PRIMARY`` (a lossy-compressed or
  reconstructed-again primary image, MPRs from some scanners) is a real volume and is kept.
  Derived secondary headers are still returned (``soft_skip`` set) so that a folder holding
  nothing else can be loaded, with a warning, instead of failing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

#: SOP classes of images whose values are HU after the modality LUT.
CT_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2",      # CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.1",    # Enhanced CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.2",    # Legacy Converted Enhanced CT
}
#: SOP classes that are never volume slices: structured reports, RT objects, segmentations, ...
NON_IMAGE_SOP_PREFIXES = ("1.2.840.10008.5.1.4.1.1.88", "1.2.840.10008.5.1.4.1.1.481", "1.2.840.10008.5.1.4.1.1.66")
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
MEDIA_DIRECTORY_SOP = "1.2.840.10008.1.3.10"
DERIVED_SECONDARY = "derived secondary image (ImageType DERIVED\\SECONDARY: a post-processed copy)"


class NotAnImage(Exception):
    """A readable DICOM file that is not a volume slice; the message is the reason it is skipped."""


@dataclass
class SliceHeader:
    """Header facts of one slice (one frame of a file).

    ``position`` is ImagePositionPatient (x, y, z) LPS mm, ``orientation`` the row cosines then
    the column cosines, ``pixel_spacing`` (row, column) mm. ``frame`` is the 0-based frame index
    in a multi-frame file (None for a single-frame file). ``rescale`` is (slope, intercept) of
    this slice. ``soft_skip`` names why the slice is used only when nothing better is found.
    """

    path: Path
    series_uid: str
    sop_class: str
    modality: str
    rows: int
    columns: int
    position: np.ndarray
    orientation: np.ndarray
    pixel_spacing: tuple[float, float]
    instance_number: int | None
    frames: int
    image_type: tuple[str, ...]
    dataset: pydicom.Dataset = field(repr=False)
    frame: int | None = None
    rescale: tuple[float, float] = (1.0, 0.0)
    slice_thickness: float | None = None
    soft_skip: str | None = None

    @property
    def normal(self) -> np.ndarray:
        """Unit slice normal, row cosines × column cosines (LPS)."""
        n = np.cross(self.orientation[:3], self.orientation[3:])
        return n / np.linalg.norm(n)

    @property
    def is_ct(self) -> bool:
        return self.modality == "CT" or (not self.modality and self.sop_class in CT_SOP_CLASSES)

    @property
    def name(self) -> str:
        """File name, with the frame number for a multi-frame file (for messages)."""
        return self.path.name if self.frame is None else f"{self.path.name}[frame {self.frame + 1}]"


def _series_key(ds: pydicom.Dataset) -> str:
    uid = str(ds.get("SeriesInstanceUID", "") or "").strip()
    if uid:
        return uid
    # Anonymisers sometimes blank the UIDs (as in the shared abdomen study). Group by what still
    # identifies the acquisition, and make the key stable so `--series` can name it.
    parts = [str(ds.get(t, "") or "") for t in ("StudyInstanceUID", "FrameOfReferenceUID", "SeriesNumber",
                                                  "SeriesDescription", "AcquisitionNumber", "Modality")]
    return "noUID-" + hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]


def number(item, tag: str, default: float | None = None) -> float | None:
    """A numeric tag of ``item`` as float, ``default`` when missing, empty or malformed."""
    try:
        value = item.get(tag) if item is not None else None
        return default if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return default


def rescale_of(item, default: tuple[float, float] = (1.0, 0.0)) -> tuple[float, float]:
    """(RescaleSlope, RescaleIntercept) of a dataset or functional-group item.

    A slope of 0 is a broken header, not a real mapping (everything would be the intercept), so it
    is read as 1.
    """
    slope = number(item, "RescaleSlope", default[0]) or 1.0
    return float(slope), float(number(item, "RescaleIntercept", default[1]))


def _common(ds: pydicom.Dataset, path: Path, sop_class: str, image_type: tuple[str, ...]) -> dict:
    """The facts every frame of the file shares."""
    try:
        inst = int(ds.InstanceNumber) if ds.get("InstanceNumber") not in (None, "") else None
    except (TypeError, ValueError):
        inst = None
    derived = "DERIVED" in image_type[:1] and "SECONDARY" in image_type[1:2]
    return dict(path=path, series_uid=_series_key(ds), sop_class=sop_class,
                modality=str(ds.get("Modality", "") or "").upper(), rows=int(ds.Rows), columns=int(ds.Columns),
                instance_number=inst, frames=int(number(ds, "NumberOfFrames", 1) or 1), image_type=image_type,
                dataset=ds, soft_skip=DERIVED_SECONDARY if derived else None)


def read_headers(path: Path) -> list[SliceHeader]:
    """Read one file's header(s), pixel data deferred, one :class:`SliceHeader` per frame.

    Raises :class:`InvalidDicomError` for non-DICOM files and :class:`NotAnImage` for DICOM files
    that are not volume slices (see the module docstring).
    """
    ds = pydicom.dcmread(path, defer_size=1024)
    meta_sop = str(getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", "") or "")
    sop_class = str(ds.get("SOPClassUID", "") or "") or meta_sop
    if sop_class == MEDIA_DIRECTORY_SOP or "DirectoryRecordSequence" in ds:
        raise NotAnImage("DICOMDIR (a media index, not an image)")
    if sop_class.startswith(NON_IMAGE_SOP_PREFIXES):
        raise NotAnImage(f"not an image ({UID(sop_class).name})")
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise NotAnImage("no pixel data")
    image_type = tuple(str(v).upper() for v in (ds.get("ImageType") or ()))
    if "LOCALIZER" in image_type:
        raise NotAnImage("localizer/scout image")
    if sop_class.startswith(SECONDARY_CAPTURE_PREFIX):
        raise NotAnImage("secondary capture (a screenshot, not a measured slice)")
    for tag in ("Rows", "Columns"):
        if ds.get(tag) in (None, ""):
            raise NotAnImage(f"no {tag}")
    common = _common(ds, Path(path), sop_class, image_type)
    if "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds:
        from .multiframe import frame_headers  # here: that module builds on this one

        return frame_headers(ds, common)
    if common["frames"] > 1:
        raise NotAnImage("multi-frame image without per-frame functional groups (frames cannot be placed)")
    for tag in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
        if ds.get(tag) in (None, ""):
            raise NotAnImage(f"no {tag}, so it cannot be placed in a volume")
    try:
        return [SliceHeader(
            position=np.array([float(v) for v in ds.ImagePositionPatient], dtype=np.float64),
            orientation=np.array([float(v) for v in ds.ImageOrientationPatient], dtype=np.float64),
            pixel_spacing=(float(ds.PixelSpacing[0]), float(ds.PixelSpacing[1])),
            rescale=rescale_of(ds), slice_thickness=number(ds, "SliceThickness"), **common)]
    except (IndexError, ValueError) as exc:
        raise NotAnImage(f"malformed position/orientation/spacing ({exc})") from None


def read_header(path: Path) -> SliceHeader:
    """The first (for single-frame files, the only) slice header of ``path``."""
    return read_headers(path)[0]


def try_read_headers(path: Path) -> tuple[list[SliceHeader], str | None]:
    """Like :func:`read_headers` but returns ``([], reason)`` for files to skip."""
    try:
        return read_headers(path), None
    except InvalidDicomError:
        return [], "not a DICOM file"
    except NotAnImage as exc:
        return [], str(exc)
    except (OSError, EOFError, ValueError, KeyError, AttributeError, TypeError, IndexError) as exc:
        return [], f"unreadable DICOM header ({type(exc).__name__}: {exc})"


def try_read_header(path: Path) -> tuple[SliceHeader | None, str | None]:
    """Single-header form of :func:`try_read_headers` (the first frame), kept for callers."""
    headers, why = try_read_headers(path)
    return (headers[0] if headers else None), why
