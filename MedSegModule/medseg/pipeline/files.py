"""Every command's job on files: load the inputs, check every output path, run the step, write.

:func:`on_study` is the one load -> step -> write helper: it loads a study (DICOM or a volume
file), refuses any output path that is an input or that another output of the same command
already names, before anything is written, then runs the step and the writer. Each ``*_to_file``
function below is one ``medseg`` command (and what Slicer's panel or a script calls for the same
job); the command line only parses options and prints.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar, Union

import SimpleITK as sitk

from ..io import input_files, read_label_image, write_label_image, write_volume
from ..io.atomic import check_outputs, output_group
from ..io.grid import align_labels
from ..labels import BODY, LUNG, SEARCH_REGION, SPLIT_LUNG_LEFT, SPLIT_LUNG_RIGHT, TABLE_HEADREST, Label
from ..progress import CancelEvent, Progress, report, sub_progress
from .steps import AutoLabelResult, CleanResult, Converted, LungsResult, autolabel, clean, convert, lungs

R = TypeVar("R")
PathLike = Union[str, os.PathLike]  # evaluated at import: Slicer 5.8's Python 3.9 has no X | Y


def on_study(path: PathLike, outputs: Sequence[PathLike | None], step: Callable[[Converted, Progress | None], R],
             write: Callable[[R, Converted], None], *, series: str | None = None, resample: bool = True,
             progress: Progress | None = None, cancel: CancelEvent = None, load_share: float = 0.3,
             **load) -> R:
    """Load ``path``, check ``outputs`` against its files, run ``step(loaded, progress)``, then ``write``.

    ``load_share`` is the share of the progress bar the loading takes; ``load`` are the loader's
    options beyond series and resample (``rescale_slope``, ``rescale_intercept``, ``skip_damaged``:
    :func:`medseg.io.load`). Returns the step's result.
    """
    check_outputs(outputs, [path])
    loaded = convert(path, series=series, progress=sub_progress(progress, 0.0, load_share), cancel=cancel,
                     resample=resample, **load)
    check_outputs(outputs, loaded.inputs)
    result = step(loaded, sub_progress(progress, load_share, 0.95))
    stats = getattr(result, "stats", None)
    if isinstance(stats, dict):
        # What the loader found (an HU correction, a resampled tilt) belongs with the step's own
        # findings: a command that prints only its step's stats must not hide it.
        stats["warnings"] = list(loaded.meta.get("warnings", [])) + list(stats.get("warnings", []))
        if "hu_check" in loaded.meta:
            stats["hu_check"] = loaded.meta["hu_check"]
    with output_group():  # every output of the command, or none
        write(result, loaded)
    report(progress, 1.0, "written")
    return result


def labels_on(image: sitk.Image, labels_path: PathLike, resample_labels: bool = False,
              what: str = "labels") -> tuple[sitk.Image, dict[int, str]]:
    """A label file on ``image``'s grid, with its names (see :func:`medseg.io.read_label_image`)."""
    labels, names = read_label_image(labels_path)
    return align_labels(labels, image, resample=resample_labels, what=what), names


# --- one function per command --------------------------------------------------------------------

def convert_to_file(path: PathLike, out: PathLike, series: str | None = None, resample: bool = True,
                    progress: Progress | None = None, cancel: CancelEvent = None, **load) -> Converted:
    """``medseg convert``: the study as a volume file (HU for CT); ``load``: as for :func:`on_study`."""
    return on_study(path, [out], lambda loaded, _p: loaded,
                    lambda loaded, _l: write_volume(loaded.image, out, inputs=loaded.inputs),
                    series=series, resample=resample, progress=progress, cancel=cancel, load_share=0.9, **load)


