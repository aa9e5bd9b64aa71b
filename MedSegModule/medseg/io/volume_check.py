"""Is a volume file whole? Its header's voxel count against the bytes it really holds.

ITK's readers fill a truncated ``.nii.gz`` with zeros, and its writers only print a warning when
the disk fills up, leaving a short file. :func:`check_volume_file` reads the header of a NIfTI
(1 and 2, ``.nii``/``.nii.gz``), NRRD (attached data; raw, gzip or bzip2) or MetaImage (``.mha``,
raw or zlib) file, refuses a voxel grid past the limits (:mod:`medseg.limits`), then counts the
voxel bytes that follow the header (decompressing as a stream, in constant memory) and says
what is missing. Other layouts (detached data, ASCII encodings) are left to ITK.
"""

from __future__ import annotations

import bz2
import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ..limits import check_allocation

_CHUNK = 1 << 20
_NRRD_TYPES = {
    "signed char": 1, "int8": 1, "int8_t": 1, "uchar": 1, "unsigned char": 1, "uint8": 1, "uint8_t": 1,
    "short": 2, "short int": 2, "signed short": 2, "signed short int": 2, "int16": 2, "int16_t": 2,
    "ushort": 2, "unsigned short": 2, "unsigned short int": 2, "uint16": 2, "uint16_t": 2,
    "int": 4, "signed int": 4, "int32": 4, "int32_t": 4, "uint": 4, "unsigned int": 4, "uint32": 4, "uint32_t": 4,
    "longlong": 8, "long long": 8, "long long int": 8, "signed long long": 8, "signed long long int": 8,
    "int64": 8, "int64_t": 8, "ulonglong": 8, "unsigned long long": 8, "unsigned long long int": 8,
    "uint64": 8, "uint64_t": 8, "float": 4, "double": 8,
}
_MET_TYPES = {"MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_UINT": 4,
              "MET_LONG": 4, "MET_ULONG": 4, "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8, "MET_FLOAT": 4,
              "MET_DOUBLE": 8}


class Incomplete(ValueError):
    """The file holds fewer voxel bytes than its header announces, or its header is broken."""


def _zlib_length(f, wbits: int) -> tuple[int, bool]:
    """(bytes a zlib/gzip stream decompresses to, whether it ended properly), in constant memory.

    Several gzip members one after the other (as pigz writes) are one stream; zero padding after
    the last member is allowed.
    """
    total, ended = 0, False
    d = zlib.decompressobj(wbits)
    while True:
        data = f.read(_CHUNK)
        if not data:
            return total, ended
        while data:
            if ended:
                data = data.lstrip(b"\0")
                if not data:
                    break
                d, ended = zlib.decompressobj(wbits), False
            try:
                out = d.decompress(data, _CHUNK)
                while not d.unconsumed_tail and len(out) == _CHUNK and not d.eof:
                    total += len(out)
                    out = d.decompress(b"", _CHUNK)
            except zlib.error as exc:
                raise Incomplete(f"its compressed voxel data are corrupt ({exc})") from None
            total += len(out)
            if d.eof:
                ended, data = True, d.unused_data
            else:
                data = d.unconsumed_tail


def _bz2_length(f) -> tuple[int, bool]:
    total, d = 0, bz2.BZ2Decompressor()
    while not d.eof:
        data = f.read(_CHUNK) if d.needs_input else b""
        if d.needs_input and not data:
            return total, False
        try:
            total += len(d.decompress(data, _CHUNK))
        except (OSError, EOFError, ValueError) as exc:
            raise Incomplete(f"its compressed voxel data are corrupt ({exc})") from None
    return total, True


def _compare(have: int, need: int, ended: bool = True) -> None:
    if have < need or not ended:
        raise Incomplete(f"it holds {have} of the {need} bytes of voxel data its header announces (truncated)")


