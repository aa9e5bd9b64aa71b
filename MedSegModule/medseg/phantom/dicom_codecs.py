"""Pixel data in any transfer syntax this environment can write, for test series and transcoding.

Who writes what:

- pydicom natively: Explicit/Implicit VR Little Endian, Explicit VR Big Endian (only for datasets
  built in memory: pydicom 3 refuses to switch the endianness of a dataset read from a file, so
  :func:`transcode_file` rebuilds one), Deflated Explicit VR Little Endian;
- ``Dataset.compress`` with its encoder plugins: RLE Lossless (pydicom), JPEG-LS lossless
  (pyjpegls), JPEG 2000 lossless (pylibjpeg-openjpeg);
- python-gdcm (``gdcm.ImageChangeTransferSyntax``): JPEG Lossless Process 14 (SV1 and any
  predictor) and lossy JPEG Baseline (8-bit only, so the series must be written with 8 bits);
  also JPEG-LS and JPEG 2000 lossless where pydicom has no encoder for them (pydicom 2.4).

:func:`encoder_missing` says, for a syntax, why it cannot be written here (None when it can):
tests turn that into a visible ``pytest.skip`` reason.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
)

from ..io.atomic import atomic_output
from ..io.dicom.compat import JPEGLossless, JPEGLosslessSV1, compress, get_encoder, save_as

#: Uncompressed syntaxes pydicom writes from plain little-endian bytes.
NATIVE_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
#: Every syntax whose pixel data is stored uncompressed (bytes may still be deflated or swapped).
UNCOMPRESSED_SYNTAXES = (*NATIVE_SYNTAXES, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian)
#: Syntaxes written through python-gdcm, by the name of gdcm's TransferSyntax constant.
GDCM_SYNTAXES = {JPEGLosslessSV1: "JPEGLosslessProcess14_1", JPEGLossless: "JPEGLosslessProcess14",
                 JPEGBaseline8Bit: "JPEGBaselineProcess1"}
#: Syntaxes written through python-gdcm when pydicom has no encoder for them (pydicom 2.4).
GDCM_FALLBACK_SYNTAXES = {JPEGLSLossless: "JPEGLSLossless", JPEG2000Lossless: "JPEG2000Lossless"}
#: Syntaxes that lose information; the writer marks their files LossyImageCompression = "01".
LOSSY_SYNTAXES = (JPEGBaseline8Bit,)


def _pydicom_encoder_missing(syntax: UID) -> str | None:
    try:
        encoder = get_encoder(syntax)
    except (NotImplementedError, ValueError) as exc:
        return f"no encoder for {syntax.name} in pydicom {pydicom.__version__} or python-gdcm ({exc})"
    if not encoder.is_available:
        missing = "; ".join(f"{k}: {', '.join(v)}" for k, v in encoder.missing_dependencies.items()) \
            if isinstance(encoder.missing_dependencies, dict) else str(encoder.missing_dependencies)
        return f"pydicom's {syntax.name} encoder has no plugin installed ({missing})"
    return None


def _gdcm_missing() -> str | None:
    try:
        import gdcm  # noqa: F401
    except ImportError:
        return "python-gdcm is not installed"
    return None


def _gdcm_syntax(syntax: UID) -> str | None:
    """gdcm's TransferSyntax constant name when ``syntax`` is written through gdcm here, else None."""
    if syntax in GDCM_SYNTAXES:
        return GDCM_SYNTAXES[syntax]
    if syntax in GDCM_FALLBACK_SYNTAXES and _pydicom_encoder_missing(syntax) and not _gdcm_missing():
        return GDCM_FALLBACK_SYNTAXES[syntax]
    return None


def encoder_missing(transfer_syntax: str, bits_stored: int = 16) -> str | None:
    """Why ``transfer_syntax`` cannot be written here for ``bits_stored`` bits, or None if it can."""
    syntax = UID(transfer_syntax)
    if syntax in UNCOMPRESSED_SYNTAXES:
        return None
    if syntax in GDCM_SYNTAXES:
        if _gdcm_missing():
            return f"{syntax.name} is written through python-gdcm, which is not installed"
        if syntax == JPEGBaseline8Bit and bits_stored > 8:
            return "JPEG Baseline holds 8-bit samples only; write the series with bits_stored=8"
        return None
    if _gdcm_syntax(syntax):
        return None
    return _pydicom_encoder_missing(syntax)


