"""Write an HU volume as one Enhanced CT Image Storage file (multi-frame, functional groups).

One frame per slice. Facts every frame shares go in SharedFunctionalGroupsSequence (pixel
measures, and the orientation and rescale when they are common); each frame's own facts go in its
PerFrameFunctionalGroupsSequence item: FrameContentSequence (stack position), PlanePositionSequence
(ImagePositionPatient, LPS mm), and PixelValueTransformationSequence when the rescale differs
between frames (or ``per_frame_rescale``) and PlaneOrientationSequence with ``per_frame_orientation``.
Frames may be stored out of position order (``frame_order``): a reader must sort by position.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import EnhancedCTImageStorage, ExplicitVRLittleEndian

from .dicom_codecs import save_dataset, set_pixel_data
from .dicom_writer import (
    IDENTITY, _direction_matrix, _ds, _uid, base_dataset,
    per_slice, pixel_module, series_uids, slice_positions, stored_values,
)

FRAME_ORDERS = ("ascending", "reversed", "random")


def _item(**attrs) -> Dataset:
    item = Dataset()
    for key, value in attrs.items():
        setattr(item, key, value)
    return item


def _rescale_item(slope: float, intercept: float) -> Dataset:
    return _item(RescaleIntercept=_ds(intercept), RescaleSlope=_ds(slope), RescaleType="HU")


def write_enhanced_ct(
    hu: np.ndarray,
    spacing: Sequence[float],
    origin: Sequence[float],
    path: str | os.PathLike,
    *,
    direction=IDENTITY,
    positions=None,
    rescale_intercept=-1024,
    rescale_slope=1,
    per_frame_rescale: bool = False,
    per_frame_orientation: bool = False,
    frame_order: str = "ascending",
    bits_stored: int = 16,
    pixel_representation: int | None = None,
    pixel_padding_value: int | None = None,
    padding_mask: np.ndarray | None = None,
    seed: int = 0,
    series_description: str = "MedSeg phantom (enhanced CT)",
    series_number: int = 1,
    study_uid: str | None = None,
    series_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    patient_id: str = "PHANTOM",
    body_part: str = "CHEST",
    window: tuple[float, float] = (40.0, 400.0),
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> Path:
    """Write ``hu`` (z, y, x) as one Enhanced CT file at ``path``; same geometry arguments as
    :func:`.dicom_writer.write_ct_series` (``spacing`` (z, y, x) mm, ``origin`` LPS mm, ``positions``
    (z, 3) LPS mm per slice). ``rescale_*`` may be one value or one per slice. Returns ``path``.
    """
    hu = np.asarray(hu)
    if hu.ndim != 3:
        raise ValueError(f"hu must be a (z, y, x) array, got shape {hu.shape}")
    if frame_order not in FRAME_ORDERS:
        raise ValueError(f"frame_order must be one of {FRAME_ORDERS}, got {frame_order!r}")
    nz, ny, nx = hu.shape
    sz, sy, sx = (float(s) for s in spacing)
    d = _direction_matrix(direction)
    iop = [_ds(v) for v in (*d[:, 0], *d[:, 1])]
    ipps = slice_positions(origin, sz, nz, d[:, 2], positions)
    slopes, intercepts = per_slice(rescale_slope, nz, "rescale_slope"), per_slice(rescale_intercept, nz, "rescale_intercept")
    stored, pixel_representation = stored_values(hu, slopes, intercepts, bits_stored, pixel_representation,
                                                 padding_mask, pixel_padding_value)
    study_uid, series_uid, frame_uid = series_uids(seed, patient_id, hu.shape, (sz, sy, sx), origin,
                                                   series_description, series_number, study_uid, series_uid,
                                                   frame_of_reference_uid)
    order = np.arange(nz)
    if frame_order == "reversed":
        order = order[::-1]
    elif frame_order == "random":
        order = np.random.default_rng([seed, 104729]).permutation(nz)
    ds = base_dataset(EnhancedCTImageStorage, _uid("sop", series_uid, "enhanced"), study_uid=study_uid,
                      series_uid=series_uid, frame_of_reference_uid=frame_uid, series_description=series_description,
                      series_number=series_number, patient_id=patient_id, body_part=body_part)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.InstanceNumber = 1
    ds.AcquisitionNumber = 1
    ds.AcquisitionDateTime = "20240101120000"
    ds.ContentQualification = "PRODUCT"
    ds.PixelPresentation = "MONOCHROME"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.BurnedInAnnotation = "NO"
    ds.PresentationLUTShape = "IDENTITY"
    ds.KVP = "120"
    ds.NumberOfFrames = nz
    pixel_module(ds, ny, nx, bits_stored, pixel_representation)
    if pixel_padding_value is not None:
        ds.PixelPaddingValue = int(pixel_padding_value)

    dim_uid = _uid("dimensions", series_uid)
    ds.DimensionOrganizationSequence = DicomSequence([_item(DimensionOrganizationUID=dim_uid)])
    ds.DimensionIndexSequence = DicomSequence([
        _item(DimensionOrganizationUID=dim_uid, DimensionIndexPointer=Tag("StackID"),
              FunctionalGroupPointer=Tag("FrameContentSequence")),
        _item(DimensionOrganizationUID=dim_uid, DimensionIndexPointer=Tag("InStackPositionNumber"),
              FunctionalGroupPointer=Tag("FrameContentSequence")),
    ])
    varying_rescale = per_frame_rescale or len({(s, i) for s, i in zip(slopes, intercepts)}) > 1
    shared = _item(
        PixelMeasuresSequence=DicomSequence([_item(PixelSpacing=[_ds(sy), _ds(sx)], SliceThickness=_ds(sz))]),
        FrameVOILUTSequence=DicomSequence([_item(WindowCenter=_ds(window[0]), WindowWidth=_ds(window[1]))]),
        CTImageFrameTypeSequence=DicomSequence([_item(FrameType=["ORIGINAL", "PRIMARY", "AXIAL", "NONE"],
                                                      PixelPresentation="MONOCHROME", VolumetricProperties="VOLUME",
                                                      VolumeBasedCalculationTechnique="NONE")]),
    )
    if not per_frame_orientation:
        shared.PlaneOrientationSequence = DicomSequence([_item(ImageOrientationPatient=iop)])
    if not varying_rescale:
        shared.PixelValueTransformationSequence = DicomSequence([_rescale_item(slopes[0], intercepts[0])])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    frames = []
    for k in order:
        item = _item(
            FrameContentSequence=DicomSequence([_item(StackID="1", InStackPositionNumber=int(k) + 1,
                                                      DimensionIndexValues=[1, int(k) + 1])]),
            PlanePositionSequence=DicomSequence([_item(ImagePositionPatient=[_ds(v) for v in ipps[k]])]),
        )
        if per_frame_orientation:
            item.PlaneOrientationSequence = DicomSequence([_item(ImageOrientationPatient=iop)])
        if varying_rescale:
            item.PixelValueTransformationSequence = DicomSequence([_rescale_item(slopes[k], intercepts[k])])
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(frames)
    set_pixel_data(ds, np.ascontiguousarray(stored[order]), transfer_syntax)
    return save_dataset(ds, path, transfer_syntax)
