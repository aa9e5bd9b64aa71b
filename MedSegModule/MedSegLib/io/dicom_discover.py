"""Find DICOM image series in a folder (recursively) or a single file, and describe them.

Nothing here decodes pixels: listing a study (``medseg info``) stays fast.
"""

from __future__ import annotations

import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, NoDicomError
from ..steps import CancelEvent, Progress, check_cancel, report
from .dicom_geometry import SeriesGeometry, series_geometry
from .dicom_headers import SliceHeader, try_read_header


@dataclass
class Series:
    """One image series: its slices' headers (sorted along the slice normal) and its geometry."""

    uid: str
    slices: list[SliceHeader]
    geometry: SeriesGeometry
    warnings: list[str] = field(default_factory=list)

    @property
    def modality(self) -> str:
        first = self.slices[0]
        if first.modality:
            return first.modality
        return "CT" if first.is_ct else ""

    @property
    def is_ct(self) -> bool:
        return self.slices[0].is_ct

    @property
    def description(self) -> str:
        return str(self.slices[0].dataset.get("SeriesDescription", "") or "")

    @property
    def voxels(self) -> int:
        return int(np.prod(self.geometry.size))

    def summary(self) -> dict:
        """Plain, JSON-ready facts for ``medseg info`` (no patient data)."""
        g = self.geometry
        return {
            "series_uid": self.uid,
            "modality": self.modality or "unknown",
            "description": self.description,
            "slices": len(self.slices),
            "size": list(g.size),
            "spacing": [round(s, 6) for s in g.spacing],
            "origin": [round(float(o), 6) for o in g.origin],
            "transfer_syntax": str(self.slices[0].dataset.file_meta.get("TransferSyntaxUID", "")),
            "warnings": list(self.warnings),
        }


@dataclass
class Discovery:
    """Every series found under a path, plus the files skipped and why."""

    root: Path
    series: list[Series]
    skipped: list[tuple[Path, str]]

    def skipped_summary(self) -> list[str]:
        """One warning line per skip reason, with a count and an example file."""
        by_reason: dict[str, list[Path]] = defaultdict(list)
        for path, reason in self.skipped:
            by_reason[reason].append(path)
        return [f"skipped {len(p)} file(s): {r} (e.g. {p[0].name})" for r, p in sorted(by_reason.items())]


def _candidate_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.exists():
        raise InputError(f"{root}: no such file or folder")
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
    return files


def _split_by_layout(uid: str, slices: list[SliceHeader]) -> list[tuple[str, list[SliceHeader], list[str]]]:
    """Split one UID's slices by orientation and matrix size, which one volume cannot mix."""
    groups: dict[tuple, list[SliceHeader]] = defaultdict(list)
    for s in slices:
        key = (s.rows, s.columns, tuple(np.round(s.orientation, 3)), tuple(np.round(s.pixel_spacing, 4)))
        groups[key].append(s)
    if len(groups) == 1:
        return [(uid, slices, [])]
    ordered = sorted(groups.values(), key=len, reverse=True)
    note = f"series {uid} mixes {len(groups)} orientations/sizes; split into {uid}.1 .. {uid}.{len(groups)}"
    return [(f"{uid}.{i + 1}", g, [note]) for i, g in enumerate(ordered)]


def discover(path: str | os.PathLike, progress: Progress | None = None, cancel: CancelEvent = None,
             workers: int | None = None) -> Discovery:
    """Read the headers under ``path`` and group them into series.

    Raises :class:`NoDicomError` when no DICOM image is found (the message says what was skipped).
    """
    root = Path(path)
    files = _candidate_files(root)
    if not files:
        raise NoDicomError(f"{path}: the folder is empty")
    headers: list[SliceHeader] = []
    skipped: list[tuple[Path, str]] = []
    with ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 2) * 2)) as pool:
        for i, (f, (hdr, why)) in enumerate(zip(files, pool.map(try_read_header, files))):
            check_cancel(cancel)
            if hdr is None:
                skipped.append((f, why or "unreadable"))
            else:
                headers.append(hdr)
            report(progress, (i + 1) / len(files), "reading DICOM headers")
    if not headers:
        reasons = sorted({why for _, why in skipped})
        raise NoDicomError(f"{path}: no DICOM images found ({len(skipped)} file(s) skipped: {'; '.join(reasons)})")
    by_uid: dict[str, list[SliceHeader]] = defaultdict(list)
    for h in headers:
        by_uid[h.series_uid].append(h)
    series = []
    for uid, slices in by_uid.items():
        for sub_uid, sub, notes in _split_by_layout(uid, slices):
            geometry, ordered, warnings = series_geometry(sub)
            if uid.startswith("noUID-"):
                warnings.insert(0, "SeriesInstanceUID is empty; slices grouped by study, frame of reference "
                                   f"and series description as {uid}")
            if not sub[0].modality and sub[0].is_ct:
                warnings.append("Modality tag missing; the SOP class is CT Image Storage, so it is treated as CT")
            series.append(Series(sub_uid, ordered, geometry, notes + warnings))
    series.sort(key=lambda s: (not s.is_ct, -s.voxels, s.uid))
    return Discovery(root, series, skipped)


def choose_series(found: Discovery, uid: str | None = None) -> tuple[Series, str | None]:
    """Pick the series to load: ``uid`` if given, else the largest CT series (else the largest).

    Returns the series and a sentence saying what was chosen when there was a choice to make.
    Raises :class:`~MedSegLib.errors.SeriesNotFoundError` for an unknown UID.
    """
    from ..errors import SeriesNotFoundError

    if uid:
        for s in found.series:
            if s.uid == uid:
                return s, None
        known = ", ".join(s.uid for s in found.series)
        raise SeriesNotFoundError(f"series {uid} is not in {found.root} (found: {known})")
    chosen = found.series[0]  # discover() sorted CT first, then by size
    if len(found.series) == 1:
        return chosen, None
    kind = "CT series" if chosen.is_ct else "series (no CT found)"
    return chosen, (f"{len(found.series)} series found; using the largest {kind} {chosen.uid} "
                    f"({len(chosen.slices)} slices); pick another with --series UID")
