"""Read and write volume files (NRRD, NIfTI, MHA) as SimpleITK images, atomically.

SimpleITK keeps geometry in LPS, whatever the file's own space field says, so images read here
carry origin, spacing and direction in LPS (mm). Files are checked to be whole (:mod:`.volume_check`)
before they are read (ITK fills a truncated ``.nii.gz`` with zeros) and after they are written
(ITK only warns when the disk fills up).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import SimpleITK as sitk

from ..errors import InputError, OutputError
from .atomic import atomic_output
from .native_stderr import native_stderr_to_log
from .volume_check import Incomplete, check_volume_file

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
        raise InputError(f"{path}: no such file" if not p.exists() else f"{path}: not a regular file")
    try:
        check_volume_file(p)
    except Incomplete as exc:
        raise InputError(f"{path}: cannot read this volume file: {exc}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        with native_stderr_to_log(f"reading {p.name}"):
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
        try:
            with native_stderr_to_log(f"writing {path}"):
                sitk.WriteImage(image, str(tmp), useCompression=compress)
        except RuntimeError as exc:
            raise OutputError(f"cannot write {path}: {_itk_reason(exc, tmp)}") from None
        check_written(tmp, path)
    return Path(path)


def _disk_full(folder: Path) -> bool:
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


def _itk_reason(exc: RuntimeError, tmp: Path) -> str:
    if _disk_full(tmp.parent):
        return "No space left on device"
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return (lines[-1] if lines else "the writer failed")[:200]


def check_written(tmp: Path, shown: str | os.PathLike) -> None:
    """Raise :class:`OutputError` when a writer that reports no errors (ITK) left ``tmp`` incomplete."""
    try:
        check_volume_file(tmp)
    except Incomplete as exc:
        why = "No space left on device" if _disk_full(tmp.parent) else f"the file came out incomplete: {exc}"
        raise OutputError(f"cannot write {shown}: {why}") from None
