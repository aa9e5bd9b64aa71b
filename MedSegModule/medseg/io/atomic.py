"""Atomic, input-safe output: every file MedSeg writes goes through :func:`atomic_output`.

A temporary file is created in the destination folder (so the final rename stays on one
file system and is atomic), written, then renamed over the target. An interrupted write never
leaves a half-written output, and an output path that is one of the inputs is refused before
anything is written.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import OutputError

_protected: set[Path] = set()


def protect_inputs(paths: Iterable[str | os.PathLike]) -> None:
    """Register input files (or folders: every file below them) that no output may overwrite."""
    for p in paths:
        path = Path(p).resolve()
        if path.is_dir():
            _protected.update(f.resolve() for f in path.rglob("*") if f.is_file())
        _protected.add(path)


def clear_protected() -> None:
    """Forget the registered inputs (used between CLI invocations in one process, and in tests)."""
    _protected.clear()


def check_output_path(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Resolve ``path`` and refuse it if it is an input file or lies inside an input folder's files.

    Raises :class:`OutputError`.
    """
    out = Path(path).resolve()
    guarded = set(_protected)
    for p in inputs:
        guarded.add(Path(p).resolve())
    if out in guarded:
        raise OutputError(f"refusing to write {path}: it is one of the input files")
    if out.is_dir():
        raise OutputError(f"refusing to write {path}: it is a folder")
    return out


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary name keeps the target's full suffix (``.seg.nrrd``, ``.nii.gz``) so writers that
    pick a format from the extension still work. On any exception the temporary file is removed
    and the target is left untouched.
    """
    target = check_output_path(path, inputs)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(target.suffixes) or ".tmp"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name.split('.')[0]}-", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes the file 0600; give it the permissions a plain open() would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
