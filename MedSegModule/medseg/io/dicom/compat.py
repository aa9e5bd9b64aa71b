"""The few pydicom calls whose names differ between pydicom 2.4 and 3.x, behind one spelling.

Slicer 5.8 and 5.10 bundle pydicom 2.4.4 and Slicer 5.12 bundles 3.0.2; MedSeg never replaces
Slicer's own pydicom, so it runs on both (``pydicom>=2.4,<4``). Everything else MedSeg calls
(``dcmread``, ``pixel_array``, ``encapsulate``, the UID constants) is spelled the same in both.
"""

from __future__ import annotations

import os
from typing import Iterator

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID

#: The major version of the pydicom in use (2 or 3).
PYDICOM_MAJOR = int(pydicom.__version__.split(".")[0])
#: JPEG Lossless, Non-Hierarchical (Process 14). pydicom 2.4's ``uid.JPEGLossless`` is the SV1
#: syntax's UID (1.2.840.10008.1.2.4.70), so both are spelled out here.
JPEGLossless = UID("1.2.840.10008.1.2.4.57")
#: JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14, Selection Value 1).
JPEGLosslessSV1 = UID("1.2.840.10008.1.2.4.70")


def generate_frames(pixel_data: bytes, number_of_frames: int | None = None) -> Iterator[bytes]:
    """Each frame's bytes of encapsulated (compressed) *Pixel Data*, fragments joined.

    number_of_frames: the dataset's *NumberOfFrames*, needed when the Basic Offset Table is empty.
    """
    if PYDICOM_MAJOR >= 3:
        from pydicom.encaps import generate_frames as frames

        return frames(pixel_data, number_of_frames=number_of_frames)
    from pydicom.encaps import generate_pixel_data_frame

    return generate_pixel_data_frame(pixel_data, number_of_frames)


def save_as(ds: Dataset, path: str | os.PathLike) -> None:
    """Write ``ds`` as a conformant DICOM file (preamble, file meta) in its *TransferSyntaxUID*.

    pydicom 3 takes the encoding from the file meta; pydicom 2.4 from ``is_little_endian`` and
    ``is_implicit_VR``, which a dataset read from a file keeps from its old syntax, so they are set
    from the new one here.
    """
    if PYDICOM_MAJOR >= 3:
        ds.save_as(path, enforce_file_format=True)
        return
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax is not None and not syntax.is_private:
        ds.is_little_endian = syntax.is_little_endian
        ds.is_implicit_VR = syntax.is_implicit_VR
    ds.save_as(path, write_like_original=False)


def compress(ds: Dataset, transfer_syntax: str, stored: np.ndarray) -> None:
    """Encode ``stored`` ((y, x) or (frames, y, x) stored values) into ``ds`` in ``transfer_syntax``.

    The SOP Instance UID is kept (pydicom 3 makes a new one unless told not to; 2.4 never does).
    """
    if PYDICOM_MAJOR >= 3:
        ds.compress(transfer_syntax, stored, generate_instance_uid=False)
    else:
        ds.compress(transfer_syntax, stored)


def get_encoder(transfer_syntax: str):
    """pydicom's encoder for ``transfer_syntax`` (``is_available``, ``missing_dependencies``).

    Raises NotImplementedError or ValueError when pydicom has none for it.
    """
    if PYDICOM_MAJOR >= 3:
        from pydicom.pixels import get_encoder as encoder
    else:
        from pydicom.encoders import get_encoder as encoder
    return encoder(transfer_syntax)


__all__ = ["PYDICOM_MAJOR", "JPEGLossless", "JPEGLosslessSV1", "compress", "generate_frames", "get_encoder", "save_as"]
