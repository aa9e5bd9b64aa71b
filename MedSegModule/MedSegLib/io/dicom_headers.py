"""One DICOM file's header, read without its pixel data, reduced to what grouping and geometry need."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

#: SOP classes of single-frame images whose values are HU after the modality LUT.
CT_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2",      # CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.1",    # Enhanced CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.2",    # Legacy Converted Enhanced CT
}
#: SOP classes that are never volume slices: structured reports, RT objects, segmentations, ...
NON_IMAGE_SOP_PREFIXES = ("1.2.840.10008.5.1.4.1.1.88", "1.2.840.10008.5.1.4.1.1.481", "1.2.840.10008.5.1.4.1.1.66")
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
MEDIA_DIRECTORY_SOP = "1.2.840.10008.1.3.10"


class NotAnImage(Exception):
    """A readable DICOM file that is not a volume slice; the message is the reason it is skipped."""


@dataclass
class SliceHeader:
    """Header facts of one image file. Positions are LPS mm; ``pixel_spacing`` is (row, column) mm."""

    path: Path
    series_uid: str
    sop_class: str
    modality: str
    rows: int
    columns: int
    position: np.ndarray          # ImagePositionPatient (x, y, z) LPS mm
    orientation: np.ndarray       # ImageOrientationPatient: row cosines then column cosines
    pixel_spacing: tuple[float, float]
    instance_number: int | None
    frames: int
    image_type: tuple[str, ...]
    dataset: pydicom.Dataset = field(repr=False)

    @property
    def normal(self) -> np.ndarray:
        """Unit slice normal, row cosines × column cosines (LPS)."""
        n = np.cross(self.orientation[:3], self.orientation[3:])
        return n / np.linalg.norm(n)

    @property
    def is_ct(self) -> bool:
        return self.modality == "CT" or (not self.modality and self.sop_class in CT_SOP_CLASSES)


def _series_key(ds: pydicom.Dataset) -> str:
    uid = str(ds.get("SeriesInstanceUID", "") or "").strip()
    if uid:
        return uid
    # Anonymisers sometimes blank the UIDs (as in the shared abdomen study). Group by what still
    # identifies the acquisition, and make the key stable so `--series` can name it.
    parts = [str(ds.get(t, "") or "") for t in ("StudyInstanceUID", "FrameOfReferenceUID", "SeriesNumber",
                                                  "SeriesDescription", "AcquisitionNumber", "Modality")]
    return "noUID-" + hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]


def read_header(path: Path) -> SliceHeader:
    """Read one file's header (pixel data deferred, not decoded).

    Raises :class:`InvalidDicomError` for non-DICOM files and :class:`NotAnImage` for DICOM files
    that are not volume slices (no pixel data, DICOMDIR, reports, localizers, ...).
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
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise NotAnImage("multi-frame image (supported from issue #3)")
    for tag in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows", "Columns"):
        if ds.get(tag) in (None, ""):
            raise NotAnImage(f"no {tag}, so it cannot be placed in a volume")
    try:
        inst = int(ds.InstanceNumber) if ds.get("InstanceNumber") not in (None, "") else None
    except (TypeError, ValueError):
        inst = None
    return SliceHeader(
        path=path,
        series_uid=_series_key(ds),
        sop_class=sop_class,
        modality=str(ds.get("Modality", "") or "").upper(),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        position=np.array([float(v) for v in ds.ImagePositionPatient], dtype=np.float64),
        orientation=np.array([float(v) for v in ds.ImageOrientationPatient], dtype=np.float64),
        pixel_spacing=(float(ds.PixelSpacing[0]), float(ds.PixelSpacing[1])),
        instance_number=inst,
        frames=frames,
        image_type=image_type,
        dataset=ds,
    )


def try_read_header(path: Path) -> tuple[SliceHeader | None, str | None]:
    """Like :func:`read_header` but returns ``(None, reason)`` for files to skip."""
    try:
        return read_header(path), None
    except InvalidDicomError:
        return None, "not a DICOM file"
    except NotAnImage as exc:
        return None, str(exc)
    except (OSError, EOFError, ValueError, KeyError, AttributeError, TypeError) as exc:
        return None, f"unreadable DICOM header ({type(exc).__name__}: {exc})"
