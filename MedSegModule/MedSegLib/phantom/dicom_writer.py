"""Write an HU volume and its geometry as a real, single-frame CT Image Storage series.

Generic: any (z, y, x) int16 HU array with LPS geometry. The knobs exist to build awkward test
series on purpose: shuffled file names, wrong InstanceNumbers (the loader must sort by position),
12-bit storage, signed stored values, PixelPaddingValue, other transfer syntaxes.

Every file goes through :func:`MedSegLib.io.atomic.atomic_output`. UIDs are derived from the seed
and the content description, so the same call writes byte-identical files.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Sequence

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    PYDICOM_IMPLEMENTATION_UID,
    UID,
)

from ..io.atomic import atomic_output

#: Uncompressed transfer syntaxes written natively; any other one is handed to ``Dataset.compress``
#: (RLE Lossless works with pydicom alone; JPEG-LS / JPEG 2000 need their encoder plugins).
NATIVE_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

INSTANCE_ORDERS = ("ascending", "reversed", "random")


def _direction_matrix(direction) -> np.ndarray:
    """3x3 matrix whose columns are the x (column), y (row) and z (slice) index axes, in LPS.

    Accepts a 3x3 array-like or 9 numbers in SimpleITK's row-major order (the same matrix).
    """
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    if not np.allclose(d.T @ d, np.eye(3), atol=1e-6):
        raise ValueError(f"direction is not orthonormal: {d.tolist()}")
    return d


_UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/medseg/phantom")


def _uid(*parts) -> UID:
    """A deterministic UUID-derived (2.25.) UID from ``parts``.

    ``generate_uid(prefix=None, ...)`` ignores its entropy sources and is random, hence UUID v5.
    """
    return UID(f"2.25.{uuid.uuid5(_UID_NAMESPACE, '|'.join(map(str, parts))).int}")


def _ds(value: float) -> str:
    """A DS string (at most 16 characters) without float noise such as 2.7343750000000004."""
    text = f"{float(value):.10g}"
    if len(text) > 16:
        text = f"{float(value):.8g}"
    return text


def _stored_values(hu: np.ndarray, slope: float, intercept: float, bits_stored: int,
                   pixel_representation: int | None, padding_mask, padding_value):
    """HU -> stored integers; picks/validates the pixel representation. Returns (array, repr)."""
    stored = np.rint((hu.astype(np.float64) - intercept) / slope).astype(np.int64)
    if padding_mask is not None:
        stored[np.asarray(padding_mask, dtype=bool)] = padding_value
    lo, hi = int(stored.min()), int(stored.max())
    if pixel_representation is None:
        pixel_representation = 1 if lo < 0 else 0
    if pixel_representation == 0:
        low, high = 0, 2 ** bits_stored - 1
    else:
        low, high = -(2 ** (bits_stored - 1)), 2 ** (bits_stored - 1) - 1
    if lo < low or hi > high:
        kind = "signed" if pixel_representation else "unsigned"
        raise ValueError(f"stored values {lo}..{hi} do not fit {bits_stored} bits {kind}; "
                         "change rescale_intercept, bits_stored or pixel_representation")
    dtype = np.int16 if pixel_representation else np.uint16
    return stored.astype(dtype), pixel_representation


def write_ct_series(
    hu: np.ndarray,
    spacing: Sequence[float],
    origin: Sequence[float],
    out_dir: str | os.PathLike,
    *,
    direction=IDENTITY,
    series_uid: str | None = None,
    study_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    series_description: str = "MedSeg phantom",
    series_number: int = 1,
    patient_id: str = "PHANTOM",
    patient_name: str = "Phantom^MedSeg",
    body_part: str = "CHEST",
    patient_position: str = "HFS",
    seed: int = 0,
    shuffle_names: bool = False,
    instance_numbers: str = "ascending",
    rescale_intercept: float = -1024,
    rescale_slope: float = 1,
    bits_stored: int = 16,
    pixel_representation: int | None = None,
    pixel_padding_value: int | None = None,
    padding_mask: np.ndarray | None = None,
    window: tuple[float, float] = (40.0, 400.0),
    kvp: float = 120.0,
    convolution_kernel: str = "STANDARD",
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> list[Path]:
    """Write ``hu`` (z, y, x) as one CT series of single-frame files in ``out_dir``.

    ``spacing`` is (z, y, x) mm, ``origin`` the (x, y, z) LPS position of voxel (0, 0, 0) and
    ``direction`` the index-axis cosines (columns of a 3x3, SimpleITK order). Slice ``k`` lies at
    ``origin + k * spacing_z * normal``. Stored value = round((HU - intercept) / slope);
    ``pixel_representation`` None picks unsigned unless a stored value is negative.
    ``pixel_padding_value`` (a stored value) is written as PixelPaddingValue, and where
    ``padding_mask`` is true the pixels hold it. ``instance_numbers`` is "ascending" (along the
    normal), "reversed" or "random"; ``shuffle_names`` names files by random hex instead of
    ``IM0000.dcm``. Returns the paths in slice (position) order.
    """
    hu = np.asarray(hu)
    if hu.ndim != 3:
        raise ValueError(f"hu must be a (z, y, x) array, got shape {hu.shape}")
    if instance_numbers not in INSTANCE_ORDERS:
        raise ValueError(f"instance_numbers must be one of {INSTANCE_ORDERS}, got {instance_numbers!r}")
    if bits_stored not in (12, 16):
        raise ValueError(f"bits_stored must be 12 or 16, got {bits_stored}")
    if padding_mask is not None:
        if pixel_padding_value is None:
            raise ValueError("padding_mask needs pixel_padding_value")
        if np.shape(padding_mask) != hu.shape:
            raise ValueError(f"padding_mask shape {np.shape(padding_mask)} differs from hu {hu.shape}")
    nz, ny, nx = hu.shape
    sz, sy, sx = (float(s) for s in spacing)
    d = _direction_matrix(direction)
    row_cos, col_cos, normal = d[:, 0], d[:, 1], d[:, 2]
    origin = np.asarray(origin, dtype=float)

    stored, pixel_representation = _stored_values(hu, rescale_slope, rescale_intercept, bits_stored,
                                                  pixel_representation, padding_mask, pixel_padding_value)

    key = (int(seed), patient_id, tuple(hu.shape), (sz, sy, sx), tuple(round(float(o), 4) for o in origin))
    study_uid = study_uid or _uid("study", *key)
    series_uid = series_uid or _uid("series", series_description, series_number, *key)
    frame_of_reference_uid = frame_of_reference_uid or _uid("frame", study_uid, series_uid)
    rng = np.random.default_rng([seed, 7919])
    numbers = np.arange(1, nz + 1)
    if instance_numbers == "reversed":
        numbers = numbers[::-1]
    elif instance_numbers == "random":
        numbers = rng.permutation(numbers)
    if shuffle_names:
        names = [f"{int(v):016x}" for v in rng.integers(0, 2 ** 63, size=nz)]
        if len(set(names)) != nz:  # practically never, but names must not collide
            names = [f"{n}{k:04d}" for k, n in enumerate(names)]
    else:
        names = [f"IM{k:04d}.dcm" for k in range(nz)]

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(nz):
        ipp = origin + k * sz * normal
        sop_uid = _uid("sop", series_uid, k)
        ds = Dataset()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian if transfer_syntax not in NATIVE_SYNTAXES else transfer_syntax
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        meta.ImplementationVersionName = "MEDSEG_PHANTOM"
        ds.file_meta = meta
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop_uid
        # Patient / study / series / equipment: a phantom, no real person's data.
        ds.PatientName = patient_name
        ds.PatientID = patient_id
        ds.PatientBirthDate = ""
        ds.PatientSex = "O"
        ds.StudyInstanceUID = study_uid
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20240101"
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
        ds.StudyID = "1"
        ds.AccessionNumber = ""
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = "MedSeg phantom study"
        ds.Modality = "CT"
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = int(series_number)
        ds.SeriesDescription = series_description
        ds.BodyPartExamined = body_part
        ds.PatientPosition = patient_position
        ds.Manufacturer = "MedSeg"
        ds.ManufacturerModelName = "Phantom"
        ds.FrameOfReferenceUID = frame_of_reference_uid
        ds.PositionReferenceIndicator = ""
        # Image.
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.InstanceNumber = int(numbers[k])
        ds.AcquisitionNumber = 1
        ds.ImagePositionPatient = [_ds(v) for v in ipp]
        ds.ImageOrientationPatient = [_ds(v) for v in (*row_cos, *col_cos)]
        ds.SliceLocation = _ds(float(ipp @ normal))
        ds.SliceThickness = _ds(sz)
        ds.SpacingBetweenSlices = _ds(sz)
        ds.PixelSpacing = [_ds(sy), _ds(sx)]  # row spacing (between rows), column spacing
        ds.KVP = _ds(kvp)
        ds.ConvolutionKernel = convolution_kernel
        ds.RescaleIntercept = _ds(rescale_intercept)
        ds.RescaleSlope = _ds(rescale_slope)
        ds.RescaleType = "HU"
        ds.WindowCenter = _ds(window[0])
        ds.WindowWidth = _ds(window[1])
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = ny, nx
        ds.BitsAllocated = 16
        ds.BitsStored = bits_stored
        ds.HighBit = bits_stored - 1
        ds.PixelRepresentation = pixel_representation
        if pixel_padding_value is not None:
            ds.PixelPaddingValue = int(pixel_padding_value)
        frame = np.ascontiguousarray(stored[k])
        if transfer_syntax in NATIVE_SYNTAXES:
            ds.PixelData = frame.astype(frame.dtype.newbyteorder("<"), copy=False).tobytes()
            ds["PixelData"].VR = "OW"
        else:
            ds.compress(transfer_syntax, frame, generate_instance_uid=False)
        path = out / names[k]
        with atomic_output(path) as tmp:
            ds.save_as(tmp, enforce_file_format=True)
        paths.append(path)
    return paths
