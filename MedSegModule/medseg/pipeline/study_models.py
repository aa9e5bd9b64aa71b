"""The U-Net step of ``medseg run``: each model's labels as their own segments and seg.nrrd.

A model is a shipped name or a model folder (:func:`medseg.unet.card.resolve`). Its segments are
named ``<model>:<class>`` in the statistics and radiomics tables, so they never collide with the
auto-labels (a model's "lung-right" beside the auto-label "lung-right"); its seg.nrrd
``model-<model>.seg.nrrd`` keeps the card's own names and colours. The card's range warnings
(modality, HU percentiles, spacing, demo-only status) become run warnings naming the model.

A lesion model (a class named tumour, lesion or nodule: the lung-tumour model) is measured per
lesion: each 26-connected component is its own segment ``<model>:lesion-N`` (largest first) in the
statistics and radiomics, and the report lists each lesion's volume and greatest diameters.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from pathlib import Path
from typing import Sequence

from ..progress import check_cancel, sub_progress

#: Class names whose components are lesions, measured one by one.
LESION_CLASS = re.compile(r"tumou?r|lesion|nodule", re.I)


def check_models(models: Sequence[str | os.PathLike]) -> list[tuple[str, Path]]:
    """(name, folder) of each model, resolved before any work (no torch import): a wrong name fails now."""
    if not models:
        return []
    from ..unet.card import read_card, resolve

    out = []
    for model in models:
        folder = resolve(model)
        name = str(read_card(folder).get("name") or folder.name)
        out.append((re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or folder.name, folder))
    return out


def model_files(model_dirs: Sequence[tuple[str, Path]]) -> list[str]:
    return [f"model-{name}.seg.nrrd" for name, _ in model_dirs]


def run_models(result, image, meta: dict, model_dirs: Sequence[tuple[str, Path]], device: str, writer, inputs,
               progress, cancel) -> list[tuple]:
    """Predict with each model; returns [(label image, {value: "<model>:<class>"})] in model order.

    Appends one entry per model to ``result.models`` and its seconds to ``result.seconds``.
    """
    if not model_dirs:
        return []
    from ..io import write_label_image
    from ..unet.card import card_labels
    from ..unet.predict import OutOfRangeWarning
    from .steps import predict  # makes the input region a model's card asks for (the lung search region)

    out = []
    for k, (name, folder) in enumerate(model_dirs):
        check_cancel(cancel)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OutOfRangeWarning)  # they are in pred.warnings, said once below
            pred = predict(image, folder, meta=meta, device=device,
                           progress=sub_progress(progress, k / len(model_dirs), (k + 1) / len(model_dirs)),
                           cancel=cancel)
        seconds = round(time.perf_counter() - t0, 2)
        segments = card_labels(pred.card)
        path = result.outdir / f"model-{name}.seg.nrrd"
        writer.submit(f"model_{name}", write_label_image, pred.labels, path, segments=segments, inputs=inputs)
        result.warnings += [f"model {name}: {w}" for w in pred.warnings]
        result.seconds[f"model {name}"] = seconds
        from ..unet.distributed import pick_device

        result.models.append({
            "name": name, "folder": str(folder), "device": str(pick_device(device)),
            "segments": [lab.name for lab in segments], "seg_nrrd": path, "slices": pred.slices,
            "seconds": seconds, "slices_per_s": round(pred.slices / max(seconds, 1e-9), 1),
            "warnings": list(pred.warnings), "status": pred.card.get("status"), "stats_rows": [],
            "label_table": segments,  # in memory, for the report's picture of the model's segments
        })
        lesion_values = [lab.value for lab in segments if LESION_CLASS.search(lab.name)]
        if lesion_values:
            from ..measure.lesions import lesion_map, lesion_table

            numbered = lesion_map(pred.labels, lesion_values)
            rows = lesion_table(pred.labels, values=lesion_values, names={lab.value: lab.name for lab in segments},
                                numbered=numbered)
            result.models[-1]["lesions"] = rows
            out.append((numbered, {r["lesion"]: f"{name}:lesion-{r['lesion']}" for r in rows}))
        else:
            out.append((pred.labels, {lab.value: f"{name}:{lab.name}" for lab in segments}))
    return out


__all__ = ["LESION_CLASS", "check_models", "model_files", "run_models"]
