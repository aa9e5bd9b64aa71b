"""The measuring steps of ``medseg run``: radiomics (opt-in), meshes and the DICOM SEG.

Radiomics is computed only for segments whose texture means something: the lungs, airway,
tumours, models' segments and the user's own labels; not the body, the table/headrest or the
whole-skeleton bone (pyradiomics' shape and texture of a skeleton take many minutes and say
little) unless ``radiomics_labels`` names them. Before the segments start, an estimate of their
time (from their voxel counts) is logged, and a line per finished segment.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Iterable, Mapping, Sequence

from ..errors import DependencyError, MedSegError
from ..labels import BODY, BONE, TABLE_HEADREST
from ..progress import check_cancel, report

log = logging.getLogger("medseg.run")

#: Auto-labels left out of radiomics unless named in ``radiomics_labels``.
RADIOMICS_SKIPPED = (BODY, TABLE_HEADREST, BONE)
#: pyradiomics seconds per million segment voxels with the default preset on one core (measured
#: on a 2-core x86 machine by benchmarks/bench_radiomics.py); used only for the logged estimate.
RADIOMICS_S_PER_MVOXEL = 40.0
#: Estimated seconds above which a segment's estimate is logged as a warning, not info.
LONG_SEGMENT_S = 30.0
#: Faces the report's surface picture draws in all (the STL files keep every face).
DISPLAY_FACES = 40_000


class Timer:
    """Wall and CPU seconds of a step into ``result.seconds`` and ``result.cpu_seconds``."""

    def __init__(self, result: RunResult, name: str):
        self.result, self.name = result, name

    def __enter__(self):
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    def __exit__(self, *exc):
        self.result.seconds[self.name] = round(time.perf_counter() - self.t0, 2)
        self.result.cpu_seconds[self.name] = round(time.process_time() - self.c0, 2)


def check_params(preset) -> None:
    """Refuse a radiomics parameter file that cannot be used; a missing pyradiomics stays a warning later."""
    from ..measure.radiomics import validate_params

    try:
        validate_params(preset)
    except DependencyError:
        pass


def _wanted(item, value: int, name: str) -> bool:
    text = str(item).strip()
    return text == str(value) or text.lower() == name.lower()


def radiomics_values(stats_rows: Sequence[dict], requested: Iterable[int | str] | None) -> list[int]:
    """Label values that get radiomics, of those present: with ``requested`` (values or names) exactly
    the ones it names (the user chooses, body and bone included when named); without it every one but
    body, table-headrest and bone, whose shape and texture features cost minutes and mean little."""
    requested = list(requested or [])
    skipped = {lab.value for lab in RADIOMICS_SKIPPED}
    out = []
    for row in stats_rows:
        value, name = int(row["label_value"]), str(row["segment"])
        if not row["voxel_count"]:
            continue
        if any(_wanted(item, value, name) for item in requested) if requested else value not in skipped:
            out.append(value)
    return out


def _estimate(sizes: Mapping[str, int], jobs: int) -> None:
    """Log each segment's expected time before extraction starts (LPT order: largest first)."""
    if not sizes:
        return
    seconds = {name: n / 1e6 * RADIOMICS_S_PER_MVOXEL for name, n in sizes.items()}
    total = sum(seconds.values()) / max(1, min(jobs, len(seconds)))
    for name, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
        level = logging.WARNING if s > LONG_SEGMENT_S else logging.INFO
        log.log(level, "radiomics: %s, %.2f M voxels, about %.0f s", name, sizes[name] / 1e6, s)
    log.info("radiomics: %d segment(s), about %.0f s with %d job(s)", len(seconds), total, jobs)


class _Lines:
    """A progress callback that also logs one line per finished segment."""

    def __init__(self, progress, t0: float):
        self.progress, self.t0, self.seen = progress, t0, set()

    def __call__(self, fraction: float, message: str) -> None:
        if message.startswith("radiomics: ") and message != "radiomics: starting" and message not in self.seen:
            self.seen.add(message)
            log.info("%s done (%.1f s since start)", re.sub(r"^radiomics: case \d+ ", "radiomics: ", message),
                     time.perf_counter() - self.t0)
        report(self.progress, fraction, message)