def clean_to_files(path: PathLike, out: PathLike, body_mask: PathLike | None = None,
                   object_mask: PathLike | None = None, series: str | None = None, force: bool = False,
                   resample: bool = True, progress: Progress | None = None, cancel: CancelEvent = None,
                   **load) -> CleanResult:
    """``medseg clean``: the cleaned volume, and the 0/1 body and removed-object masks when asked."""
    def write(result: CleanResult, loaded: Converted) -> None:
        write_volume(result.cleaned, out, inputs=loaded.inputs)
        for mask, dest, label in ((result.body_mask, body_mask, BODY), (result.object_mask, object_mask, TABLE_HEADREST)):
            if dest is not None:
                write_label_image(mask, dest, segments=[Label(1, label.name, label.color)], inputs=loaded.inputs)

    return on_study(path, [out, body_mask, object_mask],
                    lambda loaded, p: clean(loaded.image, loaded.meta, force=force, progress=p, cancel=cancel),
                    write, series=series, resample=resample, progress=progress, cancel=cancel, **load)


def lungs_to_file(path: PathLike, out: PathLike, split: bool = False, roi: PathLike | None = None,
                  series: str | None = None, force: bool = False, resample: bool = True,
                  progress: Progress | None = None, cancel: CancelEvent = None, **load) -> LungsResult:
    """``medseg lungs``: 1 = lung (or 1 = right, 2 = left), and the tumour search region when asked."""
    def write(result: LungsResult, loaded: Converted) -> None:
        segments = [SPLIT_LUNG_RIGHT, SPLIT_LUNG_LEFT] if split else [LUNG]
        write_label_image(result.labels, out, segments=segments, inputs=loaded.inputs)
        if roi is not None:
            write_label_image(result.roi, roi, segments=[SEARCH_REGION], inputs=loaded.inputs)

    return on_study(path, [out, roi],
                    lambda loaded, p: lungs(loaded.image, loaded.meta, split=split, roi=roi is not None,
                                            force=force, progress=p, cancel=cancel),
                    write, series=series, resample=resample, progress=progress, cancel=cancel, **load)


def autolabel_to_file(path: PathLike, out: PathLike, series: str | None = None, force: bool = False,
                      resample: bool = True, progress: Progress | None = None,
                      cancel: CancelEvent = None, **load) -> AutoLabelResult:
    """``medseg autolabel``: the auto-label table as ``.seg.nrrd`` or a plain map with its sidecar."""
    return on_study(path, [out],
                    lambda loaded, p: autolabel(loaded.image, loaded.meta, force=force, progress=p, cancel=cancel),
                    lambda result, loaded: write_label_image(result.labels, out, segments=list(result.segments),
                                                             inputs=loaded.inputs),
                    series=series, resample=resample, progress=progress, cancel=cancel, load_share=0.2, **load)


def predict_to_files(path: PathLike, model, out: PathLike, probabilities: PathLike | None = None,
                     series: str | None = None, resample: bool = True, skip_damaged: bool = False,
                     rescale_slope: float | None = None, rescale_intercept: float | None = None,
                     progress: Progress | None = None, cancel: CancelEvent = None, **options):
    """``medseg predict``: a model's labels (named by its card) and, when asked, its probabilities.

    ``probabilities``: a ``.npy`` path (memory-mapped (K, z, y, x) uint8, 0..255) or a volume file
    (a K-component uint8 image on the input grid). ``options`` go to :func:`medseg.unet.predict.predict`.
    """
    import numpy as np

    from ..io.atomic import atomic_output
    from ..unet.card import card_labels
    from .steps import predict

    def step(loaded: Converted, p):
        if probabilities is not None and str(probabilities).endswith(".npy"):
            with atomic_output(probabilities, loaded.inputs) as tmp:
                result = predict(loaded.image, model, loaded.meta, probabilities=tmp, progress=p, cancel=cancel,
                                 **options)
                result.probabilities = None  # close the memmap before the rename
            return result
        return predict(loaded.image, model, loaded.meta, probabilities=probabilities is not None, progress=p,
                       cancel=cancel, **options)

    def write(result, loaded: Converted) -> None:
        if probabilities is not None and result.probabilities is not None:
            vec = sitk.GetImageFromArray(np.ascontiguousarray(np.moveaxis(result.probabilities, 0, -1)), isVector=True)
            vec.CopyInformation(loaded.image)
            write_volume(vec, probabilities, inputs=loaded.inputs)
        write_label_image(result.labels, out, segments=card_labels(result.card), inputs=loaded.inputs)

    return on_study(path, [out, probabilities], step, write, series=series, resample=resample, progress=progress,
                    cancel=cancel, load_share=0.2, skip_damaged=skip_damaged, rescale_slope=rescale_slope,
                    rescale_intercept=rescale_intercept)


