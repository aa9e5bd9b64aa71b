"""Errors that mean "the user gave us something we cannot use".

The CLI maps every :class:`MedSegError` to exit code 2 with its one-line message and no
traceback; any other exception is a bug and exits 1. Slicer shows the message in an error
dialog. Keep messages to one line that says what was wrong and what to do about it.
"""

from __future__ import annotations


class MedSegError(Exception):
    """Base class for user-facing errors (exit code 2)."""

    exit_code = 2


class InputError(MedSegError):
    """An input path that is missing, empty or of an unknown kind."""


class NoDicomError(InputError):
    """A folder or file holds no readable DICOM image."""


class DicomDecodeError(InputError):
    """A DICOM file is truncated, has no pixel data, or cannot be decoded."""


class SeriesNotFoundError(InputError):
    """``--series UID`` names a series that is not in the input."""


class GeometryError(MedSegError):
    """Two images (for example a volume and its labels) do not share a grid."""


class OutputError(MedSegError):
    """An output path is unsafe (it is an input) or cannot be written."""


class ParameterError(MedSegError):
    """A bad option value."""


class DependencyError(MedSegError):
    """An optional dependency (torch, pyradiomics, ...) is missing; the message says how to install it."""


class NotBuiltError(MedSegError):
    """A command whose implementation lands in a later issue."""


class Cancelled(MedSegError):
    """A long step was cancelled through its ``cancel`` event."""


class NotCTError(MedSegError):
    """A step that needs Hounsfield units (clean, lungs) was given MR or other non-CT values."""


class LimitError(MedSegError):
    """An input asks for more memory or work than a configured limit allows (:mod:`medseg.limits`)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: raised in the main thread like Ctrl-C, so every cleanup path runs (exit 143)."""

    exit_code = 143
