"""Decode slices and turn stored values into HU (CT) or modality-LUT values (other modalities).

Rescale slope and intercept are applied per slice (per frame of a multi-frame file): they may
differ between slices of one series, and taking the first slice's values for all (as
SimpleITK's series reader does for the pixel type) silently corrupts such series.

Each file is decoded once, however many frames (slices) it holds.

Compressed pixel data is decoded in-process only by the Python plugins (pylibjpeg, pyjpegls,
pydicom's own RLE, Pillow), the first one available for the syntax; python-gdcm, whose C++
exceptions on a corrupt stream abort the whole process, runs only when nothing else can decode
the syntax, and then in a child process (:func:`_gdcm_in_child`).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pydicom

from ...errors import DicomDecodeError
from ...labels import AIR_HU, OUT_OF_FIELD_HU
from ...limits import check_allocation
from ...progress import CancelEvent, Progress, check_cancel, report
from .compat import generate_frames
from .slice_header import SliceHeader

#: In-process decoders, most trusted first; the first one available for a syntax decodes it.
IN_PROCESS_PLUGINS = ("pydicom", "pylibjpeg", "pyjpegls", "pillow")
#: Seconds the child process running python-gdcm may take for one file.
GDCM_TIMEOUT_S = 120
_GDCM_CHILD = (
    "import sys, numpy as np, pydicom\n"
    "ds = pydicom.dcmread(sys.argv[1])\n"
    "ds.pixel_array_options(decoding_plugin='gdcm')\n"
    "np.save(sys.stdout.buffer, np.ascontiguousarray(ds.pixel_array), allow_pickle=False)\n"
)


def _gdcm_in_child(path) -> np.ndarray:
    """Decode ``path`` with python-gdcm in a child process: a crash there is an error here, not an abort."""
    try:
        proc = subprocess.run([sys.executable, "-c", _GDCM_CHILD, str(path)], capture_output=True,
                              timeout=GDCM_TIMEOUT_S, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    except subprocess.TimeoutExpired:
        raise ValueError(f"the gdcm decoder took more than {GDCM_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        why = f"signal {-proc.returncode}" if proc.returncode < 0 else (tail[-1] if tail else f"exit {proc.returncode}")
        raise ValueError(f"the gdcm decoder failed ({why[:160]})")
    return np.load(io.BytesIO(proc.stdout), allow_pickle=False)


def _decode(ds: pydicom.Dataset) -> np.ndarray:
    """``ds.pixel_array`` through the first trusted in-process plugin, else python-gdcm in a child."""
    if not hasattr(ds, "pixel_array_options"):  # an older pydicom: its own handler order
        return ds.pixel_array
    from pydicom.pixels.decoders.base import get_decoder

    syntax = ds.file_meta.get("TransferSyntaxUID", "")
    try:
        available = get_decoder(syntax).available_plugins
    except (NotImplementedError, ValueError, KeyError):
        available = ()
    if not available:  # native (uncompressed) data: pydicom itself
        return ds.pixel_array
    for plugin in IN_PROCESS_PLUGINS:
        if plugin in available:
            ds.pixel_array_options(decoding_plugin=plugin)
            return ds.pixel_array
    if "gdcm" in available and ds.filename:
        return _gdcm_in_child(ds.filename)
    raise ValueError(f"no decoder for {getattr(syntax, 'name', syntax)} is installed")

#: Compressed syntaxes whose streams end with the FFD9 marker (JPEG EOI, JPEG 2000 EOC). Some
#: decoders (CharLS for JPEG-LS) return garbage from a truncated stream instead of failing, so
#: the marker is checked before decoding.
_END_MARKER_SYNTAXES = {f"1.2.840.10008.1.2.4.{n}" for n in (50, 51, 57, 70, 80, 81, 90, 91, 92, 93, 201, 202, 203)}
_END_MARKER_TAIL = 16  # bytes searched for the marker: encoders may pad after it


def _check_end_markers(ds: pydicom.Dataset) -> None:
    syntax = str(ds.file_meta.get("TransferSyntaxUID", ""))
    if str(syntax) not in _END_MARKER_SYNTAXES:  # not MPEG/HEVC video, whose streams end otherwise
        return
    n = int(ds.get("NumberOfFrames", 1) or 1)
    for k, frame in enumerate(generate_frames(ds.PixelData, n)):
        if b"\xff\xd9" not in bytes(frame[-_END_MARKER_TAIL:]):
            raise ValueError(f"frame {k + 1}: the compressed stream is truncated (no end-of-image marker)")


def _stored_values(ds: pydicom.Dataset) -> np.ndarray:
    """The stored pixel values with BitsStored honoured (high bits masked, sign extended)."""
    _check_end_markers(ds)
    arr = _decode(ds)
    bits_stored = int(ds.get("BitsStored", arr.dtype.itemsize * 8))
    bits_alloc = int(ds.get("BitsAllocated", arr.dtype.itemsize * 8))
    # 8- and 16-bit values (nearly all CT) fit int32 with any integral rescale a scanner writes;
    # half the memory traffic of int64 on every later step.
    wide = np.int32 if arr.dtype.kind in "iu" and arr.dtype.itemsize <= 2 else np.int64
    if bits_stored < bits_alloc and arr.dtype.kind in "iu":
        mask = (1 << bits_stored) - 1
        raw = arr.astype(wide) & mask
        if int(ds.get("PixelRepresentation", 0)) == 1:
            sign = 1 << (bits_stored - 1)
            raw = (raw ^ sign) - sign
        return raw
    return arr.astype(wide) if arr.dtype.kind in "iu" else arr.astype(np.float64)


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


def _decode_error(header: SliceHeader, exc: Exception) -> DicomDecodeError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    reason = reason.split(" - ")[0]  # pydicom appends long speculation after " - "
    return DicomDecodeError(f"{header.path}: cannot decode the pixel data ({reason[:200]})")


def decode_file(headers: list[SliceHeader], is_ct: bool) -> list[np.ndarray]:
    """Decode one file once and return each asked slice (frame) as values (y, x).

    The slice's own rescale (``header.rescale``) is applied: an integral slope and intercept give
    exact integer values (int32, or int64 for a huge rescale), any other float64. For CT, padding
    and out-of-field voxels (below ``OUT_OF_FIELD_HU`` after rescale, such as −2048) become
    :data:`AIR_HU`.
    Raises :class:`DicomDecodeError` naming the file when it is truncated or cannot be decoded.
    """
    first = headers[0]
    try:
        ds = pydicom.dcmread(first.path)
        raw = _stored_values(ds)
    except Exception as exc:  # pydicom and its plugins raise many types for broken data
        raise _decode_error(first, exc) from None
    if raw.ndim == 2:
        raw = raw[None]
    if raw.shape[1:] != (first.rows, first.columns) or raw.shape[0] < first.frames:
        raise DicomDecodeError(f"{first.path}: pixel data is {raw.shape}, header says "
                               f"{first.frames} frame(s) of {first.rows}x{first.columns}")
    out = []
    for h in headers:
        frame = raw[h.frame or 0]
        slope, intercept = h.rescale
        if _integral(h.rescale) and frame.dtype.kind in "iu":
            big = max(abs(int(slope)), 1) * 65536 + abs(int(intercept)) >= 1 << 31
            frame = frame.astype(np.int64) if big and frame.dtype != np.int64 else frame
            values = frame * int(slope) + int(intercept) if (slope, intercept) != (1, 0) else frame.copy()
        else:
            values = frame * slope + intercept
        if is_ct:
            pad = _padding_mask(ds, frame)
            if pad is not None:
                values[pad] = AIR_HU
            values[values < OUT_OF_FIELD_HU] = AIR_HU
        out.append(values)
    return out


def _integral(rescale: tuple[float, float]) -> bool:
    return all(float(v).is_integer() for v in rescale)


def _fits_int16(values: np.ndarray) -> bool:
    return values.dtype.kind in "iu" and (not values.size or (values.min() >= -32768 and values.max() <= 32767))


def _decode_into(out: np.ndarray, idx: list[int], headers: list[SliceHeader], is_ct: bool) -> list:
    """Decode one file and copy its slices into ``out`` (one copy); return the slices that did not fit."""
    left = []
    for k, values in zip(idx, decode_file(headers, is_ct)):
        if out.dtype == np.int16 and not _fits_int16(values):
            left.append((k, values))
        else:
            out[k] = values
    return left


def _decode_chunk(files: list[tuple[list[int], list[SliceHeader]]], is_ct: bool) -> list:
    """In a worker process: [(slice indices, int16 stack or float64 stack or the error)] per file."""
    done = []
    for idx, headers in files:
        try:
            values = np.stack(decode_file(headers, is_ct))
        except DicomDecodeError as exc:
            done.append((idx, exc))
            continue
        done.append((idx, values.astype(np.int16) if _fits_int16(values) else values))
    return done


#: Fewest slices for which decoding in worker processes pays for starting them.
PROCESS_MIN_SLICES = 48


def _use_processes(n_slices: int, workers: int) -> bool:
    """Worker processes for large series on Linux outside Slicer: the JPEG 2000 and JPEG decoders hold the GIL.

    Workers are forked (as the radiomics pool's are): fork needs no importable ``__main__``, which
    a caller's script may not guard, and the children only read files and decode, touching no
    lock another thread of the parent could hold. Elsewhere (spawn only, or Slicer, whose
    ``sys.executable`` is the application) the thread pool decodes.
    """
    return (workers > 1 and n_slices >= PROCESS_MIN_SLICES and sys.platform.startswith("linux")
            and not _in_slicer() and os.environ.get("MEDSEG_DECODE_PROCESSES", "1") != "0")


def _in_slicer() -> bool:
    # The Slicer application's ``slicer`` module has ``app``; the slicer-core wheel's has not.
    return getattr(sys.modules.get("slicer"), "app", None) is not None


def _process_pool(workers: int):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork"))


def decode_series(slices: list[SliceHeader], is_ct: bool, progress: Progress | None = None,
                  cancel: CancelEvent = None, workers: int | None = None,
                  damaged: list | None = None) -> tuple[np.ndarray, dict]:
    """Decode sorted slices into one preallocated (z, y, x) array.

    The dtype is int16 when every slice's rescale is integral and the values fit, else float32.
    Large series are decoded in worker processes (one per core: the compressed-data decoders
    hold the GIL, so threads would take turns), smaller ones and any inside Slicer in a thread
    pool; each decoded slice is copied once into the output.
    Returns (array, facts) where facts records the rescale values seen. A file that cannot be
    decoded raises :class:`DicomDecodeError`, unless ``damaged`` is a list: then
    ``(slice index, error)`` is appended for each of its slices, which are left at 0.
    """
    shape = (len(slices), slices[0].rows, slices[0].columns)
    rescales = {s.rescale for s in slices}
    dtype = np.int16 if all(_integral(r) for r in rescales) else np.float32
    check_allocation("the decoded DICOM volume", shape, dtype)
    out = np.empty(shape, dtype=dtype)
    by_file: dict = defaultdict(list)
    for k, s in enumerate(slices):
        by_file[s.path].append(k)
    files = list(by_file.values())
    cores = os.cpu_count() or 2
    if _use_processes(len(slices), workers or cores):
        left = _decode_in_processes(out, slices, files, is_ct, workers or cores, progress, cancel, damaged)
    else:
        left = _decode_in_threads(out, slices, files, is_ct, workers or min(8, cores * 2), progress, cancel, damaged)
    if left:  # a slice beyond int16 (a rare rescale): the whole volume becomes float32
        out = out.astype(np.float32)
        for k, values in left:
            out[k] = values
    facts = {"rescale": sorted(rescales), "per_slice_rescale": len(rescales) > 1}
    return out, facts


def _damaged(out, idx, exc, damaged) -> None:
    if damaged is None:
        raise exc
    damaged.extend((k, exc) for k in idx)
    out[idx] = 0


def _decode_in_threads(out, slices, files, is_ct, workers, progress, cancel, damaged) -> list:
    left, done = [], 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [(idx, pool.submit(_decode_into, out, idx, [slices[k] for k in idx], is_ct)) for idx in files]
        try:
            for idx, fut in futures:
                check_cancel(cancel)
                try:
                    left += fut.result()
                except DicomDecodeError as exc:
                    _damaged(out, idx, exc, damaged)
                done += len(idx)
                report(progress, done / len(slices), "decoding slices")
        except BaseException:
            for _, fut in futures:
                fut.cancel()
            raise
    return left


def _decode_in_processes(out, slices, files, is_ct, workers, progress, cancel, damaged) -> list:
    from dataclasses import replace

    light = [(idx, [replace(slices[k], dataset=None) for k in idx]) for idx in files]
    n_chunks = min(len(light), workers * 6)  # several per worker: progress and cancel between them
    chunks = [light[i::n_chunks] for i in range(n_chunks)]
    left, done = [], 0
    with _process_pool(workers) as pool:
        with warnings.catch_warnings():  # the workers fork here; Python 3.12 notes fork with threads
            warnings.simplefilter("ignore", DeprecationWarning)
            futures = [pool.submit(_decode_chunk, chunk, is_ct) for chunk in chunks]
        try:
            for fut in futures:
                check_cancel(cancel)
                for idx, result in fut.result():
                    if isinstance(result, DicomDecodeError):
                        _damaged(out, idx, result, damaged)
                    elif out.dtype == np.int16 and result.dtype != np.int16:
                        left += list(zip(idx, result))
                    else:
                        out[idx] = result
                    done += len(idx)
                report(progress, done / len(slices), "decoding slices")
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    return left
