"""``medseg run``: the whole pipeline on one study, with every output and ``report.html``.

convert → auto-label (table/headrest removal, body, lungs, airway, bone) → statistics →
radiomics → meshes → DICOM SEG (when the input was DICOM) → figures → report. Each step is one
of the library's steps; this module only composes them and records what each did and how long
it took. A step that cannot run on this input (DICOM SEG from a series whose UIDs were blanked,
say) becomes a warning in the report, not a failure of the run.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import SimpleITK as sitk

from ..errors import MedSegError
from ..progress import CancelEvent, Progress, check_cancel, report, sub_progress


@dataclass
class RunResult:
    """What :func:`run_study` produced: output paths by kind, per-step seconds, warnings, and facts."""

    outdir: Path
    outputs: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    stats_rows: list[dict] = field(default_factory=list)
    radiomics_rows: list[dict] = field(default_factory=list)
    mesh_rows: list[dict] = field(default_factory=list)
    figures: dict[str, Path] = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)  # the options run_study was called with
    grid: dict = field(default_factory=dict)  # size, spacing, direction of the image (report.facts.grid_facts)
    pictures: dict = field(default_factory=dict)  # report.png.Picture by name: pictures only report.html holds
    surfaces: list = field(default_factory=list, repr=False)  # the meshes, for the report's 3D view


class _Timer:
    def __init__(self, result: RunResult, name: str):
        self.result, self.name = result, name

    def __enter__(self):
        self.t0 = time.perf_counter()

    def __exit__(self, *exc):
        self.result.seconds[self.name] = round(time.perf_counter() - self.t0, 2)


def run_study(path: str | os.PathLike, outdir: str | os.PathLike, *, series: str | None = None,
              resample: bool = True, force: bool = False, radiomics_preset: str | None = None,
              radiomics_labels: Sequence[str] | None = None, jobs: int = 1, models: Sequence[str] = (),
              device: str = "auto", meshes: bool = True, dicom_seg: bool = True, progress: Progress | None = None,
              cancel: CancelEvent = None, skip_damaged: bool = False) -> RunResult:
    """Run every step on one study and write its outputs into ``outdir``.

    Outputs: ``ct.nrrd`` (HU), ``ct-clean.nrrd`` (table/headrest and outside air at AIR_HU),
    ``labels.seg.nrrd`` (the auto-label table), ``stats.csv``, ``radiomics.csv`` (only when
    ``radiomics_preset`` names a preset or a parameter file; pyradiomics missing becomes a
    warning), ``meshes/*.stl`` + ``meshes.png``, ``labels.seg.dcm`` (DICOM input only),
    ``overlay.png`` and ``report.html``.

    ``radiomics_labels``: segment names (or values) to compute features for (default: the
    extractor's, every segment but body and table-headrest); ``jobs``: radiomics worker processes
    (0 = one per CPU). ``models`` (model names or folders) and ``device`` add U-Net segments;
    that step is not part of this build, so asking for a model raises :class:`MedSegError`.
    """
    given = dict(locals())  # first, so it holds the options and nothing else
    if models:
        raise MedSegError("--model in run: not built on this branch")
    from ..report.figures import overlay_axial
    from ..io import write_label_image, write_volume
    from ..labels import AUTO_LABELS, BODY
    from .steps import autolabel, convert
    from ..report.html import write_report
    from ..report.collect import add_study_pictures
    from ..report.facts import run_parameters
    from ..measure.stats import segment_statistics
    from ..io.tables import write_rows

    out = Path(outdir)
    if radiomics_preset:
        _check_params(radiomics_preset)  # a broken parameter file fails now, not after the other steps
    result = RunResult(out)
    result.parameters = run_parameters(given)
    names = {lab.value: lab.name for lab in AUTO_LABELS}

    with _Timer(result, "convert"):
        loaded = convert(path, series=series, resample=resample, progress=sub_progress(progress, 0.0, 0.15),
                         cancel=cancel, skip_damaged=skip_damaged)
    inputs = loaded.inputs
    from .files import check_outputs

    check_outputs([out / name for name in RUN_FILES], inputs)
    out.mkdir(parents=True, exist_ok=True)
    result.meta = {k: v for k, v in loaded.meta.items() if k not in ("files", "slice_positions", "duplicate_files")}
    result.warnings += loaded.meta.get("warnings", [])
    result.outputs["ct"] = write_volume(loaded.image, out / "ct.nrrd", inputs=inputs)

    with _Timer(result, "autolabel"):
        auto = autolabel(loaded.image, loaded.meta, force=force, progress=sub_progress(progress, 0.15, 0.55),
                         cancel=cancel)
    labels = auto.labels
    result.outputs["labels"] = write_label_image(labels, out / "labels.seg.nrrd", segments=list(AUTO_LABELS),
                                                 inputs=inputs)
    result.outputs["ct_clean"] = write_volume(auto.cleaned(loaded.image), out / "ct-clean.nrrd", inputs=inputs)
    check_cancel(cancel)

    with _Timer(result, "statistics"):
        result.stats_rows = segment_statistics(loaded.image, labels, names=names)
    result.outputs["stats"] = write_rows(result.stats_rows, out / "stats.csv", inputs=inputs)
    report(progress, 0.6, "statistics")

    if radiomics_preset:
        _radiomics(result, loaded.image, labels, names, radiomics_preset, inputs,
                   sub_progress(progress, 0.6, 0.8), cancel, label_values=radiomics_labels, jobs=jobs)
    if meshes:
        _meshes(result, labels, names, inputs, sub_progress(progress, 0.8, 0.9), cancel)
    if dicom_seg and loaded.meta.get("source") == "dicom":
        _dicom_seg(result, labels, loaded.meta, inputs)

    with _Timer(result, "figures"):
        result.figures["overlay"] = overlay_axial(loaded.image, labels, out / "overlay.png", window=(-300.0, 1600.0),
                                                  title="Auto-labels (radiological view; body as outline)",
                                                  inputs=inputs, outline=(BODY.value,))
        add_study_pictures(result, loaded.image, labels, loaded.meta)
    result.outputs["report"] = write_report(result, out / "report.html", inputs=inputs)
    report(progress, 1.0, "report written")
    return result


#: The files ``run`` writes in its output folder (meshes go to ``meshes/``).
RUN_FILES = ("ct.nrrd", "labels.seg.nrrd", "ct-clean.nrrd", "stats.csv", "radiomics.csv", "labels.seg.dcm",
             "overlay.png", "meshes.png", "report.html")


def _check_params(preset) -> None:
    """Refuse a radiomics parameter file that cannot be used; a missing pyradiomics stays a warning later."""
    from ..errors import DependencyError
    from ..measure.radiomics import validate_params

    try:
        validate_params(preset)
    except DependencyError:
        pass


def _radiomics(result: RunResult, image, labels, names, preset, inputs, progress, cancel, label_values=None,
               jobs: int = 1) -> None:
    from ..measure.radiomics import extract
    from ..io.tables import write_rows

    try:
        with _Timer(result, "radiomics"):
            result.radiomics_rows = extract(image, labels, names=names, params=preset, label_values=label_values,
                                            jobs=jobs, progress=progress, cancel=cancel)
        if result.radiomics_rows:
            result.outputs["radiomics"] = write_rows(result.radiomics_rows, result.outdir / "radiomics.csv", inputs=inputs)
    except MedSegError as exc:
        result.warnings.append(f"radiomics skipped: {exc}")


def _meshes(result: RunResult, labels, names, inputs, progress, cancel) -> None:
    from ..labels import BODY, TABLE_HEADREST
    from ..measure.mesh import label_surfaces
    from ..io.meshes import write_meshes
    from ..report.meshes import render_png

    present = [int(v) for v in np.unique(sitk.GetArrayViewFromImage(labels)) if v]
    # The body and table surfaces hide everything inside them; mesh the organs.
    values = [v for v in present if v not in (BODY.value, TABLE_HEADREST.value)]
    if not values:
        result.warnings.append("meshes skipped: no organ segment to mesh")
        return
    with _Timer(result, "meshes"):
        surfaces = label_surfaces(labels, names=names, values=values, smooth_iterations=10, progress=progress,
                                  cancel=cancel)
        paths = write_meshes(surfaces, result.outdir / "meshes", fmt="stl", inputs=inputs)
        result.figures["meshes"] = render_png(surfaces, result.outdir / "meshes.png",
                                              views=("anterior-oblique", "inferior"), inputs=inputs)
    result.mesh_rows = [s.summary() for s in surfaces]
    result.surfaces = surfaces
    result.outputs["meshes"] = paths[0].parent


def _dicom_seg(result: RunResult, labels, meta: dict, inputs) -> None:
    from ..io.dicomseg import write_dicom_seg
    from ..labels import AUTO_LABELS

    try:
        with _Timer(result, "dicom-seg"):
            result.outputs["dicom_seg"] = write_dicom_seg(labels, meta["files"], result.outdir / "labels.seg.dcm",
                                                          segments=list(AUTO_LABELS), inputs=inputs)
    except MedSegError as exc:
        result.warnings.append(f"DICOM SEG not written: {exc}")
