"""Read and write volume files (NRRD, NIfTI, MHA) as SimpleITK images, atomically.

SimpleITK keeps geometry in LPS, whatever the file's own space field says, so images read here
carry origin, spacing and direction in LPS (mm).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import SimpleITK as sitk

from ..errors import InputError, OutputError
from .atomic import atomic_output

#: Extensions a volume file may have (lower case). ``.seg.nrrd`` is a volume too, read by segnrrd.
VOLUME_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")


def is_volume_file(path: str | os.PathLike) -> bool:
    """True when ``path`` names a volume file by its extension."""
    name = str(path).lower()
    return any(name.endswith(s) for s in VOLUME_SUFFIXES)


def read_volume(path: str | os.PathLike) -> sitk.Image:
    """Read a NRRD, NIfTI or MHA file. Raises :class:`InputError` when it cannot be read."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{path}: no such file")
    try:
        return sitk.ReadImage(str(p))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        raise InputError(f"{path}: cannot read this volume file ({first})") from None


def write_volume(image: sitk.Image, path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (),
                 compress: bool = True) -> Path:
    """Write ``image`` atomically to ``path``; the format follows the extension (.nrrd, .nii[.gz], .mha).

    Raises :class:`OutputError` when ``path`` is an input or has an unknown extension.
    """
    if not is_volume_file(path):
        raise OutputError(f"{path}: unknown output format; use .nrrd, .nii, .nii.gz or .mha")
    with atomic_output(path, inputs) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=compress)
    return Path(path)