def grow_to_file(image_path: PathLike, seeds_path: PathLike, out: PathLike, hu_range=None, smooth: str = "median",
                 kernel_mm: float = 3.0, locality: float = 0.0, whole_image: bool = False,
                 series: str | None = None, resample: bool = True, resample_labels: bool = False,
                 progress: Progress | None = None, cancel: CancelEvent = None, engine=None):
    """``medseg grow``: the seeds (a label file with names) grown on the image; the output keeps their names.

    Returns the :class:`~medseg.pipeline.steps.GrowResult`.
    """
    from .steps import grow

    def step(loaded: Converted, p):
        check_outputs([out], [seeds_path])
        seeds, names = labels_on(loaded.image, seeds_path, resample_labels, what="seeds")
        loaded.inputs.append(Path(seeds_path))
        return grow(loaded.image, seeds, names, hu_range=hu_range, smooth=smooth, kernel_mm=kernel_mm,
                    locality=locality, whole_image=whole_image, engine=engine, progress=p, cancel=cancel)

    return on_study(image_path, [out], step,
                    lambda result, loaded: write_label_image(result.labels, out, segments=result.segments,
                                                             inputs=loaded.inputs),
                    series=series, resample=resample, progress=progress, cancel=cancel, load_share=0.2)


def contours_to_file(image_path: PathLike, contours_path: PathLike, out: PathLike | None, ring: bool = False, *,
                     names=None, slice_index: int | None = None, progress: Progress | None = None,
                     cancel: CancelEvent = None) -> tuple[sitk.Image, dict[int, str], dict]:
    """``medseg contours``: point lists or an RTSTRUCT as labels on the image's grid.

    Returns (labels, {value: name}, summary); the summary's ``warnings`` include the loader's.
    ``out`` None writes nothing.
    """
    from ..io.contours import contours_to_labels

    cp = Path(contours_path)
    contour_files = list(cp.rglob("*")) if cp.is_dir() else [cp]

    def step(loaded: Converted, p):
        check_outputs([out], contour_files)
        labels, table, summary = contours_to_labels(loaded.image, contours_path, loaded.meta, ring=ring, names=names,
                                                    slice_index=slice_index, cancel=cancel, progress=p)
        summary["warnings"] = list(loaded.meta.get("warnings", [])) + summary["warnings"]
        return labels, table, summary

    def write(result, loaded: Converted) -> None:
        labels, table, summary = result
        if out is not None:
            summary["output"] = str(write_label_image(labels, out, segments=table,
                                                      inputs=[*loaded.inputs, *contour_files]))

    labels, table, summary = on_study(image_path, [out], step, write, progress=progress, cancel=cancel, load_share=0.4)
    return labels, {lab.value: lab.name for lab in table}, summary


def _image_and_labels(image_path: PathLike, labels_path: PathLike, resample_labels, progress, cancel,
                      **load) -> tuple[Converted, sitk.Image, dict[int, str]]:
    loaded = convert(image_path, progress=progress, cancel=cancel, **load)
    labels, names = labels_on(loaded.image, labels_path, resample_labels)
    loaded.inputs.append(Path(labels_path))
    return loaded, labels, names


def stats_to_file(image_path: PathLike, labels_path: PathLike, out: PathLike, series: str | None = None,
                  resample: bool = True, resample_labels: bool = False, progress: Progress | None = None,
                  cancel: CancelEvent = None, **load) -> tuple[list[dict], Converted]:
    """``medseg stats``: volume and HU statistics per segment as CSV or JSON; returns (rows, the loaded image)."""
    from ..io.tables import write_rows
    from ..measure.stats import segment_statistics

    check_outputs([out], [image_path, labels_path])
    loaded, labels, names = _image_and_labels(image_path, labels_path, resample_labels, sub_progress(progress, 0.0, 0.5),
                                              cancel, series=series, resample=resample, **load)
    check_outputs([out], loaded.inputs)
    rows = segment_statistics(loaded.image, labels, names=names, progress=sub_progress(progress, 0.5, 0.95),
                              cancel=cancel)
    write_rows(rows, out, inputs=loaded.inputs)
    report(progress, 1.0, "written")
    return rows, loaded


