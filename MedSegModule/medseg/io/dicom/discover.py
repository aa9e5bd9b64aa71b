"""Find DICOM image series in a folder (recursively), a single file or a DICOMDIR, and describe them.

Nothing here decodes pixels: listing a study (``medseg info``) stays fast. Only regular files are
opened (a FIFO would block the listing); a sub-folder that cannot be read is said as a warning.
What cannot be used is either *skipped* (not a slice: said as a warning) or *damaged* (a slice
that cannot be used, :class:`~.slice_header.DamagedFile`: the loader refuses its series unless
damaged slices are skipped). A file a DICOMDIR lists but that is missing is damaged too.
"""

from __future__ import annotations

import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import DicomDecodeError, InputError, MedSegError, NoDicomError
from ...progress import CancelEvent, Progress, check_cancel, report
from .geometry import SeriesGeometry, series_geometry, split_outliers
from .headers import try_read_headers
from .slice_header import DamagedFile, SliceHeader
from .regularize import plan_grid

#: A layout group this small, beside a group of at least :data:`LONE_MAIN_MIN` slices, is taken for
#: a localizer that shares the series UID (some scanners do this) and skipped, not split off.
LONE_MAX = 1
LONE_MAIN_MIN = 3


@dataclass
class Series:
    """One image series: its slices' headers (sorted along the slice normal) and its geometry."""

    uid: str
    slices: list[SliceHeader]
    geometry: SeriesGeometry
    warnings: list[str] = field(default_factory=list)
    #: (kept, dropped) slices that shared a position; the loader compares their pixels.
    duplicates: list[tuple[SliceHeader, SliceHeader]] = field(default_factory=list)
    #: The series key of the files (``uid`` without the ``.N`` of a split series).
    key: str = ""

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
        summary = {
            "series_uid": self.uid,
            "modality": self.modality or "unknown",
            "description": self.description,
            "slices": len(self.slices),
            "files": len({s.path for s in self.slices}),
            "size": list(g.size),
            "spacing": [round(s, 6) for s in g.spacing],
            "origin": [round(float(o), 6) for o in g.origin],
            "transfer_syntax": str(self.slices[0].dataset.file_meta.get("TransferSyntaxUID", "")),
            "uneven_spacing": g.uneven,
            "missing_slices": g.missing_slices,
            "tilt_deg": round(g.tilt_deg, 3) if g.shifted else 0.0,
            "duplicates": len(self.duplicates),
            "warnings": list(self.warnings),
        }
        if g.irregular:  # what `convert` makes of it by default (resampled onto a regular grid)
            try:
                grid = plan_grid(g)
            except MedSegError as exc:
                summary["warnings"].append(f"cannot be resampled onto a regular grid: {exc}")
            else:
                summary["resampled_size"] = list(grid.size)
                summary["resampled_spacing"] = [round(s, 6) for s in grid.spacing]
        return summary


@dataclass
class Discovery:
    """Every series found under a path, plus the files skipped and why."""

    root: Path
    series: list[Series]
    skipped: list[tuple[Path, str]]
    #: Slices that cannot be used (see the module docstring), whatever series they belong to.
    damaged: list[DamagedFile] = field(default_factory=list)

    def skipped_summary(self) -> list[str]:
        """One warning line per skip reason, with a count and an example file."""
        by_reason: dict[str, list[Path]] = defaultdict(list)
        for path, reason in self.skipped:
            by_reason[reason].append(path)
        return [f"skipped {len(p)} file(s): {r} (e.g. {p[0].name})" for r, p in sorted(by_reason.items())]

    def damaged_in(self, series: Series) -> list[DamagedFile]:
        """The damaged slices that belong to ``series``, or whose series cannot be told."""
        key = series.key or series.uid
        return [d for d in self.damaged if d.series_uid is None or d.series_uid == key]


