"""One slice's header facts (:class:`SliceHeader`) and the tag readers the header modules share.

:mod:`.headers` reads classic single-frame files and dispatches Enhanced (multi-frame) files to
:mod:`.multiframe`; both build :class:`SliceHeader` records from the pieces here.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.multival import MultiValue

from ...errors import DicomDecodeError

#: SOP classes of images whose values are HU after the modality LUT.
CT_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2",      # CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.1",    # Enhanced CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.2",    # Legacy Converted Enhanced CT
}
#: SOP classes whose instances are volume slices (CT, MR, PET, their Enhanced and Legacy forms): such
#: a file without pixel data or placement is a damaged slice, not some other object to skip.
VOLUME_SOP_CLASSES = CT_SOP_CLASSES | {
    "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.4.4",
    "1.2.840.10008.5.1.4.1.1.128", "1.2.840.10008.5.1.4.1.1.130", "1.2.840.10008.5.1.4.1.1.128.1",
}
#: SOP classes that are never volume slices: structured reports, RT objects, segmentations, ...
NON_IMAGE_SOP_PREFIXES = ("1.2.840.10008.5.1.4.1.1.88", "1.2.840.10008.5.1.4.1.1.481", "1.2.840.10008.5.1.4.1.1.66")
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
MEDIA_DIRECTORY_SOP = "1.2.840.10008.1.3.10"
DERIVED_SECONDARY = "derived secondary image (ImageType DERIVED\\SECONDARY: a post-processed copy)"


class NotAnImage(Exception):
    """A readable DICOM file that is not a volume slice; the message is the reason it is skipped."""


class DamagedFile(DicomDecodeError):
    """A file that is (or claims to be) a slice but cannot be used as one: truncated, unreadable, no
    pixel data, impossible geometry or rescale values. Loading a series with a damaged member is an
    error unless damaged slices are skipped (``--skip-damaged``), then they are interpolated over.

    ``series_uid`` is the series it belongs to when its header says (None: unknown, so it counts
    against whichever series is loaded); ``position`` its ImagePositionPatient when readable.
    """

    def __init__(self, path, reason: str, series_uid: str | None = None, position=None):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason, self.series_uid, self.position = Path(path), reason, series_uid, position


#: Plausible ranges of header values; outside them a slice is damaged, not a bigger or finer volume.
POSITION_LIMIT_MM = 1e5       # |ImagePositionPatient| components: 100 m, far past any scanner
PIXEL_SPACING_MM = (1e-3, 1e2)
RESCALE_SLOPE = (1e-6, 1e6)   # |RescaleSlope|
RESCALE_INTERCEPT = 1e6       # |RescaleIntercept|
#: ImageOrientationPatient: cosines off unit length or orthogonality by more than this are refused...
ORIENTATION_REFUSE = 0.05
#: ...by more than this corrected (orthonormalised) with a warning; below it, DS rounding, silently.
ORIENTATION_WARN = 1e-3
BITS_ALLOCATED = (8, 16, 32, 64)
MIN_BITS_STORED = 8


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
    #: What was corrected or assumed in this slice's header (said as series warnings).
    notes: tuple[str, ...] = ()

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


def series_key(ds: pydicom.Dataset) -> str:
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
    is read as 1. :func:`check_rescale` refuses values that are not finite or not plausible.
    """
    slope = number(item, "RescaleSlope", default[0]) or 1.0
    return float(slope), float(number(item, "RescaleIntercept", default[1]))


def check_rescale(rescale: tuple[float, float]) -> str | None:
    """Why (slope, intercept) cannot be a modality LUT, or None when it can."""
    slope, intercept = rescale
    if not (math.isfinite(slope) and math.isfinite(intercept)):
        return f"RescaleSlope/RescaleIntercept {slope:g}/{intercept:g} are not finite numbers"
    if not RESCALE_SLOPE[0] <= abs(slope) <= RESCALE_SLOPE[1]:
        return f"RescaleSlope {slope:g} is not plausible (|slope| must lie in {RESCALE_SLOPE[0]:g}..{RESCALE_SLOPE[1]:g})"
    if abs(intercept) > RESCALE_INTERCEPT:
        return f"RescaleIntercept {intercept:g} is not plausible (|intercept| must be <= {RESCALE_INTERCEPT:g})"
    return None


def floats(value, n: int, tag: str) -> np.ndarray:
    """``value`` as exactly ``n`` finite floats; :class:`ValueError` saying what is wrong otherwise."""
    try:
        values = [float(v) for v in (value if isinstance(value, (list, tuple, MultiValue)) else [value])]
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{tag} is not numeric ({str(value)[:60]!r})") from None
    if len(values) != n:
        raise ValueError(f"{tag} has {len(values)} value(s), needs {n}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{tag} holds a value that is not a finite number ({values})")
    return np.array(values, dtype=np.float64)


