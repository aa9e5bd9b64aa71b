"""Label images in and out: plain label volumes (.nrrd, .nii.gz, .mha) and Slicer seg.nrrd.

The format follows the extension. A ``*.seg.nrrd`` carries segment names and colours itself;
other volume files carry only the values, so their names travel in the ``<stem>.json`` sidecar
(:mod:`.sidecar`), written with them and read back here. Either way, names and colours are
those of :func:`medseg.labels.label_table`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..labels import Label, label_table
from .segnrrd import read_seg_nrrd, write_seg_nrrd
from .sidecar import read_names, write_names
from .volumes import read_volume, write_volume


def is_seg_nrrd(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(".seg.nrrd")


#: Label values must fit the uint16 every label writer (seg.nrrd, DICOM SEG) and reader uses.
MAX_LABEL = 65535


def read_label_image(path: str | os.PathLike) -> tuple[sitk.Image, dict[int, str]]:
    """Read a label image as (integer image, {value: name}).

    Names come from the seg.nrrd's segments, else from the ``<stem>.json`` sidecar, else there
    are none (``{}``: every consumer then says ``label-N``). A seg.nrrd with overlapping layers
    is merged (later layers win). Float voxel types are accepted when every value is a whole
    number. Raises :class:`InputError` for values that are not whole numbers or lie outside
    0..65535 (an image, not labels), or for several components per voxel.
    """
    if is_seg_nrrd(path):
        seg = read_seg_nrrd(path)
        return seg.merged(), {s.label_value: s.name for s in seg.segments}
    image = read_volume(path)
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"{path}: has {image.GetNumberOfComponentsPerPixel()} components; expected one label value per voxel")
    arr = sitk.GetArrayFromImage(image)  # a copy: the image may be replaced below
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if not finite.all() or not np.array_equal(arr, np.round(arr)):
            bad = arr[~finite | (arr != np.round(np.where(finite, arr, 0)))]
            raise InputError(f"{path}: holds values that are not whole numbers (such as {float(bad.flat[0]):g}), "
                             "so it is an image, not a label map")
    low, high = (arr.min(), arr.max()) if arr.size else (0, 0)
    if low < 0 or high > MAX_LABEL:
        value = low if low < 0 else high
        raise InputError(f"{path}: holds the value {float(value):g}, outside the label range 0..{MAX_LABEL}, "
                         "so it is not a label map")
    if arr.dtype.kind == "f":
        small = arr.astype(np.uint8 if high <= 255 else np.uint16)
        labels = sitk.GetImageFromArray(small)
        labels.CopyInformation(image)
        image = labels
    return image, read_names(path)


def present_values(labels: sitk.Image) -> list[int]:
    """The nonzero values of a label image, ascending."""
    return [int(v) for v in np.unique(sitk.GetArrayViewFromImage(labels)) if v]


def write_label_image(labels: sitk.Image, path: str | os.PathLike, segments: Sequence[Label] | None = None,
                      inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write a label image with its segment table; returns ``path``.

    ``*.seg.nrrd`` gets named, coloured segments; other extensions the plain values plus the
    sidecar. ``segments`` (default: one ``label-N`` per value present) lists every segment,
    even those with no voxel.
    """
    table = list(segments) if segments is not None else label_table(present_values(labels))
    if is_seg_nrrd(path):
        return write_seg_nrrd(labels, path, segments=table, inputs=inputs)
    written = write_volume(labels, path, inputs=inputs)
    write_names(path, table, inputs=inputs)
    return written
