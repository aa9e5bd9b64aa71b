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

What is *damaged* (:class:`DamagedFile`: an error when its series is loaded, unless damaged slices
are skipped): a file that claims to be a slice (a CT/MR/PET SOP class, or Rows and Columns) but has
no pixel data, no placement, impossible values (position, orientation, spacing, rescale, bits
outside :mod:`.slice_header`'s plausible ranges) or a header that does not parse; a DICOM file
(``DICM`` marker) that does not parse; an empty or unreadable file with a DICOM-like name.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from .multiframe import frame_headers
from .slice_header import (
    CT_SOP_CLASSES, DERIVED_SECONDARY, MEDIA_DIRECTORY_SOP, NON_IMAGE_SOP_PREFIXES, SECONDARY_CAPTURE_PREFIX,
    VOLUME_SOP_CLASSES, DamagedFile, NotAnImage, SliceHeader, check_pixel_module, number, plane_geometry, rescale_of,
    series_key,
)

#: Pixel data elements: never read with the header.
PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
#: Names of files that may be DICOM although they have no DICM marker to show it (often no extension).
DICOM_LIKE_SUFFIXES = ("", ".dcm", ".dicom", ".dic", ".ima")


def dicom_like_name(path: Path) -> bool:
    """A name DICOM files have: no extension, .dcm, .dicom, .dic, .ima (or a number, IM0001.2)."""
    suffix = path.suffix.lower()
    return suffix in DICOM_LIKE_SUFFIXES or suffix[1:].isdigit()


def _parse_all(ds: pydicom.Dataset, path: Path, key: str | None) -> None:
    """Convert every element now (pixel data aside), so a corrupt one fails here and not later.

    A private element that does not parse is dropped (scanners' private data are not needed);
    a standard one makes the file damaged.
    """
    for tag in list(ds.keys()):
        if int(tag) in PIXEL_TAGS:
            continue
        try:
            elem = ds[tag]
            if elem.VR == "SQ":
                for item in elem.value:
                    _parse_all(item, path, key)
        except DamagedFile:
            raise
        except Exception as exc:  # pydicom raises many types for a broken element
            if tag.is_private:
                del ds[tag]
                continue
            raise DamagedFile(path, f"header element {tag} does not parse ({type(exc).__name__}: "
                                    f"{str(exc)[:120]})", key) from None


def _common(ds: pydicom.Dataset, path: Path, sop_class: str, image_type: tuple[str, ...]) -> dict:
    """The facts every frame of the file shares."""
    try:
        inst = int(ds.InstanceNumber) if ds.get("InstanceNumber") not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        inst = None
    derived = "DERIVED" in image_type[:1] and "SECONDARY" in image_type[1:2]
    frames = number(ds, "NumberOfFrames", 1) or 1
    return dict(path=path, series_uid=series_key(ds), sop_class=sop_class,
                modality=str(ds.get("Modality", "") or "").upper(), rows=int(ds.Rows), columns=int(ds.Columns),
                instance_number=inst, frames=int(frames) if 1 <= frames <= 2 ** 31 else 0, image_type=image_type,
                dataset=ds, soft_skip=DERIVED_SECONDARY if derived else None)


def _claims_slice(ds: pydicom.Dataset, sop_class: str) -> bool:
    return sop_class in VOLUME_SOP_CLASSES or (not sop_class and "Rows" in ds and "Columns" in ds)


def read_headers(path: Path) -> list[SliceHeader]:
    """Read one file's header(s), pixel data deferred, one :class:`SliceHeader` per frame.

    Raises :class:`InvalidDicomError` for non-DICOM files, :class:`NotAnImage` for DICOM files
    that are not volume slices and :class:`DamagedFile` for damaged ones (see the module docstring).
    """
    path = Path(path)
    ds = pydicom.dcmread(path, defer_size=1024)
    key = None
    try:
        key = series_key(ds)
    except Exception:  # noqa: BLE001 (the UIDs themselves may be what is broken)
        pass
    _parse_all(ds, path, key)
    meta_sop = str(getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", "") or "")
    sop_class = str(ds.get("SOPClassUID", "") or "") or meta_sop
    if sop_class == MEDIA_DIRECTORY_SOP or "DirectoryRecordSequence" in ds:
        raise NotAnImage("DICOMDIR (a media index, not an image)")
    if sop_class.startswith(NON_IMAGE_SOP_PREFIXES):
        raise NotAnImage(f"not an image ({UID(sop_class).name})")
    image_type = tuple(str(v).upper() for v in (ds.get("ImageType") or ()))
    if "LOCALIZER" in image_type:
        raise NotAnImage("localizer/scout image")
    if sop_class.startswith(SECONDARY_CAPTURE_PREFIX):
        raise NotAnImage("secondary capture (a screenshot, not a measured slice)")
    claims = _claims_slice(ds, sop_class)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        if claims:
            raise DamagedFile(path, "no pixel data (truncated, or the pixel data element is missing)", key)
        raise NotAnImage("no pixel data")
    for tag in ("Rows", "Columns"):
        if ds.get(tag) in (None, ""):
            if claims:
                raise DamagedFile(path, f"no {tag}", key)
            raise NotAnImage(f"no {tag}")
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise NotAnImage(f"colour image (SamplesPerPixel {ds.SamplesPerPixel}), not a volume slice")
    why = check_pixel_module(ds)
    if why:
        raise DamagedFile(path, why, key)
    common = _common(ds, path, sop_class, image_type)
    if common["frames"] < 1:
        raise DamagedFile(path, f"NumberOfFrames {ds.get('NumberOfFrames')!r} is not plausible", key)
    _check_pixel_length(ds, path, key, common)
    if "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds:
        return frame_headers(ds, common)
    if common["frames"] > 1:
        raise NotAnImage("multi-frame image without per-frame functional groups (frames cannot be placed)")
    missing = [t for t in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing") if ds.get(t) in (None, "")]
    if missing:
        reason = f"no {', '.join(missing)}, so it cannot be placed in a volume"
        if sop_class in VOLUME_SOP_CLASSES:
            raise DamagedFile(path, reason, key)
        raise NotAnImage(reason)
    rescale = rescale_of(ds)
    position, orientation, spacing, notes = plane_geometry(path, key, ds.ImagePositionPatient,
                                                           ds.ImageOrientationPatient, ds.PixelSpacing, rescale)
    if common["modality"] == "CT" or (not common["modality"] and sop_class in CT_SOP_CLASSES):
        absent = [t for t in ("RescaleIntercept", "RescaleSlope") if ds.get(t) in (None, "")]
        if absent:
            notes += (f"{' and '.join(absent)} missing on a CT slice; taken as "
                      f"{', '.join({'RescaleIntercept': '0', 'RescaleSlope': '1'}[t] for t in absent)}, "
                      "so the values may not be HU",)
    return [SliceHeader(position=position, orientation=orientation, pixel_spacing=spacing, rescale=rescale,
                        slice_thickness=_thickness(ds), notes=notes, **common)]


def _check_pixel_length(ds: pydicom.Dataset, path: Path, key: str | None, common: dict) -> None:
    """A file cannot hold more pixels than it has bytes: refuse such headers before anything is allocated."""
    size = path.stat().st_size
    frames, rows, columns = common["frames"], common["rows"], common["columns"]
    if frames > size:
        raise DamagedFile(path, f"NumberOfFrames {frames} is more than the file's {size} bytes could hold", key)
    syntax = UID(str(getattr(ds, "file_meta", {}).get("TransferSyntaxUID", "") or "1.2.840.10008.1.2"))
    if "PixelData" not in ds or syntax.is_compressed or syntax == "1.2.840.10008.1.2.1.99":
        return
    expected = rows * columns * frames * int(ds.get("BitsAllocated", 16)) // 8
    if expected > size:
        raise DamagedFile(path, f"the pixel data is truncated: {frames} frame(s) of {rows}x{columns} need "
                                f"{expected} bytes, the file has {size}", key)


def _thickness(ds) -> float | None:
    value = number(ds, "SliceThickness")
    return value if value is not None and np.isfinite(value) and 0 < value < 1e4 else None


def read_failure(path: Path, exc: BaseException) -> tuple[str | None, DamagedFile | None]:
    """What an exception while reading ``path`` means: (reason to skip it, or the damage)."""
    if isinstance(exc, NotAnImage):
        return str(exc), None
    if isinstance(exc, DamagedFile):
        return None, exc
    if isinstance(exc, InvalidDicomError):
        return "not a DICOM file", None
    if isinstance(exc, OSError):
        return None, DamagedFile(path, f"cannot be read ({exc.strerror or exc})")
    marked = _has_dicm_marker(path)
    if marked or dicom_like_name(path):
        return None, DamagedFile(path, f"unreadable DICOM header ({type(exc).__name__}: {str(exc)[:160]})")
    return f"unreadable DICOM header ({type(exc).__name__})", None


def _has_dicm_marker(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def try_read_headers(path: Path) -> tuple[list[SliceHeader], str | None, DamagedFile | None]:
    """Like :func:`read_headers` but never raises: ``(headers, None, None)``, ``([], reason to skip,
    None)`` or ``([], None, damage)``. Only regular files are opened (a FIFO would block)."""
    path = Path(path)
    try:
        info = path.stat()
    except OSError as exc:
        if path.is_symlink():
            return [], None, DamagedFile(path, "a link to a file that does not exist")
        return [], None, DamagedFile(path, f"cannot be read ({exc.strerror or exc})")
    if not stat.S_ISREG(info.st_mode):
        return [], "not a regular file (a pipe, socket or device)", None
    if info.st_size == 0:
        if dicom_like_name(path):
            return [], None, DamagedFile(path, "empty file (0 bytes)")
        return [], "empty file", None
    if not os.access(path, os.R_OK):
        return [], None, DamagedFile(path, "cannot be read (permission denied)")
    try:
        return read_headers(path), None, None
    except MemoryError:
        return [], None, DamagedFile(path, "a header element claims more memory than there is")
    except Exception as exc:  # noqa: BLE001 (a header parser meets every kind of broken input)
        reason, damage = read_failure(path, exc)
        return [], reason, damage
