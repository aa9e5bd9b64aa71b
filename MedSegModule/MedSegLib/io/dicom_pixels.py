"""Decode slices and turn stored values into HU (CT) or modality-LUT values (other modalities).

Rescale slope and intercept are applied per slice: they may differ between slices of one
series, and taking the first slice's values for all (as SimpleITK's series reader does for the
pixel type) silently corrupts such series.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pydicom

from ..errors import DicomDecodeError
from ..labels import AIR_HU, OUT_OF_FIELD_HU
from ..steps import CancelEvent, Progress, check_cancel, report
from .dicom_headers import SliceHeader


def _stored_values(ds: pydicom.Dataset) -> np.ndarray:
    """The stored pixel values with BitsStored honoured (high bits masked, sign extended)."""
    arr = ds.pixel_array
    bits_stored = int(ds.get("BitsStored", arr.dtype.itemsize * 8))
    bits_alloc = int(ds.get("BitsAllocated", arr.dtype.itemsize * 8))
    if bits_stored < bits_alloc and arr.dtype.kind in "iu":
        mask = (1 << bits_stored) - 1
        raw = arr.astype(np.int64) & mask
        if int(ds.get("PixelRepresentation", 0)) == 1:
            sign = 1 << (bits_stored - 1)
            raw = (raw ^ sign) - sign
        return raw
    return arr.astype(np.int64) if arr.dtype.kind in "iu" else arr.astype(np.float64)


def _padding_mask(ds: pydicom.Dataset, raw: np.ndarray) -> np.ndarray | None:
    """Voxels marked as padding by PixelPaddingValue (and PixelPaddingRangeLimit), in stored values."""
    if "PixelPaddingValue" not in ds:
        return None
    value = _as_int(ds.PixelPaddingValue, ds)
    if "PixelPaddingRangeLimit" in ds:
        limit = _as_int(ds.PixelPaddingRangeLimit, ds)
        lo, hi = min(value, limit), max(value, limit)
        return (raw >= lo) & (raw <= hi)
    return raw == value


def _as_int(value, ds: pydicom.Dataset) -> int:
    # US/SS ambiguity: with implicit VR the value can arrive as raw bytes.
    if isinstance(value, (bytes, bytearray)):
        signed = int(ds.get("PixelRepresentation", 0)) == 1
        return int.from_bytes(value[:2], "little", signed=signed)
    return int(value)


def decode_slice(header: SliceHeader, is_ct: bool) -> tuple[np.ndarray, float, float]:
    """Decode one slice to float64 values (y, x) with the modality LUT applied.

    For CT, padding and out-of-field voxels (below ``OUT_OF_FIELD_HU`` after rescale, such as
    −2048) become :data:`AIR_HU`. Returns (values, slope, intercept).
    Raises :class:`DicomDecodeError` naming the file when it is truncated or cannot be decoded.
    """
    try:
        ds = pydicom.dcmread(header.path)
        raw = _stored_values(ds)
    except Exception as exc:  # pydicom and its plugins raise many types for broken data
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = reason.split(" - ")[0]  # pydicom appends long speculation after " - "
        raise DicomDecodeError(f"{header.path}: cannot decode the pixel data ({reason[:200]})") from None
    if raw.shape != (header.rows, header.columns):
        raise DicomDecodeError(f"{header.path}: pixel data is {raw.shape}, header says "
                               f"{header.rows}x{header.columns}")
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    values = raw * slope + intercept
    if is_ct:
        pad = _padding_mask(ds, raw)
        if pad is not None:
            values[pad] = AIR_HU
        values[values < OUT_OF_FIELD_HU] = AIR_HU
    return values, slope, intercept


def decode_series(slices: list[SliceHeader], is_ct: bool, progress: Progress | None = None,
                  cancel: CancelEvent = None, workers: int | None = None) -> tuple[np.ndarray, dict]:
    """Decode sorted slices into one (z, y, x) array, in a thread pool.

    The dtype is int16 when every slice's rescale is integral and the values fit, else float32.
    Returns (array, facts) where facts records the rescale values seen and the out-of-field count.
    """
    out = np.empty((len(slices), slices[0].rows, slices[0].columns), dtype=np.float32)
    rescales: set[tuple[float, float]] = set()
    workers = workers or min(8, (os.cpu_count() or 2) * 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(decode_slice, s, is_ct) for s in slices]
        try:
            for k, fut in enumerate(futures):
                check_cancel(cancel)
                values, slope, intercept = fut.result()
                out[k] = values
                rescales.add((slope, intercept))
                report(progress, (k + 1) / len(slices), "decoding slices")
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    integral = all(float(s).is_integer() and float(i).is_integer() for s, i in rescales)
    if integral and out.size and out.min() >= -32768 and out.max() <= 32767:
        out = out.astype(np.int16)
    facts = {"rescale": sorted(rescales), "per_slice_rescale": len(rescales) > 1}
    return out, facts
