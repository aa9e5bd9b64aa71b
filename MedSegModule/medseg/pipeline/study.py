"""``medseg run``: the whole pipeline on one study, with every output and ``report.html``.

convert → auto-label (table/headrest removal, body, lungs, airway, bone) → U-Net models (when
asked) → statistics → radiomics (when asked) → meshes → DICOM SEG (when the input was DICOM) →
figures → report. Each step is one of the library's steps; this module only composes them and
records what each did and how long it took. A step that cannot run on this input (DICOM SEG from
a series whose UIDs were blanked, say) becomes a warning in the report, not a failure of the run.

Files are written by one background thread while the next step computes (compression and
SimpleITK's writer release the GIL), and every write has finished before the report is written
or an error leaves the function; each write is atomic, so an interruption leaves no half file.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ..progress import CancelEvent, Progress, check_cancel, report, sub_progress
from .study_measures import Timer as _Timer


@dataclass
class RunResult:
    """What :func:`run_study` produced: output paths by kind, per-step seconds, warnings, and facts.

    ``models`` has one entry per U-Net model run (see :func:`.study_models.run_models`): its name,
    folder, device, segments, seg.nrrd path, slices, seconds, range warnings and statistics rows.
    ``radiomics_segments`` names the segments radiomics was computed for (empty when off).
    ``cpu_seconds``: this process's CPU seconds per timed step (all its threads; on a shared
    machine a steadier measure than ``seconds``).
    """

    outdir: Path
    outputs: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    stats_rows: list[dict] = field(default_factory=list)
    radiomics_rows: list[dict] = field(default_factory=list)
    radiomics_segments: list[str] = field(default_factory=list)
    mesh_rows: list[dict] = field(default_factory=list)
    figures: dict[str, Path] = field(default_factory=dict)
    models: list[dict] = field(default_factory=list)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)  # the options run_study was called with
    grid: dict = field(default_factory=dict)  # size, spacing, direction of the image (report.facts.grid_facts)
    pictures: dict = field(default_factory=dict)  # report.png.Picture by name: pictures only report.html holds
    surfaces: list = field(default_factory=list, repr=False)  # the meshes as drawn, for the report's 3D view


class _Writer:
    """One background thread for output files; :meth:`finish` waits for all and raises the first error."""

    def __init__(self, result: RunResult):
        self.result = result
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="medseg-write")
        self.pending: list[tuple[str, Future]] = []

    def submit(self, kind: str, fn: Callable, *args, **kwargs) -> None:
        self.pending.append((kind, self.pool.submit(fn, *args, **kwargs)))

    def finish(self, raise_errors: bool = True) -> None:
        t0 = time.perf_counter()
        self.pool.shutdown(wait=True)
        pending, self.pending = self.pending, []
        self.result.seconds["waiting for writes"] = round(time.perf_counter() - t0, 2)
        for kind, fut in pending:
            error = fut.exception()
            if error is not None:
                if raise_errors:
                    raise error
                continue
            if fut.result() is not None:
                self.result.outputs[kind] = fut.result()


def run_study(path: str | os.PathLike, outdir: str | os.PathLike, *, series: str | None = None,
              resample: bool = True, force: bool = False, radiomics_preset: str | None = None,
              radiomics_labels: Iterable[int | str] | None = None, jobs: int = 1,
              models: Sequence[str | os.PathLike] = (), device: str = "auto", meshes: bool = True,
              dicom_seg: bool = True, progress: Progress | None = None, cancel: CancelEvent = None,
              skip_damaged: bool = False, rescale_slope: float | None = None,
              rescale_intercept: float | None = None) -> RunResult:
    """Run every step on one study and write its outputs into ``outdir``.

    Outputs: ``ct.nrrd`` (HU), ``ct-clean.nrrd`` (table/headrest and outside air at AIR_HU),
    ``labels.seg.nrrd`` (the auto-label table), ``model-<name>.seg.nrrd`` per model in ``models``
    (shipped names or model folders; run on ``device``: auto, cpu, cuda or mps), ``stats.csv``
    (every segment, auto-labels and models), ``radiomics.csv`` (only with a ``radiomics_preset``;
    for the segments where texture means something, see :func:`.study_measures.radiomics_values`,
    ``radiomics_labels`` adds segments by name or value; ``jobs`` worker processes), ``meshes/*.stl``
    + ``meshes.png``, ``labels.seg.dcm`` (DICOM input only), ``overlay.png`` and ``report.html``.
    """
    given = dict(locals())  # first, so it holds the options and nothing else
    from ..io import write_label_image, write_volume
    from ..io.tables import write_rows
    from ..labels import AUTO_LABELS, BODY
    from ..measure.stats import segment_statistics
    from ..report.figures import overlay_axial
    from ..report.collect import add_model_pictures, add_study_pictures
    from ..report.facts import run_parameters
    from ..report.html import write_report
    from .files import check_outputs
    from .steps import autolabel, convert
    from . import study_measures as measures
    from .study_models import check_models, model_files, run_models

    out = Path(outdir)
    if radiomics_preset:
        measures.check_params(radiomics_preset)  # a broken parameter file fails now, not after the other steps
    model_dirs = check_models(models)  # a wrong model name fails before any work
    result = RunResult(out)
    result.parameters = run_parameters(given)
    names = {lab.value: lab.name for lab in AUTO_LABELS}

    with _Timer(result, "convert"):
        loaded = convert(path, series=series, resample=resample, progress=sub_progress(progress, 0.0, 0.15),
                         cancel=cancel, skip_damaged=skip_damaged, rescale_slope=rescale_slope,
                         rescale_intercept=rescale_intercept)
    inputs = loaded.inputs
    check_outputs([out / name for name in (*RUN_FILES, *model_files(model_dirs))], inputs)
    out.mkdir(parents=True, exist_ok=True)
    result.meta = {k: v for k, v in loaded.meta.items() if k not in ("files", "slice_positions", "duplicate_files")}
    result.warnings += loaded.meta.get("warnings", [])
    writer = _Writer(result)
    try:
        writer.submit("ct", write_volume, loaded.image, out / "ct.nrrd", inputs=inputs)

        with _Timer(result, "autolabel"):
            auto = autolabel(loaded.image, loaded.meta, force=force, progress=sub_progress(progress, 0.15, 0.5),
                             cancel=cancel)
        labels = auto.labels
        writer.submit("labels", write_label_image, labels, out / "labels.seg.nrrd", segments=list(AUTO_LABELS),
                      inputs=inputs)
        writer.submit("ct_clean", write_volume, auto.cleaned(loaded.image), out / "ct-clean.nrrd", inputs=inputs)
        check_cancel(cancel)

        predicted = run_models(result, loaded.image, loaded.meta, model_dirs, device, writer, inputs,
                               sub_progress(progress, 0.5, 0.6), cancel)

        with _Timer(result, "statistics"):
            result.stats_rows = segment_statistics(loaded.image, labels, names=names)
            for entry, (labelmap, model_names) in zip(result.models, predicted):
                entry["stats_rows"] = segment_statistics(loaded.image, labelmap, names=model_names)
        writer.submit("stats", write_rows, result.stats_rows + [r for m in result.models for r in m["stats_rows"]],
                      out / "stats.csv", inputs=inputs)
        report(progress, 0.62, "statistics")

        if radiomics_preset:
            measures.radiomics(result, loaded.image, labels, names, predicted, radiomics_preset, radiomics_labels,
                               jobs, inputs, sub_progress(progress, 0.62, 0.8), cancel)
        if meshes:
            measures.meshes(result, labels, names, result.stats_rows, writer, inputs,
                            sub_progress(progress, 0.8, 0.9), cancel)
        if dicom_seg and loaded.meta.get("source") == "dicom":
            measures.dicom_seg(result, labels, loaded.meta, inputs)

        with _Timer(result, "figures"):
            result.figures["overlay"] = overlay_axial(loaded.image, labels, out / "overlay.png",
                                                      window=(-300.0, 1600.0),
                                                      title="Auto-labels (radiological view; body as outline)",
                                                      inputs=inputs, outline=(BODY.value,))
            add_study_pictures(result, loaded.image, labels, loaded.meta)
            add_model_pictures(result, loaded.image, predicted)
    except BaseException:
        writer.finish(raise_errors=False)  # the first error is the one to report
        raise
    writer.finish()
    result.outputs["report"] = write_report(result, out / "report.html", inputs=inputs)
    report(progress, 1.0, "report written")
    return result


#: The files ``run`` writes in its output folder (meshes go to ``meshes/``; models add ``model-<name>.seg.nrrd``).
RUN_FILES = ("ct.nrrd", "labels.seg.nrrd", "ct-clean.nrrd", "stats.csv", "radiomics.csv", "labels.seg.dcm",
             "overlay.png", "meshes.png", "report.html")
