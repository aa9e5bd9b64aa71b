"""The work of MedSeg's long Slicer steps on SimpleITK images, free of ``slicer`` and Qt (VTK only where
grow from seeds runs Slicer's own filter, :mod:`.growcut`).

:class:`~medseg.mrml.logic.MedSegLogic` runs these in Slicer's process (the Python console, the
self-test); the panel runs the same functions in a background process (:mod:`.worker`), so that
Slicer stays responsive, Cancel works and a crash in torch cannot take Slicer down. Either way the
logic puts the :class:`StepOutputs` into the scene with ``MedSegLogic.addOutputs``.

Each function is ``step(inputs, progress=None, cancel=None, **options) -> StepOutputs``; :data:`STEPS`
maps the logic method's name to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import SimpleITK as sitk

from .. import labels as L
from ..progress import CancelEvent, Progress, check_cancel, report, sub_progress
from ..unet.devices import DEVICES  # the U-Net devices the panel offers ("cuda:N" is accepted too)


@dataclass
class StepInputs:
    """What a step reads: the image (HU, LPS), what MedSeg knows of its source, and label layers.

    ``layers``: (label image on ``image``'s grid, its segments as :class:`~medseg.labels.Label`s),
    one per layer of a segmentation (segments in one layer never overlap).
    """

    image: sitk.Image
    meta: Optional[dict] = None
    layers: List[Tuple[sitk.Image, List[L.Label]]] = field(default_factory=list)


@dataclass
class StepOutputs:
    """What a step made. ``name``: the suffix of the new nodes' names ("auto-labels", "lungs", ...).

    ``labels``/``segments``: a label image on the input's grid and its table; ``cleaned``: a volume
    (HU); ``rows``: table rows; ``classification``: a classifier's {"normal", "abnormal", "label",
    "model", "warnings"}; ``warnings``: shown to the user; ``device``: where the work ran.
    """

    name: str
    labels: Optional[sitk.Image] = None
    segments: List[L.Label] = field(default_factory=list)
    cleaned: Optional[sitk.Image] = None
    rows: Optional[List[dict]] = None
    classification: Optional[dict] = None
    warnings: List[str] = field(default_factory=list)
    device: Optional[str] = None


def remove_table(inputs: StepInputs, force: bool = False, progress: Progress | None = None,
                 cancel: CancelEvent = None) -> StepOutputs:
    """The cleaned volume (objects and outside air at AIR_HU) and the "body" / "table-headrest" labels."""
    from ..pipeline import clean

    result = clean(inputs.image, meta=inputs.meta, force=force, progress=sub_progress(progress, 0.0, 0.95),
                   cancel=cancel)
    labels = sitk.GetImageFromArray(L.compose({L.BODY.name: sitk.GetArrayViewFromImage(result.body_mask) > 0,
                                               L.TABLE_HEADREST.name: sitk.GetArrayViewFromImage(result.object_mask) > 0}))
    labels.CopyInformation(inputs.image)
    check_cancel(cancel)
    return StepOutputs("body and table", labels=labels, segments=[L.BODY, L.TABLE_HEADREST], cleaned=result.cleaned)


def segment_lungs(inputs: StepInputs, split: bool = True, force: bool = False, progress: Progress | None = None,
                  cancel: CancelEvent = None) -> StepOutputs:
    """The lung mask: "lung-right" and "lung-left", or one "lung"."""
    from ..pipeline import lungs

    result = lungs(inputs.image, meta=inputs.meta, split=split, force=force, progress=progress, cancel=cancel)
    return StepOutputs("lungs", labels=result.labels, segments=[L.SPLIT_LUNG_RIGHT, L.SPLIT_LUNG_LEFT] if split else [L.LUNG])


def autolabel(inputs: StepInputs, force: bool = False, progress: Progress | None = None,
              cancel: CancelEvent = None) -> StepOutputs:
    """The auto-label table: body, table-headrest, lungs, airway, bone."""
    from ..pipeline import autolabel as run

    result = run(inputs.image, meta=inputs.meta, force=force, progress=progress, cancel=cancel)
    return StepOutputs("auto-labels", labels=result.labels, segments=list(result.segments))


def run_unet(inputs: StepInputs, model: str = "", device: str = "auto", progress: Progress | None = None,
             cancel: CancelEvent = None) -> StepOutputs:
    """A U-Net's labels, named from its model card; ``device`` "auto", "cpu", "cuda[:N]" or "mps".

    model: a shipped model's name or a model folder. The device used is in ``device`` of the result.
    """
    import warnings as _warnings
    from pathlib import Path

    from ..errors import ParameterError
    from ..pipeline import predict
    from ..unet.card import card_labels, installed_models
    from ..unet.distributed import pick_device

    if not (device in DEVICES or str(device).startswith("cuda:")):
        raise ParameterError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    used = str(pick_device(device))
    report(progress, 0.0, f"U-Net {Path(str(model)).name} on {used}" + (f" ({device})" if device == "auto" else ""))
    entry = installed_models(kind="unet").get(str(model))
    folder = entry.folder if entry is not None else Path(str(model))
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")  # they are in result.warnings, returned below
        result = predict(inputs.image, str(folder if folder.exists() else model), meta=inputs.meta, device=used,
                         progress=progress, cancel=cancel)
    return StepOutputs(Path(str(model)).name, labels=result.labels, segments=list(card_labels(result.card)),
                       warnings=[str(w) for w in result.warnings], device=used)


def radiomics(inputs: StepInputs, preset: str = "ct-default", progress: Progress | None = None,
              cancel: CancelEvent = None) -> StepOutputs:
    """pyradiomics features, one row per segment of every layer."""
    from ..measure.radiomics import extract

    rows: list = []
    for n, (labels, table) in enumerate(inputs.layers):
        part = sub_progress(progress, n / len(inputs.layers), (n + 1) / len(inputs.layers))
        rows += extract(inputs.image, labels, {lab.value: lab.name for lab in table}, params=preset,
                        progress=part, cancel=cancel)
    check_cancel(cancel)
    return StepOutputs("radiomics", rows=rows)


def grow_from_seeds(inputs: StepInputs, hu_range=None, smooth: str = "median", kernel_mm: float = 3.0,
                    locality: float = 0.0, whole_image: bool = False, engine: str = "auto",
                    progress: Progress | None = None, cancel: CancelEvent = None) -> StepOutputs:
    """The seeds grown over the image: ``inputs.layers`` is one seed label image and its segments
    (:meth:`MedSegLogic.stepInputs` with step "growFromSeeds"). ``hu_range``: [lo, hi] of the image's
    values (HU), the editable range, or None. ``engine``: "auto", "slicer" or "itk" (:func:`.growcut.pick_engine`).
    The grown segments keep the seeds' names and colours; a seed segment that grew nothing is left out.
    """
    from ..errors import ParameterError
    from ..pipeline.steps import grow
    from .growcut import pick_engine

    if len(inputs.layers) != 1:
        raise ParameterError("grow from seeds takes one seed label image")
    seeds, table = inputs.layers[0]
    run_engine, what = pick_engine(engine)
    report(progress, 0.0, f"grow-cut: {what}")
    hu_range = None if hu_range is None else (float(hu_range[0]), float(hu_range[1]))
    result = grow(inputs.image, seeds, table, hu_range=hu_range, smooth=smooth, kernel_mm=kernel_mm, locality=locality,
                  whole_image=whole_image, engine=run_engine, progress=progress, cancel=cancel)
    check_cancel(cancel)
    present = set(result.stats["voxels"])
    return StepOutputs("grown", labels=result.labels, segments=[lab for lab in table if lab.value in present])


def classify(inputs: StepInputs, model: str = "", device: str = "auto", progress: Progress | None = None,
             cancel: CancelEvent = None) -> StepOutputs:
    """A volume classifier's probabilities: ``classification`` {"normal": p, "abnormal": p, "label",
    "model", "warnings"}. model: a classifier folder or a shipped classifier's name."""
    from ..classify.predict import classify as run_classifier
    from ..errors import ParameterError
    from ..unet.distributed import pick_device

    if not (device in DEVICES or str(device).startswith("cuda:")):
        raise ParameterError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    used = str(pick_device(device))
    result = run_classifier(inputs.image, model, inputs.meta, device=used, progress=progress, cancel=cancel)
    out = {**result.probabilities, "label": result.label, "model": result.card.get("name"),
           "warnings": [str(w) for w in result.warnings]}
    return StepOutputs("classification", classification=out, warnings=out["warnings"], device=used)


#: Logic method name -> the step it runs.
STEPS: Dict[str, Callable[..., StepOutputs]] = {
    "removeTable": remove_table,
    "segmentLungs": segment_lungs,
    "autolabel": autolabel,
    "runUNet": run_unet,
    "exportRadiomics": radiomics,
    "growFromSeeds": grow_from_seeds,
    "classify": classify,
}


def run(step: str, inputs: StepInputs, options: dict, progress: Progress | None = None,
        cancel: CancelEvent = None) -> StepOutputs:
    """Run :data:`STEPS` ``[step]`` on ``inputs`` with ``options``."""
    return STEPS[step](inputs, progress=progress, cancel=cancel, **options)


__all__ = ["DEVICES", "STEPS", "StepInputs", "StepOutputs", "run"]
