"""The U-Net step of ``medseg run``: each model's labels as their own segments and seg.nrrd.

A model is a shipped name or a model folder (:func:`medseg.unet.card.resolve`). Its segments are
named ``<model>:<class>`` in the statistics and radiomics tables, so they never collide with the
auto-labels (a model's "lung-right" beside the auto-label "lung-right"); its seg.nrrd
``model-<model>.seg.nrrd`` keeps the card's own names and colours. The card's range warnings
(modality, HU percentiles, spacing, demo-only status) become run warnings naming the model.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from pathlib import Path
from typing import Sequence

from ..progress import check_cancel, sub_progress


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
    from ..unet.predict import OutOfRangeWarning, predict

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
        })
        out.append((pred.labels, {lab.value: f"{name}:{lab.name}" for lab in segments}))
    return out


__all__ = ["check_models", "model_files", "run_models"]