def _nifti(path: Path) -> None:
    gz = path.name.lower().endswith(".gz")
    opener = gzip.open if gz else open
    try:
        with opener(path, "rb") as f:
            head = f.read(540)
    except (OSError, EOFError, zlib.error) as exc:
        raise Incomplete(f"its header cannot be read ({exc})") from None
    if len(head) < 348:
        raise Incomplete(f"its header is cut short ({len(head)} bytes)")
    for endian in "<>":
        size = struct.unpack(endian + "i", head[:4])[0]
        if size == 348:
            dims = struct.unpack(endian + "8h", head[40:56])
            bitpix = struct.unpack(endian + "h", head[72:74])[0]
            offset = int(struct.unpack(endian + "f", head[108:112])[0])
            break
        if size == 540 and len(head) >= 540:
            dims = struct.unpack(endian + "8q", head[16:80])
            bitpix = struct.unpack(endian + "h", head[14:16])[0]
            offset = struct.unpack(endian + "q", head[168:176])[0]
            break
    else:
        raise Incomplete("it is not a NIfTI-1 or NIfTI-2 file")
    n = int(dims[0])
    if not 1 <= n <= 7 or bitpix <= 0 or bitpix % 8 or offset < 0:
        raise Incomplete(f"its header is broken (dim[0] {n}, bitpix {bitpix}, vox_offset {offset})")
    shape = [int(d) for d in dims[1:n + 1]]
    if min(shape) < 1:
        raise Incomplete(f"its header gives an empty or negative size {shape}")
    check_allocation(f"the volume in {path.name}", shape, np.dtype(f"u{bitpix // 8}") if bitpix <= 64 else np.uint8)
    need = offset + int(np.prod(shape, dtype=np.float64)) * (bitpix // 8)
    if gz:
        with open(path, "rb") as f:
            have, ended = _gzip_length(f)
        _compare(have, need, ended)
    else:
        _compare(path.stat().st_size, need)


def _gzip_length(f) -> tuple[int, bool]:
    return _zlib_length(f, 16 + zlib.MAX_WBITS)


def _text_header(f, limit: int = 1 << 20) -> tuple[list[str], int]:
    """Header lines up to the blank line (NRRD) and the byte offset where the data start."""
    lines, offset = [], 0
    while offset < limit:
        raw = f.readline(limit)
        if not raw:
            break
        offset += len(raw)
        line = raw.decode("latin-1").rstrip("\r\n")
        if not line:
            return lines, offset
        lines.append(line)
    raise Incomplete("its header has no end (no blank line before the data)")


def _nrrd(path: Path) -> None:
    with open(path, "rb") as f:
        if not f.read(4) == b"NRRD":
            raise Incomplete("it is not a NRRD file")
        f.seek(0)
        lines, offset = _text_header(f)
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if line.startswith("#") or ":=" in line or ":" not in line:
            continue
        key, value = line.split(":", 1)
        fields[key.strip().lower()] = value.strip()
    if "data file" in fields or "datafile" in fields or "line skip" in fields or "byte skip" in fields:
        return  # detached or skipped data: ITK checks those
    try:
        shape = [int(v) for v in fields["sizes"].split()]
        itemsize = _NRRD_TYPES[fields["type"].lower()]
    except (KeyError, ValueError):
        raise Incomplete("its header lacks a valid 'sizes' or 'type' field") from None
    if not shape or min(shape) < 1:
        raise Incomplete(f"its header gives an empty or negative size {shape}")
    check_allocation(f"the volume in {path.name}", shape, np.dtype(f"u{itemsize}"))
    need = int(np.prod(shape, dtype=np.float64)) * itemsize
    encoding = fields.get("encoding", "raw").lower()
    with open(path, "rb") as f:
        f.seek(offset)
        if encoding == "raw":
            _compare(path.stat().st_size - offset, need)
        elif encoding in ("gzip", "gz"):
            have, ended = _gzip_length(f)
            _compare(have, need, ended)
        elif encoding in ("bzip2", "bz2"):
            have, ended = _bz2_length(f)
            _compare(have, need, ended)


def _mha(path: Path) -> None:
    fields: dict[str, str] = {}
    with open(path, "rb") as f:
        offset = 0
        while offset < (1 << 20):
            raw = f.readline(1 << 16)
            if not raw:
                raise Incomplete("its header has no ElementDataFile line")
            offset += len(raw)
            line = raw.decode("latin-1").strip()
            if "=" in line:
                key, value = (t.strip() for t in line.split("=", 1))
                fields[key.lower()] = value
                if key.lower() == "elementdatafile":
                    break
    if fields.get("elementdatafile", "").upper() != "LOCAL":
        return  # detached data: ITK checks those
    try:
        shape = [int(v) for v in fields["dimsize"].split()]
        itemsize = _MET_TYPES[fields["elementtype"].upper()]
        channels = int(fields.get("elementnumberofchannels", "1"))
    except (KeyError, ValueError):
        raise Incomplete("its header lacks a valid DimSize or ElementType") from None
    if not shape or min(shape) < 1 or channels < 1:
        raise Incomplete(f"its header gives an empty or negative size {shape}")
    check_allocation(f"the volume in {path.name}", [*shape, channels], np.dtype(f"u{itemsize}"))
    need = int(np.prod(shape, dtype=np.float64)) * itemsize * channels
    if fields.get("compresseddata", "false").lower() == "true":
        with open(path, "rb") as f:
            f.seek(offset)
            have, ended = _zlib_length(f, zlib.MAX_WBITS)
        _compare(have, need, ended)
    else:
        _compare(path.stat().st_size - offset, need)


def check_volume_file(path: str | os.PathLike) -> None:
    """Raise :class:`Incomplete` (or :class:`~medseg.limits.LimitError`) when the volume file at
    ``path`` is cut short, corrupt, or announces a grid past the limits; formats it does not know
    pass unchecked."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        _nifti(p)
    elif name.endswith(".nrrd"):
        _nrrd(p)
    elif name.endswith(".mha"):
        _mha(p)


__all__ = ["Incomplete", "check_volume_file"]
