"""Atomic, input-safe output: every file MedSeg writes goes through :func:`atomic_output`.

A temporary file ``.<stem>-<pid>-XXXX<suffix>`` is created in the destination folder (so the
final rename stays on one file system and is atomic), written, checked, flushed to the disk
(``fsync``), then renamed over the target. So:

- an interrupted or failed write never leaves a half-written output, and its temporary file is
  removed on every failure (an exception, SIGINT, SIGTERM: the CLI turns both into exceptions);
- a temporary file left by a process that was killed outright (SIGKILL, power loss) is removed
  by the next write to the same target, once its process is gone;
- an output path that is one of the inputs is refused before anything is written;
- an operating-system error (disk full, read-only file system, permission denied, a parent
  path that is a file, a file-size limit) becomes one :class:`OutputError` naming the output
  path and the reason.

:func:`output_group` makes several outputs one unit: each is written to its temporary file, and
only when all of them are written are they renamed into place; a failure removes them all.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import OutputError

_protected: set[Path] = set()

#: A temporary file whose process cannot be checked (an older naming) is stale after this long (s).
STALE_AFTER_S = 24 * 3600

_group = threading.local()


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


def expand_inputs(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """``paths`` resolved, with every file below the folders among them (a model folder, a study)."""
    out: list[Path] = []
    for p in paths:
        path = Path(p).resolve()
        out.append(path)
        if path.is_dir():
            out.extend(f.resolve() for f in path.rglob("*") if f.is_file())
    return out


def os_reason(exc: OSError) -> str:
    """The reason of an operating-system error in words (``No space left on device``)."""
    if exc.errno == errno.EFBIG:
        return "file too large (a file-size limit such as `ulimit -f`, or the file system's)"
    if exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def write_error(path: str | os.PathLike, exc: OSError) -> OutputError:
    """One line for a failed write of ``path`` (the output the user named, not the temporary file)."""
    return OutputError(f"cannot write {path}: {os_reason(exc)}")


def check_output_path(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Resolve ``path`` and refuse it if it is an input file or lies inside an input folder's files.

    Raises :class:`OutputError`.
    """
    try:
        out = Path(path).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, an unreadable parent
        raise OutputError(f"refusing to write {path}: cannot resolve the path ({exc})") from None
    guarded = set(_protected)
    for p in inputs:
        guarded.add(Path(p).resolve())
    if out in guarded:
        raise OutputError(f"refusing to write {path}: it is one of the input files")
    if out.is_dir():
        raise OutputError(f"refusing to write {path}: it is a folder")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"cannot write {path}: {parent} is a file, not a folder")
            break
    return out


