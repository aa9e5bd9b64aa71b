"""DICOM file headers, read without decoding pixels, reduced to what grouping and geometry need.

One file gives one :class:`SliceHeader` per frame: a classic CT file gives one, an Enhanced
(multi-frame) CT file one per frame with that frame's position, orientation and rescale
(:mod:`.multiframe`).

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

from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from .multiframe import frame_headers
from .slice_header import (
    CT_SOP_CLASSES, DERIVED_SECONDARY, MEDIA_DIRECTORY_SOP, NON_IMAGE_SOP_PREFIXES, SECONDARY_CAPTURE_PREFIX,
    NotAnImage, SliceHeader, number, rescale_of, series_key,
)


def _common(ds: pydicom.Dataset, path: Path, sop_class: str, image_type: tuple[str, ...]) -> dict:
    """The facts every frame of the file shares."""
    try:
        inst = int(ds.InstanceNumber) if ds.get("InstanceNumber") not in (None, "") else None
    except (TypeError, ValueError):
        inst = None
    derived = "DERIVED" in image_type[:1] and "SECONDARY" in image_type[1:2]
    return dict(path=path, series_uid=series_key(ds), sop_class=sop_class,
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