def radiomics(result, image, labels, names: Mapping[int, str], predicted: Sequence, preset,
              requested: Iterable[int | str] | None, jobs: int, inputs, progress, cancel) -> None:
    """pyradiomics for the sensible auto-label segments and every model segment; ``radiomics.csv``."""
    from ..io.tables import write_rows
    from ..measure.radiomics import extract
    from ..measure.radiomics.pool import resolve_jobs

    requested = list(requested or [])
    jobs = resolve_jobs(jobs)
    work = []  # (label image, names, values)
    values = radiomics_values(result.stats_rows, requested)
    if values:
        work.append((labels, names, values))
    for entry, (labelmap, model_names) in zip(result.models, predicted):
        model_values = [int(r["label_value"]) for r in entry["stats_rows"] if r["voxel_count"] and (
            not requested or any(_wanted(item, int(r["label_value"]), str(r["segment"])) for item in requested))]
        if model_values:
            work.append((labelmap, model_names, model_values))
    rows_by_name = {str(r["segment"]): int(r["voxel_count"] or 0)
                    for r in result.stats_rows + [r for m in result.models for r in m["stats_rows"]]}
    sizes = {names_.get(v, str(v)): rows_by_name.get(names_.get(v, str(v)), 0) for _, names_, vals in work for v in vals}
    known = {n.lower() for n in rows_by_name} | {str(r["label_value"]) for r in result.stats_rows}
    for item in requested:
        if str(item).strip().lower() not in known:
            result.warnings.append(f"radiomics: {item!r} is not a segment of this study; left out")
    if not work:
        result.warnings.append("radiomics skipped: no segment it is meant for (body, table and bone are left "
                               "out unless named with --radiomics-labels)")
        return
    result.radiomics_segments = list(sizes)
    _estimate(sizes, jobs)
    t0 = time.perf_counter()
    lines = _Lines(progress, t0)
    try:
        rows = []
        for k, (labelmap, names_, vals) in enumerate(work):
            check_cancel(cancel)
            rows += extract(image, labelmap, names=names_, params=preset, label_values=vals, jobs=jobs,
                            progress=_sub(lines, k / len(work), (k + 1) / len(work)), cancel=cancel)
        result.radiomics_rows = rows
        result.seconds["radiomics"] = round(time.perf_counter() - t0, 2)
        if rows:
            result.outputs["radiomics"] = write_rows(rows, result.outdir / "radiomics.csv", inputs=inputs)
    except MedSegError as exc:
        result.warnings.append(f"radiomics skipped: {exc}")


def _sub(callback, lo: float, hi: float):
    return lambda f, m: callback(lo + (hi - lo) * f, m)


def meshes(result, labels, names: Mapping[int, str], stats_rows: Sequence[dict], writer, inputs, progress,
           cancel) -> None:
    """Closed surfaces of the organ segments (not body or table), STL files and the report's picture."""
    from ..io.meshes import write_meshes
    from ..measure.mesh import coarsened, label_surfaces
    from ..report.meshes import render_png

    # The body and table surfaces hide everything inside them; mesh the organs.
    values = [int(r["label_value"]) for r in stats_rows
              if r["voxel_count"] and int(r["label_value"]) not in (BODY.value, TABLE_HEADREST.value)]
    if not values:
        result.warnings.append("meshes skipped: no organ segment to mesh")
        return
    with Timer(result, "meshes"):
        surfaces = label_surfaces(labels, names=names, values=values, smooth_iterations=10, progress=progress,
                                  cancel=cancel, boxes=_boxes(stats_rows))
    folder = result.outdir / "meshes"
    writer.submit("meshes", lambda: write_meshes(surfaces, folder, fmt="stl", inputs=inputs)[0].parent)
    with Timer(result, "mesh picture"):
        shown = coarsened(surfaces, DISPLAY_FACES)
        result.figures["meshes"] = render_png(shown, result.outdir / "meshes.png",
                                              views=("anterior-oblique", "inferior"), inputs=inputs,
                                              max_faces=2 * DISPLAY_FACES)
    result.mesh_rows = [s.summary() for s in surfaces]
    result.surfaces = shown


def _boxes(stats_rows: Sequence[dict]) -> dict[int, tuple[slice, slice, slice]]:
    """{value: (z, y, x) slices} from the statistics rows' inclusive index boxes."""
    out = {}
    for r in stats_rows:
        if r["voxel_count"]:
            out[int(r["label_value"])] = tuple(slice(int(r[f"bbox_index_min_{a}"]), int(r[f"bbox_index_max_{a}"]) + 1)
                                               for a in "zyx")
    return out


def dicom_seg(result, labels, meta: dict, inputs) -> None:
    from ..io.dicomseg import write_dicom_seg
    from ..labels import AUTO_LABELS

    try:
        with Timer(result, "dicom-seg"):
            result.outputs["dicom_seg"] = write_dicom_seg(labels, meta["files"], result.outdir / "labels.seg.dcm",
                                                          segments=list(AUTO_LABELS), inputs=inputs)
    except MedSegError as exc:
        result.warnings.append(f"DICOM SEG not written: {exc}")


__all__ = ["RADIOMICS_SKIPPED", "radiomics_values", "radiomics", "meshes", "dicom_seg", "check_params"]
