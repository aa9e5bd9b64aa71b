"""The step API shared by every processing function (DESIGN.md, "Steps are plain functions").

A step is ``step(image, ..., progress=None, cancel=None) -> result``:

* ``progress(fraction, message)`` is called with a fraction in [0, 1];
* ``cancel`` is a :class:`threading.Event`; long loops call :func:`check_cancel` and raise
  :class:`~medseg.errors.Cancelled` once it is set.

The CLI turns ``progress`` into tqdm bars; Slicer turns it into its progress bar.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

from .errors import Cancelled

Progress = Callable[[float, str], None]
CancelEvent = Optional[threading.Event]


def report(progress: Progress | None, fraction: float, message: str = "") -> None:
    """Call ``progress`` if there is one, clamping the fraction to [0, 1]."""
    if progress is not None:
        progress(min(1.0, max(0.0, float(fraction))), message)


def check_cancel(cancel: CancelEvent) -> None:
    """Raise :class:`Cancelled` if the event is set."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled by the user")


def sub_progress(progress: Progress | None, start: float, stop: float) -> Progress | None:
    """A progress callback that maps [0, 1] onto [start, stop] of ``progress``.

    Lets a pipeline give each step a share of one bar.
    """
    if progress is None:
        return None

    def inner(fraction: float, message: str = "") -> None:
        report(progress, start + (stop - start) * fraction, message)

    return inner