def check_outputs(outputs: Iterable[str | os.PathLike | None], inputs: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """Check every output path of one command before the first write; returns them resolved.

    Refuses (:class:`OutputError`) an output that is an input file (or a file inside an input
    folder: pass :func:`expand_inputs` for those) or a folder, and two outputs that name the same
    file (one would overwrite the other). ``None`` outputs (options not given) are ignored.
    """
    inputs = list(inputs)
    seen: dict[Path, str] = {}
    out = []
    for path in outputs:
        if path is None:
            continue
        resolved = check_output_path(path, inputs)
        if resolved in seen:
            raise OutputError(f"refusing to write {path} twice: two outputs of this command name the same file")
        seen[resolved] = str(path)
        out.append(resolved)
    return out


_TEMP_PID = re.compile(r"-(\d+)-[^-]*$")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _temp_prefix(target: Path) -> str:
    return f".{target.name.split('.')[0]}-"


def remove_stale_temps(target: str | os.PathLike) -> list[Path]:
    """Remove temporary files of ``target``'s naming whose writer is gone; returns those removed.

    A temporary file names its process (``.<stem>-<pid>-XXXX<suffix>``): it is stale when that
    process no longer runs. One without a process id (an older naming) is stale after
    :data:`STALE_AFTER_S`. Files that cannot be removed are left alone.
    """
    target = Path(target)
    prefix = _temp_prefix(target)
    suffix = "".join(target.suffixes) or ".tmp"
    removed = []
    try:
        candidates = [p for p in target.parent.iterdir() if p.name.startswith(prefix) and p.name.endswith(suffix)]
    except OSError:
        return removed
    for p in candidates:
        middle = p.name[len(prefix): len(p.name) - len(suffix)]
        match = _TEMP_PID.search("-" + middle) if middle.count("-") >= 1 else None
        try:
            if match:
                stale = not _pid_alive(int(match.group(1)))
            else:
                stale = time.time() - p.stat().st_mtime > STALE_AFTER_S
            if stale and p.is_file() and not p.is_symlink():
                p.unlink()
                removed.append(p)
        except (OSError, ValueError):
            continue
    return removed


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _finish(tmp: Path, allow_empty: bool) -> None:
    """Check and flush a written temporary file; raise OSError when the write fell short."""
    if not tmp.is_file():
        raise OSError(errno.EIO, "the writer did not create the file")
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if size == 0 and not allow_empty:
        raise OSError(errno.EIO, "nothing was written (0 bytes)")
    # mkstemp makes the file 0600; give it the permissions a plain open() would have.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)


def _rename(tmp: Path, target: Path) -> None:
    os.replace(tmp, target)
    _fsync_dir(target.parent)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (),
                  allow_empty: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success check, fsync and rename it onto ``path``.

    The temporary name keeps the target's full suffix (``.seg.nrrd``, ``.nii.gz``) so writers that
    pick a format from the extension still work. On any exception the temporary file is removed
    and the target is left untouched; an operating-system error becomes :class:`OutputError`
    naming ``path``. A file left empty by the writer is a failed write unless ``allow_empty``.
    Inside :func:`output_group`, the rename waits for the group to finish.
    """
    target = check_output_path(path, inputs)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(target)
        fd, tmp_name = tempfile.mkstemp(prefix=f"{_temp_prefix(target)}{os.getpid()}-",
                                        suffix="".join(target.suffixes) or ".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise write_error(path, exc) from None
    tmp = Path(tmp_name)
    group = getattr(_group, "stack", None)
    try:
        yield tmp
        _finish(tmp, allow_empty)
        if group:
            group[-1].append((tmp, target, str(path)))
        else:
            _rename(tmp, target)
    except OSError as exc:
        _remove(tmp)
        raise write_error(path, exc) from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(tmp: Path) -> None:
    with contextlib.suppress(OSError):
        tmp.unlink()


@contextlib.contextmanager
def output_group() -> Iterator[None]:
    """Write several outputs as one unit: all are renamed into place at the end, or none on failure.

    Every :func:`atomic_output` inside the block writes its temporary file as usual but waits with
    the rename; when the block ends without an exception the files are renamed in order. On an
    exception every temporary file is removed and no target is touched. Groups nest (an inner
    group joins the outer one). Writers inside a group must not read back their own outputs.
    """
    stack = getattr(_group, "stack", None)
    if stack:  # nested: the outer group finishes the files
        yield
        return
    _group.stack = [[]]
    pending = _group.stack[0]
    try:
        yield
    except BaseException:
        for tmp, _target, _shown in pending:
            _remove(tmp)
        raise
    finally:
        _group.stack = None
    for i, (tmp, target, shown) in enumerate(pending):
        try:
            _rename(tmp, target)
        except OSError as exc:
            for later, _t, _s in pending[i:]:
                _remove(later)
            raise write_error(shown, exc) from None


def write_bytes(path: str | os.PathLike, data: bytes, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write ``data`` to ``path`` atomically, checking that every byte reached the file."""
    with atomic_output(path, inputs) as tmp:
        with open(tmp, "wb") as f:
            view = memoryview(data)
            while view:
                n = f.write(view)
                if not n:
                    raise OSError(errno.EIO, "the write made no progress")
                view = view[n:]
            f.flush()
        if tmp.stat().st_size != len(data):
            raise OSError(errno.EIO, f"wrote {tmp.stat().st_size} of {len(data)} bytes")
    return Path(path)


__all__ = ["atomic_output", "check_output_path", "check_outputs", "clear_protected", "expand_inputs", "os_reason",
           "output_group", "protect_inputs", "remove_stale_temps", "write_bytes", "write_error", "STALE_AFTER_S"]
