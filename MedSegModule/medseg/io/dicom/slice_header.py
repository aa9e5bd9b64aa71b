"""One slice's header facts (:class:`SliceHeader`) and the tag readers the header modules share.

:mod:`.headers` reads classic single-frame files and dispatches Enhanced (multi-frame) files to
:mod:`.multiframe`; both build :class:`SliceHeader` records from the pieces here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom

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
    is read as 1.
    """
    slope = number(item, "RescaleSlope", default[0]) or 1.0
    return float(slope), float(number(item, "RescaleIntercept", default[1]))
