"""Write an HU volume and its geometry as a real, single-frame CT Image Storage series.

Generic: any (z, y, x) HU array with LPS geometry. The knobs exist to build awkward test series on
purpose: shuffled file names, wrong InstanceNumbers (the loader must sort by position), 8/12-bit
storage, signed stored values, PixelPaddingValue, per-slice rescale, explicit slice positions
(gantry tilt, uneven spacing, missing slices), any transfer syntax this environment can encode
(:mod:`.dicom_codecs`). :func:`base_dataset` holds the patient/study/series/equipment attributes
that the Enhanced (multi-frame) writer and the test variants (:mod:`.dicom_variants`) share.

Every file goes through :func:`medseg.io.atomic.atomic_output`. UIDs are derived from the seed
and the content description, so the same call writes byte-identical files.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Sequence

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, UID

from .dicom_codecs import NATIVE_SYNTAXES, save_dataset, set_pixel_data  # noqa: F401  (NATIVE_SYNTAXES re-exported)

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


def per_slice(value, nz: int, name: str) -> np.ndarray:
    """A scalar or one value per slice, as a float array of length ``nz``."""
    arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (nz,)) if np.ndim(value) == 0 else np.asarray(value, float)
    if arr.shape != (nz,):
        raise ValueError(f"{name} needs one value or {nz} (one per slice), got {arr.shape}")
    if name == "rescale_slope" and np.any(arr == 0):
        raise ValueError("rescale_slope must not be 0")
    return np.array(arr)


def stored_values(hu: np.ndarray, slope, intercept, bits_stored: int, pixel_representation: int | None,
                  padding_mask=None, padding_value=None) -> tuple[np.ndarray, int]:
    """HU (z, y, x) -> stored integers, slope/intercept per slice (arrays of length z) or scalars.

    Picks (None: unsigned unless a value is negative) or validates the pixel representation.
    Returns (array of uint8/int8 for 8 bits, else uint16/int16; pixel representation).
    """
    nz = hu.shape[0]
    slope = per_slice(slope, nz, "rescale_slope")[:, None, None]
    intercept = per_slice(intercept, nz, "rescale_intercept")[:, None, None]
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
    if bits_stored == 8:
        return stored.astype(np.int8 if pixel_representation else np.uint8), pixel_representation
    return stored.astype(np.int16 if pixel_representation else np.uint16), pixel_representation


def series_uids(seed: int, patient_id: str, shape, spacing, origin, description: str, number: int,
                study_uid=None, series_uid=None, frame_of_reference_uid=None) -> tuple[UID, UID, UID]:
    """(study, series, frame of reference) UIDs: the given ones, else derived from the content."""
    key = (int(seed), patient_id, tuple(shape), tuple(float(s) for s in spacing),
           tuple(round(float(o), 4) for o in origin))
    study_uid = study_uid or _uid("study", *key)
    series_uid = series_uid or _uid("series", description, number, *key)
    return study_uid, series_uid, frame_of_reference_uid or _uid("frame", study_uid, series_uid)


def new_dataset(sop_class: str, sop_uid: str) -> Dataset:
    """An empty phantom dataset with its file meta and SOP common module (the transfer syntax is set on save)."""
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "MEDSEG_PHANTOM"
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    return ds


def base_dataset(sop_class: str, sop_uid: str, *, study_uid: str, series_uid: str, frame_of_reference_uid: str,
                 series_description: str, series_number: int, patient_id: str = "PHANTOM",
                 patient_name: str = "Phantom^MedSeg", body_part: str = "CHEST", patient_position: str = "HFS",
                 modality: str = "CT") -> Dataset:
    """File meta + SOP common, patient, study, series, equipment and frame-of-reference modules.

    A phantom: no real person's data. The transfer syntax is set when the file is saved.
    """
    ds = new_dataset(sop_class, sop_uid)
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
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = int(series_number)
    ds.SeriesDescription = series_description
    ds.BodyPartExamined = body_part
    ds.PatientPosition = patient_position
    ds.Manufacturer = "MedSeg"
    ds.ManufacturerModelName = "Phantom"
    ds.FrameOfReferenceUID = frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    return ds


def pixel_module(ds: Dataset, rows: int, columns: int, bits_stored: int, pixel_representation: int) -> None:
    """Image Pixel module attributes of a MONOCHROME2 image (8 or 16 bits allocated)."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(rows), int(columns)
    ds.BitsAllocated = 8 if bits_stored == 8 else 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = pixel_representation


def slice_positions(origin, spacing_z: float, nz: int, normal, positions=None) -> np.ndarray:
    """(nz, 3) ImagePositionPatient: ``positions`` as given, else ``origin + k * spacing_z * normal``."""
    if positions is not None:
        positions = np.asarray(positions, dtype=float)
        if positions.shape != (nz, 3):
            raise ValueError(f"positions must be ({nz}, 3) LPS mm, got {positions.shape}")
        return positions
    return np.asarray(origin, float)[None, :] + np.arange(nz)[:, None] * float(spacing_z) * np.asarray(normal)[None, :]


