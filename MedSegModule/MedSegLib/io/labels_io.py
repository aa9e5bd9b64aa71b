"""Label images in and out: plain label volumes (.nrrd, .nii.gz, .mha) and Slicer seg.nrrd.

The format follows the extension: ``*.seg.nrrd`` carries segment names and colours; other
volume files carry only the values (their names then come from the caller's label table).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..labels import Label
from .segnrrd import read_seg_nrrd, write_seg_nrrd
from .volume_files import read_volume, write_volume


def is_seg_nrrd(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(".seg.nrrd")


def read_label_image(path: str | os.PathLike) -> tuple[sitk.Image, dict[int, str]]:
    """Read a label image as (integer image, {value: name}).

    A seg.nrrd with overlapping layers is merged (later layers win); names come from its segments.
    Raises :class:`InputError` for a non-integer volume, which is an image, not labels.
    """
    if is_seg_nrrd(path):
        seg = read_seg_nrrd(path)
        return seg.merged(), {s.label_value: s.name for s in seg.segments}
    image = read_volume(path)
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"{path}: has {image.GetNumberOfComponentsPerPixel()} components; expected one label value per voxel")
    arr = sitk.GetArrayViewFromImage(image)
    if arr.dtype.kind == "f":
        if not np.all(np.mod(arr, 1) == 0):
            raise InputError(f"{path}: holds non-integer values, so it is an image, not a label map")
        image = sitk.Cast(image, sitk.sitkUInt16 if arr.max(initial=0) > 255 else sitk.sitkUInt8)
    if arr.size and arr.min() < 0:
        raise InputError(f"{path}: holds negative values, so it is an image, not a label map")
    return image, {}


def write_label_image(labels: sitk.Image, path: str | os.PathLike, segments: Sequence[Label] | None = None,
                      inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write a label image; ``*.seg.nrrd`` gets named, coloured segments, other extensions plain values."""
    if is_seg_nrrd(path):
        return write_seg_nrrd(labels, path, segments=segments, inputs=inputs)
    return write_volume(labels, path, inputs=inputs)