def check_position(position: np.ndarray) -> str | None:
    """Why an ImagePositionPatient (x, y, z) mm is not plausible, or None."""
    if np.max(np.abs(position)) > POSITION_LIMIT_MM:
        return (f"ImagePositionPatient {[float(f'{v:.6g}') for v in position]} lies more than "
                f"{POSITION_LIMIT_MM:g} mm from the origin")
    return None


def check_spacing(spacing: np.ndarray, tag: str = "PixelSpacing") -> str | None:
    """Why a (row, column) pixel spacing in mm is not plausible, or None."""
    lo, hi = PIXEL_SPACING_MM
    if not np.all((spacing >= lo) & (spacing <= hi)):
        return f"{tag} {[float(f'{v:.6g}') for v in spacing]} mm is not plausible (must lie in {lo:g}..{hi:g} mm)"
    return None


def orthonormal(orientation: np.ndarray) -> tuple[np.ndarray, str | None]:
    """ImageOrientationPatient made orthonormal, and a note when it had to be corrected.

    Raises :class:`ValueError` when the cosines are degenerate (zero, parallel) or off unit length
    or orthogonality by more than :data:`ORIENTATION_REFUSE`.
    """
    row, col = orientation[:3], orientation[3:]
    nr, nc = float(np.linalg.norm(row)), float(np.linalg.norm(col))
    if nr < 0.5 or nc < 0.5:
        raise ValueError(f"ImageOrientationPatient {list(orientation)} has a (near) zero direction")
    dot = float(np.dot(row / nr, col / nc))
    off = max(abs(nr - 1.0), abs(nc - 1.0), abs(dot))
    if off > ORIENTATION_REFUSE:
        raise ValueError(f"ImageOrientationPatient {[float(f'{v:.6g}') for v in orientation]} is not orthonormal "
                         f"(off by {off:.3g}; at most {ORIENTATION_REFUSE:g} can be corrected)")
    row = row / nr
    col = col - np.dot(col, row) * row
    col = col / np.linalg.norm(col)
    note = None
    if off > ORIENTATION_WARN:
        note = (f"ImageOrientationPatient was not orthonormal (off by up to {off:.3g}); "
                "corrected to the nearest orthonormal directions")
    return np.concatenate([row, col]), note


def check_pixel_module(ds) -> str | None:
    """Why the image pixel module (rows, columns, bits) cannot hold volume slices, or None."""
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        allocated = int(ds.get("BitsAllocated", 16))
        stored = int(ds.get("BitsStored", allocated))
        representation = int(ds.get("PixelRepresentation", 0) or 0)
    except (TypeError, ValueError, AttributeError):
        return "Rows/Columns/Bits* are not whole numbers"
    if rows < 1 or columns < 1:
        return f"Rows x Columns {rows}x{columns} is empty"
    if allocated not in BITS_ALLOCATED:
        return f"BitsAllocated {allocated} is not one of {', '.join(map(str, BITS_ALLOCATED))}"
    if not MIN_BITS_STORED <= stored <= allocated:
        return f"BitsStored {stored} is not plausible (must lie in {MIN_BITS_STORED}..BitsAllocated {allocated})"
    if representation not in (0, 1):
        return f"PixelRepresentation {representation} is neither 0 nor 1"
    return None


def plane_geometry(path, series_uid: str | None, position, orientation, spacing, rescale: tuple[float, float],
                   where: str = "") -> tuple[np.ndarray, np.ndarray, tuple[float, float], tuple[str, ...]]:
    """Validated (position, orientation, pixel spacing, notes) of one slice from its raw tag values.

    Raises :class:`DamagedFile` (naming ``path`` and, for a frame, ``where``) when a value is
    missing its numbers, not finite or outside the plausible ranges above. An orientation a little
    off orthonormal is corrected, and the note says so.
    """
    prefix = f"{where}: " if where else ""
    try:
        pos = floats(position, 3, "ImagePositionPatient")
        iop, note = orthonormal(floats(orientation, 6, "ImageOrientationPatient"))
        px = floats(spacing, 2, "PixelSpacing")
    except ValueError as exc:
        raise DamagedFile(path, prefix + str(exc), series_uid) from None
    why = check_position(pos) or check_spacing(px) or check_rescale(rescale)
    if why:
        raise DamagedFile(path, prefix + why, series_uid, pos if check_position(pos) is None else None)
    return pos, iop, (float(px[0]), float(px[1])), (note,) if note else ()
