"""A lock per study, so that two ``medseg run`` processes on one output root never work on the
same study at once.

Where the system has ``fcntl`` (Linux, macOS) the lock is an ``flock`` on ``<root>/.<name>.lock``:
the kernel releases it when its process ends, however it ends (SIGKILL included), so a lock file
left behind is never mistaken for a live one. Elsewhere the file is created with ``O_EXCL`` and
holds its process id; a file whose process no longer runs on this machine is stale and removed.
The file records the holder (process id, host, start time) for the message of whoever waits.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import socket
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


class StudyLock:
    """A non-blocking lock on ``path``: :meth:`acquire` returns False while another process holds it."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fd: int | None = None

    def _stamp(self) -> bytes:
        when = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        return f"pid {os.getpid()} on {socket.gethostname()} since {when}\n".encode()

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        if fcntl is None:
            return self._acquire_exclusive()
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except (BlockingIOError, PermissionError):
                os.close(fd)
                return False
            # The holder before us unlinks the file as it lets go: a lock on that unlinked file
            # guards nothing, so lock the file that now has the name.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, self._stamp())
                self._fd = fd
                return True
            os.close(fd)

    def _acquire_exclusive(self) -> bool:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if not self._remove_if_stale():
                    return False
                continue
            os.write(fd, self._stamp())
            self._fd = fd
            return True
        return False

    def _remove_if_stale(self) -> bool:
        try:
            words = self.path.read_text(encoding="utf-8", errors="replace").split()
            pid, host = int(words[1]), words[3]
        except (OSError, ValueError, IndexError):
            return False
        if host != socket.gethostname() or _pid_alive(pid):
            return False
        with contextlib.suppress(OSError):
            self.path.unlink()
        return True

    def holder(self) -> str:
        """Who holds the lock, as its file says ("pid 123 on host since ..."), or ""."""
        with contextlib.suppress(OSError):
            return self.path.read_text(encoding="utf-8", errors="replace").strip()
        return ""

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # while still holding it: see acquire
        os.close(self._fd)
        self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