def _dicomdir_files(dicomdir: Path) -> tuple[list[Path], list[DamagedFile]]:
    """The files a DICOMDIR lists (inside its File-set), and a damage for each listed file that is missing.

    Records are read in their order in the index (depth-first, as writers lay them out), so an
    IMAGE record belongs to the SERIES record before it.
    """
    import pydicom

    try:
        ds = pydicom.dcmread(dicomdir)
        records = list(ds.DirectoryRecordSequence)
    except Exception as exc:  # noqa: BLE001 (a broken index: pydicom raises many types)
        raise InputError(f"{dicomdir}: cannot read this DICOMDIR ({type(exc).__name__}: {str(exc)[:160]})") from None
    root = dicomdir.parent.resolve()
    files, damaged, uid = [], [], None
    for record in records:
        try:
            if str(record.get("DirectoryRecordType", "")).upper() == "SERIES":
                uid = str(record.get("SeriesInstanceUID", "") or "") or None
            parts = record.get("ReferencedFileID")
            if parts in (None, ""):
                continue
            parts = [parts] if isinstance(parts, str) else [str(p) for p in parts]
        except Exception:  # noqa: BLE001 (one broken record)
            continue
        path = root.joinpath(*parts)
        if any(p in ("", ".", "..") or "/" in p or "\\" in p for p in parts):
            damaged.append(DamagedFile(path, f"listed in {dicomdir.name} with a path outside its File-set", uid))
        elif not path.is_file():
            damaged.append(DamagedFile(path, f"listed in {dicomdir.name} but missing", uid))
        else:
            files.append(path)
    return files, damaged


def _is_dicomdir(path: Path) -> bool:
    return path.name.upper() == "DICOMDIR"