def radiomics_to_file(image_path: PathLike, labels_path: PathLike, out: PathLike, params=None,
                      label_values: Sequence[int | str] | None = None, diagnostics: bool = False, jobs: int = 1,
                      series: str | None = None, resample: bool = True, resample_labels: bool = False,
                      progress: Progress | None = None, cancel: CancelEvent = None, **load) -> tuple[list[dict], Converted]:
    """``medseg radiomics``: pyradiomics features, one row per segment; returns (rows, the loaded image)."""
    from ..io.tables import write_rows
    from ..measure.radiomics import extract, validate_params

    params = validate_params(params)  # a bad parameter file fails before the study is loaded
    check_outputs([out], [image_path, labels_path])
    loaded, labels, names = _image_and_labels(image_path, labels_path, resample_labels, sub_progress(progress, 0.0, 0.2),
                                              cancel, series=series, resample=resample, **load)
    check_outputs([out], loaded.inputs)
    rows = extract(loaded.image, labels, names=names, params=params, label_values=label_values,
                   diagnostics=diagnostics, jobs=jobs, progress=sub_progress(progress, 0.2, 0.95), cancel=cancel)
    write_rows(rows, out, inputs=loaded.inputs)
    report(progress, 1.0, "written")
    return rows, loaded


def mesh_to_files(labels_path: PathLike, out_dir: PathLike, fmt: str = "stl", smooth: int = 0, decimate: float = 0.0,
                  ras: bool = False, values: Sequence[int] | None = None, png: PathLike | None = None,
                  html: PathLike | None = None, progress: Progress | None = None, cancel: CancelEvent = None):
    """``medseg mesh``: one surface file per segment, and a PNG / interactive HTML when asked.

    Returns (surfaces, paths written).
    """
    from ..errors import ParameterError
    from ..io.meshes import mesh_paths, write_meshes
    from ..measure.mesh import label_surfaces

    from ..io.sidecar import sidecar_path

    inputs = [labels_path, sidecar_path(labels_path)]
    check_outputs([png, html], inputs)
    labels, names = read_label_image(labels_path)
    surfaces = label_surfaces(labels, names=names, smooth_iterations=smooth, decimate=decimate, ras=ras,
                              values=values, progress=sub_progress(progress, 0.0, 0.9), cancel=cancel)
    if not surfaces:
        raise ParameterError(f"{labels_path}: no segment to mesh (the label image is empty)")
    check_outputs([*mesh_paths(surfaces, out_dir, fmt), png, html], inputs)
    with output_group():  # every file of the command, or none
        paths = write_meshes(surfaces, out_dir, fmt=fmt, inputs=inputs)
        if png or html:
            from ..report.meshes import render_html, render_png

            if png:
                render_png(surfaces, png, views=("anterior-oblique", "inferior"), inputs=inputs)
            if html:
                render_html(surfaces, html, inputs=inputs)
    report(progress, 1.0, "written")
    return surfaces, paths


def evaluate_files(pred_path: PathLike, ref_path: PathLike, resample_labels: bool = False,
                   mapping: str | None = None, merge: bool = False):
    """``medseg evaluate``: metrics of each structure the two label files share (see
    :func:`medseg.measure.metrics.pair_labels`). Returns (metrics by structure, the pairing)."""
    from ..io.label_files import present_values
    from ..measure.metrics import evaluate_pairs, pair_labels

    ref, ref_names = read_label_image(ref_path)
    pred, pred_names = labels_on(ref, pred_path, resample_labels, what="prediction")
    pairing = pair_labels(pred_names, ref_names, present_values(pred), present_values(ref), mapping=mapping,
                          merge=merge)
    return evaluate_pairs(pred, ref, pairing.pairs), pairing


__all__ = ["check_outputs", "on_study", "labels_on", "convert_to_file", "clean_to_files", "lungs_to_file",
           "autolabel_to_file", "predict_to_files", "grow_to_file", "contours_to_file", "stats_to_file", "radiomics_to_file",
           "mesh_to_files", "evaluate_files"]
