"""``medseg dataset``: a U-Net training folder from studies with label files, or with auto-labels.

A study is a DICOM folder, a DICOM file or a volume file. Its labels come from, in order: the
``labels`` list given with the inputs (same order), a ``labels.seg.nrrd`` / ``labels.nrrd`` in the
study folder (the phantom layout: ``<study>/dicom`` + ``<study>/labels.nrrd``), or auto-labels
(``auto``: "lungs" or "autolabel", from :mod:`.steps`). Names come with the label files
(:func:`medseg.io.read_label_image`); the slices and ``dataset.json`` are written by
:func:`medseg.unet.dataset.write_dataset`.

Each study's source and label origin: a phantom-layout folder is ``phantom`` with ``truth``
labels, auto-labels are ``real`` and ``classical``, other label files ``real`` and ``edited``; a
review manifest (``manifest``, :func:`medseg.unet.dataset.read_manifest`) overrides these per
series (the study folder's name, or its parent's for a ``dicom`` folder) and lists the slices
dropped or edited for the task.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import SimpleITK as sitk

from ..errors import InputError, ParameterError
from ..labels import SPLIT_LUNG_LEFT, SPLIT_LUNG_RIGHT, name_map
from ..progress import CancelEvent, Progress, check_cancel, report, sub_progress
from .steps import autolabel, convert, lungs

LABEL_FILES = ("labels.seg.nrrd", "labels.nrrd", "labels.nii.gz", "labels.mha")
AUTO_KINDS = ("lungs", "autolabel")


def study_paths(path: Path) -> tuple[Path, Path | None]:
    """(image input, label file or None) of a study path, following the phantom layout."""
    if path.is_dir():
        for name in LABEL_FILES:
            if (path / name).is_file():
                image = path / "dicom" if (path / "dicom").is_dir() else path
                return image, path / name
    return path, None


def series_name(path: Path) -> str:
    """The name a study goes by in records and manifests: its folder, or the parent of a ``dicom`` folder."""
    path = Path(path)
    return path.parent.name if path.name.lower() == "dicom" else (path.stem if path.is_file() else path.name)


def auto_labels(kind: str, image: sitk.Image, meta: dict) -> tuple[sitk.Image, dict[int, str]]:
    """Auto-labels from the classical steps: "lungs" (split right/left) or "autolabel" (the label table)."""
    if kind == "lungs":
        return lungs(image, meta, split=True).labels, name_map([SPLIT_LUNG_RIGHT, SPLIT_LUNG_LEFT])
    if kind == "autolabel":
        result = autolabel(image, meta)
        return result.labels, name_map(result.segments)
    raise ParameterError(f"unknown auto-label kind {kind!r}; use one of {', '.join(AUTO_KINDS)}")


def build_dataset(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *,
                  labels: Sequence[str | os.PathLike] | None = None, task: str | None = None,
                  classes: Sequence | None = None, auto: str | None = None,
                  window: tuple[float, float] | None = None, spacing_mm: float | None | str = "task",
                  size: tuple[int, int] | None = None, val_fraction: float = 0.2, seed: int = 0,
                  description: str = "", manifest: str | os.PathLike | dict | None = None,
                  progress: Progress | None = None, cancel: CancelEvent = None) -> dict:
    """Load the studies with their labels and write the training folder; returns dataset.json's dict.

    ``task`` (a :data:`medseg.unet.presets.TASKS` name) sets classes, window, spacing, size and the
    auto-label kind; explicit arguments override it. ``window`` is (lo, hi) HU, ``spacing_mm`` the
    in-plane spacing slices are resampled to (None: keep), ``size`` (H, W) the crop/pad.
    """
    from ..unet.dataset import Study, manifest_entry, read_manifest, write_dataset
    from ..unet.presets import task as task_preset
    from .files import labels_on

    preset = task_preset(task) if task else {}
    if preset.get("auto") == "lesions":  # labels are made with the images: lesions inserted into real CT
        from .tumour_data import write_tumour_dataset

        if labels is not None or auto not in (None, "lesions"):
            raise ParameterError(f"task {task} makes its own labels (inserted lesions): give no --labels or --auto")
        return write_tumour_dataset(inputs, out_dir, seed=seed, description=description, progress=progress,
                                    cancel=cancel)
    if labels is not None and len(labels) != len(inputs):
        raise ParameterError(f"{len(labels)} label files for {len(inputs)} inputs; give one per input")
    if not inputs:
        raise ParameterError("no input studies")
    auto = auto or preset.get("auto")
    from ..io.atomic import check_outputs, expand_inputs

    check_outputs([Path(out_dir) / "dataset.json"], expand_inputs([*inputs, *(x for x in labels or [] if x)]))
    if manifest is not None and not isinstance(manifest, dict):
        manifest = read_manifest(manifest)
    studies = []
    for i, given in enumerate(inputs):
        check_cancel(cancel)
        report(progress, 0.6 * i / len(inputs), f"reading {Path(given).name}")
        image_path, label_path = study_paths(Path(given))
        kind, origin = ("phantom", "truth") if label_path is not None else ("real", "edited")
        if labels is not None and labels[i] is not None:  # None: the study's own labels or auto-labels
            label_path = Path(labels[i])
            kind, origin = "real", "edited"
        loaded = convert(image_path, cancel=cancel)
        if label_path is not None:
            lab_img, names = labels_on(loaded.image, label_path, what=f"labels of {given}")
            source = str(label_path)
        elif auto:
            lab_img, names = auto_labels(auto, loaded.image, loaded.meta)
            source = f"auto:{auto}"
            kind, origin = "real", "classical"
        else:
            raise InputError(f"{given}: no label file found (labels.nrrd / labels.seg.nrrd) and no auto-labels asked")
        series = series_name(Path(given))
        review = manifest_entry(manifest, series, task) if manifest else {}
        review = {"series": series, "kind": kind, "origin": origin, **review}
        studies.append(Study(str(given), loaded.image, loaded.meta, lab_img, names, source, **review))
    return write_dataset(studies, out_dir, classes=classes or preset.get("classes"),
                         window=tuple(window or preset.get("window") or (-1024.0, 1024.0)),
                         spacing_mm=preset.get("spacing_mm") if spacing_mm == "task" else spacing_mm,
                         size=tuple(size or preset.get("size") or (256, 256)), head=preset.get("head"), task=task,
                         val_fraction=val_fraction, seed=seed, description=description,
                         progress=sub_progress(progress, 0.6, 1.0), cancel=cancel)
