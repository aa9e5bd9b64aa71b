"""Steps composed into whole jobs, shared by the CLI and by Slicer's logic.

Each step is a plain function ``step(..., progress=None, cancel=None)``. Later issues add their
steps here (clean, autolabel, unet, radiomics, mesh); the CLI and ``mrml.logic`` call only these.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import SimpleITK as sitk

from .io import input_files, load, write_volume
from .steps import CancelEvent, Progress, report


@dataclass
class Converted:
    """The result of :func:`convert`: the HU (or modality-LUT) image and its metadata."""

    image: sitk.Image
    meta: dict
    inputs: list[Path] = field(default_factory=list)


def convert(path: str | os.PathLike, series: str | None = None, progress: Progress | None = None,
            cancel: CancelEvent = None, resample: bool = True) -> Converted:
    """Step 1: read DICOM (or a volume file) into an image in HU with LPS geometry (see :func:`io.load`).

    ``resample`` puts tilted or unevenly spaced stacks onto a regular grid (the default); False
    keeps the slices as they are and warns.
    """
    image, meta = load(path, series=series, progress=progress, cancel=cancel, resample=resample)
    return Converted(image, meta, input_files(path, meta))


def convert_to_file(path: str | os.PathLike, out: str | os.PathLike, series: str | None = None,
                    progress: Progress | None = None, cancel: CancelEvent = None, resample: bool = True) -> Converted:
    """:func:`convert`, then write the image to ``out`` atomically (never over an input file)."""
    result = convert(path, series=series, progress=progress, cancel=cancel, resample=resample)
    write_volume(result.image, out, inputs=result.inputs)
    report(progress, 1.0, "written")
    return result