def _candidate_files(root: Path) -> tuple[list[Path], list[tuple[Path, str]], list[DamagedFile]]:
    """(files to read, (path, reason) skipped, damaged) under ``root``: a folder, a file or a DICOMDIR."""
    if root.is_file():
        if _is_dicomdir(root):
            files, damaged = _dicomdir_files(root)
            return files, [(root, "DICOMDIR (a media index, not an image)")], damaged
        return [root], [], []
    if not root.exists():
        raise InputError(f"{root}: no such file or folder")
    if not root.is_dir():
        raise InputError(f"{root}: not a regular file or a folder (a pipe, socket or device)")
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    damaged: list[DamagedFile] = []

    def unreadable(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else root
        if where == root:
            raise InputError(f"{root}: cannot read this folder ({exc.strerror or exc})")
        skipped.append((where, f"unreadable folder ({exc.strerror or exc}): its files were not looked at"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        names = [f for f in sorted(filenames) if not f.startswith(".")]
        files.extend(Path(dirpath) / f for f in names)
        for name in names:
            if _is_dicomdir(Path(name)):
                try:
                    damaged.extend(_dicomdir_files(Path(dirpath) / name)[1])
                except InputError as exc:
                    skipped.append((Path(dirpath) / name, f"DICOMDIR that cannot be read ({exc})"))
    return files, skipped, damaged


def _split_by_layout(uid: str, slices: list[SliceHeader]
                     ) -> tuple[list[tuple[str, list[SliceHeader], list[str]]], list[tuple[Path, str]]]:
    """Split one UID's slices by orientation and matrix size, which one volume cannot mix.

    A lone slice (a group of :data:`LONE_MAX`) beside a stack of at least :data:`LONE_MAIN_MIN`
    slices is a localizer or scout that shares the UID: it is skipped, not made a series of its own.
    Returns ([(uid, slices, notes)], [(path, reason skipped)]).
    """
    groups: dict[tuple, list[SliceHeader]] = defaultdict(list)
    for s in slices:
        key = (s.rows, s.columns, tuple(np.round(s.orientation, 3)), tuple(np.round(s.pixel_spacing, 4)))
        groups[key].append(s)
    if len(groups) == 1:
        return [(uid, slices, [])], []
    ordered = sorted(groups.values(), key=len, reverse=True)
    skipped: list[tuple[Path, str]] = []
    if len(ordered[0]) >= LONE_MAIN_MIN:
        main = ordered[0][0]
        for group in [g for g in ordered[1:] if len(g) <= LONE_MAX]:
            s = group[0]
            what = "orientation" if not np.allclose(s.orientation, main.orientation, atol=1e-3) else "size/spacing"
            skipped.append((s.path, f"lone slice with a different {what} inside a series (taken for a localizer)"))
        ordered = [g for g in ordered if g is ordered[0] or len(g) > LONE_MAX]
    if len(ordered) == 1:
        return [(uid, ordered[0], [])], skipped
    note = f"series {uid} mixes {len(ordered)} orientations/sizes; split into {uid}.1 .. {uid}.{len(ordered)}"
    return [(f"{uid}.{i + 1}", g, [note]) for i, g in enumerate(ordered)], skipped


def _apply_soft_skips(headers: list[SliceHeader], skipped: list[tuple[Path, str]]
                      ) -> tuple[list[SliceHeader], str | None]:
    """Set aside soft-skipped slices (derived secondary images) unless nothing else was found."""
    soft = [h for h in headers if h.soft_skip]
    if not soft:
        return headers, None
    hard = [h for h in headers if not h.soft_skip]
    if hard:
        skipped.extend(sorted({(h.path, h.soft_skip) for h in soft}, key=str))  # once per file, not per frame
        return hard, None
    reason = soft[0].soft_skip
    return soft, f"only images skipped by default were found ({reason}); using them all the same"


def discover(path: str | os.PathLike, progress: Progress | None = None, cancel: CancelEvent = None,
             workers: int | None = None) -> Discovery:
    """Read the headers under ``path`` and group them into series.

    Raises :class:`NoDicomError` when no DICOM image is found (the message says what was skipped).
    """
    root = Path(path)
    files, skipped, damaged = _candidate_files(root)
    if not files and not damaged:
        raise NoDicomError(f"{path}: the folder is empty" + (f" ({skipped[0][1]})" if skipped else ""))
    headers: list[SliceHeader] = []
    with ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 2) * 2)) as pool:
        for i, (f, (found, why, damage)) in enumerate(zip(files, pool.map(try_read_headers, files))):
            check_cancel(cancel)
            if damage is not None:
                damaged.append(damage)
            elif not found:
                skipped.append((f, why or "unreadable"))
            else:
                headers.extend(found)
            report(progress, (i + 1) / len(files), "reading DICOM headers")
    headers, fallback_note = _apply_soft_skips(headers, skipped)
    if not headers:
        if damaged:
            more = f" and {len(damaged) - 1} more damaged file(s)" if len(damaged) > 1 else ""
            raise DicomDecodeError(f"no usable DICOM slice in {path}: {damaged[0]}{more}")
        reasons = sorted({why for _, why in skipped})
        raise NoDicomError(f"{path}: no DICOM images found ({len(skipped)} file(s) skipped: {'; '.join(reasons)})")
    by_uid: dict[str, list[SliceHeader]] = defaultdict(list)
    for h in headers:
        by_uid[h.series_uid].append(h)
    series = []
    for uid, slices in by_uid.items():
        parts, lone = _split_by_layout(uid, slices)
        skipped.extend(lone)
        for sub_uid, sub, notes in parts:
            sub, outliers = split_outliers(sub)
            damaged.extend(outliers)
            geometry, ordered, warnings, duplicates = series_geometry(sub)
            notes = notes + sorted({n for s in sub for n in s.notes})
            if uid.startswith("noUID-"):
                warnings.insert(0, "SeriesInstanceUID is empty; slices grouped by study, frame of reference "
                                   f"and series description as {uid}")
            if not sub[0].modality and sub[0].is_ct:
                warnings.append("Modality tag missing; the SOP class is CT Image Storage, so it is treated as CT")
            if fallback_note:
                warnings.insert(0, fallback_note)
            series.append(Series(sub_uid, ordered, geometry, notes + warnings, duplicates, key=uid))
    series.sort(key=lambda s: (not s.is_ct, -s.voxels, s.uid))
    keys = {s.key for s in series}
    for d in damaged:
        if d.series_uid not in keys:  # a scrambled header names no series found: it may be any of them
            d.series_uid = None
    return Discovery(root, series, skipped, damaged)


def choose_series(found: Discovery, uid: str | None = None) -> tuple[Series, str | None]:
    """Pick the series to load: ``uid`` if given, else the largest CT series (else the largest).

    Returns the series and a sentence saying what was chosen when there was a choice to make.
    Raises :class:`~medseg.errors.SeriesNotFoundError` for an unknown UID.
    """
    from ...errors import SeriesNotFoundError

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