def set_pixel_data(ds: Dataset, stored: np.ndarray, transfer_syntax: str) -> None:
    """Put ``stored`` ((y, x) or (frames, y, x) stored values) into ``ds`` for ``transfer_syntax``.

    Compressed syntaxes that pydicom encodes are compressed here; for gdcm syntaxes the data stay
    uncompressed until :func:`save_dataset` hands the file to gdcm.
    """
    syntax = UID(transfer_syntax)
    reason = encoder_missing(syntax, int(ds.get("BitsStored", 16)))
    if reason:
        raise ValueError(f"cannot write {syntax.name}: {reason}")
    stored = np.ascontiguousarray(stored)
    vr = "OB" if stored.dtype.itemsize == 1 else "OW"
    if syntax in UNCOMPRESSED_SYNTAXES or _gdcm_syntax(syntax):
        order = ">" if syntax == ExplicitVRBigEndian else "<"
        ds.PixelData = stored.astype(stored.dtype.newbyteorder(order), copy=False).tobytes()
        ds["PixelData"].VR = vr
        return
    compress(ds, syntax, stored)


def _gdcm_change(path: Path, transfer_syntax: str) -> None:
    """Re-encode the file at ``path`` in place with gdcm (``path`` is already a temporary file)."""
    import gdcm

    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    if not reader.Read():
        raise ValueError(f"gdcm cannot read {path}")
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax, _gdcm_syntax(UID(transfer_syntax)))))
    change.SetInput(reader.GetImage())
    if not change.Change():
        raise ValueError(f"gdcm cannot encode this image as {UID(transfer_syntax).name}")
    writer = gdcm.ImageWriter()
    staged = path.with_name(path.name + ".gdcm")
    writer.SetFileName(str(staged))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    try:
        if not writer.Write():
            raise ValueError(f"gdcm cannot write {staged}")
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)


def save_dataset(ds: Dataset, path: str | os.PathLike, transfer_syntax: str) -> Path:
    """Save ``ds`` (pixel data set by :func:`set_pixel_data`) atomically in ``transfer_syntax``."""
    syntax = UID(transfer_syntax)
    path = Path(path)
    if syntax in LOSSY_SYNTAXES:
        # The standard: lossy-compressed images say so, and are no longer ORIGINAL.
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
        if ds.get("ImageType"):
            ds.ImageType = ["DERIVED", *list(ds.ImageType)[1:]]
    via_gdcm = _gdcm_syntax(syntax)
    if syntax in UNCOMPRESSED_SYNTAXES or via_gdcm:
        ds.file_meta.TransferSyntaxUID = syntax if syntax in UNCOMPRESSED_SYNTAXES else ExplicitVRLittleEndian
    with atomic_output(path) as tmp:
        save_as(ds, tmp)
        if via_gdcm:
            _gdcm_change(Path(tmp), syntax)
    return path


def transcode_file(src: str | os.PathLike, dst: str | os.PathLike, transfer_syntax: str) -> Path:
    """Write ``src`` again as ``dst`` in ``transfer_syntax``; the stored values stay the same
    (except for lossy syntaxes). The dataset is rebuilt in memory so that any syntax, big endian
    included, can be written."""
    original = pydicom.dcmread(src)
    stored = original.pixel_array  # stored values, not rescaled
    ds = Dataset()
    for element in original:
        if element.tag != 0x7FE00010:  # PixelData is set below
            ds.add(copy.deepcopy(element))
    ds.file_meta = copy.deepcopy(original.file_meta)
    if "NumberOfFrames" in ds and int(ds.NumberOfFrames) > 1 and stored.ndim == 2:
        stored = stored[None]
    set_pixel_data(ds, stored.astype(stored.dtype.newbyteorder("="), copy=False), transfer_syntax)
    return save_dataset(ds, dst, transfer_syntax)


def transcode(files, out_dir: str | os.PathLike, transfer_syntax: str) -> list[Path]:
    """:func:`transcode_file` for each of ``files`` into ``out_dir`` (same file names)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [transcode_file(f, out / Path(f).name, transfer_syntax) for f in files]
