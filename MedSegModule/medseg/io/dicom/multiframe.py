"""Enhanced / multi-frame images: one :class:`SliceHeader` per frame, from the functional groups.

Each frame's facts come from its item of PerFrameFunctionalGroupsSequence, falling back to
SharedFunctionalGroupsSequence, then to the top-level tags (Legacy Converted Enhanced images
sometimes keep them there):

- PlanePositionSequence → ImagePositionPatient (x, y, z) LPS mm;
- PlaneOrientationSequence → ImageOrientationPatient (row then column cosines);
- PixelMeasuresSequence → PixelSpacing (row, column) mm and SliceThickness mm;
- PixelValueTransformationSequence → RescaleSlope / RescaleIntercept (per frame: they may differ);
- FrameContentSequence / FrameType (CTImageFrameTypeSequence) → localizer frames are dropped.
"""

from __future__ import annotations

import numpy as np
import pydicom

from .slice_header import DamagedFile, NotAnImage, SliceHeader, number, plane_geometry, rescale_of


def _item(ds: pydicom.Dataset, frame_item, seq: str):
    """The first item of functional group ``seq`` for a frame: per-frame, else shared, else None."""
    for source in (frame_item, _shared(ds)):
        if source is not None and seq in source and len(source[seq].value):
            return source[seq].value[0]
    return None


def _shared(ds: pydicom.Dataset):
    seq = ds.get("SharedFunctionalGroupsSequence")
    return seq[0] if seq else None


def _values(item, tag: str, ds: pydicom.Dataset, n: int):
    """The raw value of ``tag`` from a group item, else from the top level; None when absent.

    :func:`~.slice_header.plane_geometry` checks that it holds ``n`` finite numbers.
    """
    for source in (item, ds):
        value = source.get(tag) if source is not None else None
        if value not in (None, ""):
            return value
    return None


def _frame_type(ds: pydicom.Dataset, frame_item) -> tuple[str, ...]:
    for seq in ("CTImageFrameTypeSequence", "MRImageFrameTypeSequence"):
        item = _item(ds, frame_item, seq)
        if item is not None and item.get("FrameType"):
            return tuple(str(v).upper() for v in item.FrameType)
    return ()


def frame_headers(ds: pydicom.Dataset, common: dict) -> list[SliceHeader]:
    """One header per frame of an Enhanced / multi-frame dataset, frame index in ``frame``.

    Raises :class:`DamagedFile` when a frame cannot be placed (no position, orientation or spacing,
    or values that are not plausible) and :class:`NotAnImage` when every frame is a localizer.
    """
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    n = common["frames"]
    if per_frame and len(per_frame) != n:
        raise DamagedFile(common["path"], f"PerFrameFunctionalGroupsSequence has {len(per_frame)} items for "
                                          f"{n} frames", common["series_uid"])
    headers = []
    for k in range(n):
        item = per_frame[k] if per_frame else None
        if "LOCALIZER" in _frame_type(ds, item):
            continue  # a localizer frame inside a volume file: never part of the volume
        pos = _values(_item(ds, item, "PlanePositionSequence"), "ImagePositionPatient", ds, 3)
        iop = _values(_item(ds, item, "PlaneOrientationSequence"), "ImageOrientationPatient", ds, 6)
        measures = _item(ds, item, "PixelMeasuresSequence")
        spacing = _values(measures, "PixelSpacing", ds, 2)
        if pos is None or iop is None or spacing is None:
            missing = [name for name, v in (("position", pos), ("orientation", iop), ("pixel spacing", spacing))
                       if v is None]
            raise DamagedFile(common["path"], f"multi-frame image: frame {k + 1} has no {', '.join(missing)}, "
                                              "so it cannot be placed", common["series_uid"])
        transform = _item(ds, item, "PixelValueTransformationSequence")
        rescale = rescale_of(transform, rescale_of(ds)) if transform is not None else rescale_of(ds)
        thickness = number(measures, "SliceThickness", number(ds, "SliceThickness"))
        if thickness is not None and not (np.isfinite(thickness) and 0 < thickness < 1e4):
            thickness = None
        position, orientation, px, notes = plane_geometry(common["path"], common["series_uid"], pos, iop, spacing,
                                                          rescale, where=f"frame {k + 1}")
        headers.append(SliceHeader(position=position, orientation=orientation, pixel_spacing=px, frame=k,
                                   rescale=rescale, slice_thickness=thickness, notes=notes, **common))
    if not headers:
        raise NotAnImage("localizer/scout image (every frame's FrameType says LOCALIZER)")
    return headers