def write_ct_series(
    hu: np.ndarray,
    spacing: Sequence[float],
    origin: Sequence[float],
    out_dir: str | os.PathLike,
    *,
    direction=IDENTITY,
    positions=None,
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
    rescale_intercept=-1024,
    rescale_slope=1,
    bits_stored: int = 16,
    pixel_representation: int | None = None,
    pixel_padding_value: int | None = None,
    padding_mask: np.ndarray | None = None,
    window: tuple[float, float] = (40.0, 400.0),
    kvp: float = 120.0,
    convolution_kernel: str = "STANDARD",
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "AXIAL"),
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> list[Path]:
    """Write ``hu`` (z, y, x) as one CT series of single-frame files in ``out_dir``.

    ``spacing`` is (z, y, x) mm, ``origin`` the (x, y, z) LPS position of voxel (0, 0, 0) and
    ``direction`` the index-axis cosines (columns of a 3x3, SimpleITK order). Slice ``k`` lies at
    ``origin + k * spacing_z * normal`` unless ``positions`` ((z, 3) LPS mm) gives every slice's
    ImagePositionPatient (tilt, uneven spacing, missing slices: :mod:`.dicom_variants`).
    Stored value = round((HU - intercept) / slope); ``rescale_intercept`` and ``rescale_slope``
    may be one value or one per slice. ``bits_stored`` is 8 (8 bits allocated), 12 or 16;
    ``pixel_representation`` None picks unsigned unless a stored value is negative.
    ``pixel_padding_value`` (a stored value) is written as PixelPaddingValue, and where
    ``padding_mask`` is true the pixels hold it. ``instance_numbers`` is "ascending" (along the
    normal), "reversed" or "random"; ``shuffle_names`` names files by random hex instead of
    ``IM0000.dcm``. ``transfer_syntax`` is any syntax :func:`.dicom_codecs.encoder_missing`
    accepts. Returns the paths in slice (position) order.
    """
    hu = np.asarray(hu)
    if hu.ndim != 3:
        raise ValueError(f"hu must be a (z, y, x) array, got shape {hu.shape}")
    if instance_numbers not in INSTANCE_ORDERS:
        raise ValueError(f"instance_numbers must be one of {INSTANCE_ORDERS}, got {instance_numbers!r}")
    if bits_stored not in (8, 12, 16):
        raise ValueError(f"bits_stored must be 8, 12 or 16, got {bits_stored}")
    if padding_mask is not None:
        if pixel_padding_value is None:
            raise ValueError("padding_mask needs pixel_padding_value")
        if np.shape(padding_mask) != hu.shape:
            raise ValueError(f"padding_mask shape {np.shape(padding_mask)} differs from hu {hu.shape}")
    nz, ny, nx = hu.shape
    sz, sy, sx = (float(s) for s in spacing)
    d = _direction_matrix(direction)
    row_cos, col_cos, normal = d[:, 0], d[:, 1], d[:, 2]
    ipps = slice_positions(origin, sz, nz, normal, positions)
    slopes, intercepts = per_slice(rescale_slope, nz, "rescale_slope"), per_slice(rescale_intercept, nz, "rescale_intercept")
    stored, pixel_representation = stored_values(hu, slopes, intercepts, bits_stored, pixel_representation,
                                                 padding_mask, pixel_padding_value)
    study_uid, series_uid, frame_of_reference_uid = series_uids(
        seed, patient_id, hu.shape, (sz, sy, sx), origin, series_description, series_number,
        study_uid, series_uid, frame_of_reference_uid)
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
        ipp = ipps[k]
        sop_uid = _uid("sop", series_uid, k)
        ds = base_dataset(CTImageStorage, sop_uid, study_uid=study_uid, series_uid=series_uid,
                          frame_of_reference_uid=frame_of_reference_uid, series_description=series_description,
                          series_number=series_number, patient_id=patient_id, patient_name=patient_name,
                          body_part=body_part, patient_position=patient_position)
        ds.ImageType = list(image_type)
        ds.InstanceNumber = int(numbers[k])
        ds.AcquisitionNumber = 1
        ds.ImagePositionPatient = [_ds(v) for v in ipp]
        ds.ImageOrientationPatient = [_ds(v) for v in (*row_cos, *col_cos)]
        ds.SliceLocation = _ds(float(ipp @ normal))
        ds.SliceThickness = _ds(sz)
        if positions is None:  # with explicit positions there is no one spacing to claim
            ds.SpacingBetweenSlices = _ds(sz)
        ds.PixelSpacing = [_ds(sy), _ds(sx)]  # row spacing (between rows), column spacing
        ds.KVP = _ds(kvp)
        ds.ConvolutionKernel = convolution_kernel
        ds.RescaleIntercept = _ds(intercepts[k])
        ds.RescaleSlope = _ds(slopes[k])
        ds.RescaleType = "HU"
        ds.WindowCenter = _ds(window[0])
        ds.WindowWidth = _ds(window[1])
        pixel_module(ds, ny, nx, bits_stored, pixel_representation)
        if pixel_padding_value is not None:
            ds.PixelPaddingValue = int(pixel_padding_value)
        set_pixel_data(ds, np.ascontiguousarray(stored[k]), transfer_syntax)
        path = out / names[k]
        save_dataset(ds, path, transfer_syntax)
        paths.append(path)
    return paths
