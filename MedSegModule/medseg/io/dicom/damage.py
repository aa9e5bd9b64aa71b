"""The one rule for damaged slices: a damaged member of a series is an error, unless skipped.

A slice is damaged when it cannot be used: a truncated or unreadable file, no pixel data, a
header that does not parse, impossible geometry or rescale values, a position far from the rest
of its series, pixel data that does not decode, a file a DICOMDIR lists but that is missing
(:class:`~.slice_header.DamagedFile`). Loading a series with one is a :class:`DicomDecodeError`
naming the file (:func:`damaged_error`). With ``skip_damaged`` (the CLI's ``--skip-damaged``) the
damaged slices are left out, the gap they leave is interpolated like missing slices, and the
metadata says which (:func:`record`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...errors import DicomDecodeError
from .geometry import series_geometry
from .slice_header import DamagedFile

HINT = "--skip-damaged leaves damaged slices out and interpolates over them"


def damaged_error(damaged: list[DamagedFile], series_slices: int) -> DicomDecodeError:
    """The error for a series with damaged members: the first one named, how many there are, the way out."""
    first = damaged[0]
    more = f" (and {len(damaged) - 1} more damaged slice(s))" if len(damaged) > 1 else ""
    hint = f"; {HINT}" if series_slices > 0 else ""
    return DicomDecodeError(f"{first}{more}{hint}")


def as_damage(header, error: DicomDecodeError) -> DamagedFile:
    """A decode failure of ``header``'s slice as a :class:`DamagedFile`."""
    reason = str(error)
    prefix = f"{header.path}: "
    reason = reason[len(prefix):] if reason.startswith(prefix) else reason
    return DamagedFile(header.path, reason, header.series_uid, header.position)


def without(series, array: np.ndarray, failed: list[tuple[int, DicomDecodeError]]):
    """``series`` and its decoded ``array`` less the slices that failed to decode, geometry recomputed.

    Returns (series, array, the failures as :class:`DamagedFile`). Raises :class:`DicomDecodeError`
    when no slice is left.
    """
    bad = {k for k, _ in failed}
    damage = [as_damage(series.slices[k], err) for k, err in sorted(failed, key=lambda f: f[0])]
    keep = [k for k in range(len(series.slices)) if k not in bad]
    if not keep:
        raise damaged_error(damage, 0)
    slices = [series.slices[k] for k in keep]
    geometry, ordered, warnings, _dups = series_geometry(slices)
    order = [slices.index(s) for s in ordered]
    kept = array[keep][order]
    return replace(series, slices=ordered, geometry=geometry, warnings=list(series.warnings)), kept, damage


def record(meta: dict, damaged: list[DamagedFile], resample: bool) -> None:
    """Say in ``meta`` which damaged slices were left out (``meta["damaged"]`` and a warning)."""
    if not damaged:
        return
    meta["damaged"] = [{"file": str(d.path), "reason": d.reason,
                        "position_lps_mm": None if d.position is None else [float(v) for v in d.position]}
                       for d in damaged]
    names = ", ".join(d.path.name for d in damaged[:5]) + (" ..." if len(damaged) > 5 else "")
    what = "interpolated over" if resample else "left as a gap (--no-resample)"
    meta["warnings"].append(f"{len(damaged)} damaged slice(s) left out and {what} (--skip-damaged): {names}; "
                            f"first: {damaged[0].reason}")


__all__ = ["HINT", "damaged_error", "as_damage", "without", "record"]
