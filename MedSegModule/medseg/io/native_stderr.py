"""Messages that C libraries (ITK's niftilib, GDCM, OpenJPEG) print straight to file descriptor 2.

They bypass Python, so neither ``warnings`` nor ``logging`` sees them, and an error the CLI
reports in one line would come with two more. :func:`native_stderr_to_log` sends fd 2 to a
temporary file around one native call and hands what was printed to the ``medseg.native``
logger. It does so only when :data:`ENABLED` (the CLI sets it): an application embedding
medseg (Slicer) keeps its own stderr untouched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
from typing import Iterator

#: Set by the command line; off for library use.
ENABLED = False

_lock = threading.RLock()
_depth = threading.local()
log = logging.getLogger("medseg.native")


@contextlib.contextmanager
def native_stderr_to_log(what: str) -> Iterator[None]:
    """Capture fd 2 during the block and log it (WARNING, naming ``what``) when :data:`ENABLED`."""
    if not ENABLED or getattr(_depth, "n", 0):
        yield
        return
    with _lock:
        _depth.n = 1
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):
            _depth.n = 0
            yield
            return
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                text = sink.read(64 * 1024).decode("utf-8", "replace").strip()
                _depth.n = 0
                if text:
                    log.warning("%s: %s", what, " | ".join(text.splitlines()))


__all__ = ["ENABLED", "native_stderr_to_log"]
