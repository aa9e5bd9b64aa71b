"""What report.html needs from a run that only exists while the images are in memory.

:func:`add_study_pictures` is called once by the pipeline after the labels are made; it records
the grid and renders the pictures that live only inside the report (PNG bytes, no extra files);
:func:`add_model_pictures` does the same for the U-Net models run with ``--model``.
"""

from __future__ import annotations

import SimpleITK as sitk

from ..labels import TABLE_HEADREST, label_table
from .facts import grid_facts
from .histogram import hu_histograms
from .slices import label_planes, montage

#: How the stats table and the pictures name a label whose meaning differs from its file name.
DISPLAY_NAMES = {"body": "body (remainder)", TABLE_HEADREST.name: f"{TABLE_HEADREST.name} (removed)"}


def display_name(name: str) -> str:
    """The report's name for a segment: "body (remainder)" for the body (the label map is exclusive)."""
    return DISPLAY_NAMES.get(name, name)


def add_study_pictures(result, image: sitk.Image, labels: sitk.Image, meta: dict) -> None:
    """Fill ``result.grid`` and ``result.pictures`` (HU histograms, slice montage, label planes).

    ``image`` is the loaded volume (HU, its own grid), ``labels`` the label map on that grid, and
    ``meta`` the loader's metadata (``meta["hu_check"]`` says whether the values were corrected).
    """
    result.grid = grid_facts(image)
    result.pictures.update(hu_histograms(image, meta.get("hu_check")))
    removed = labels == TABLE_HEADREST.value if "table-headrest" in _names(result) else None
    result.pictures["montage"] = montage(image, removed=removed, window=(40.0, 400.0))
    names = _names(result)
    table = label_table(sorted(names.values()), {v: n for n, v in names.items()})
    planes = label_planes(image, labels, table, names={v: display_name(n) for n, v in names.items()})
    if planes is not None:
        result.pictures["planes"] = planes


def add_model_pictures(result, image: sitk.Image, predicted) -> None:
    """One picture per model run (``result.models``, with ``predicted``: [(label image, names)] in
    the same order): a lesion model's lesions each on their slice whole and close up, any other
    model's segments on three planes (axially only in a thin stack). Stored as the entry's ``picture``."""
    from .lesion_views import lesion_views

    for entry, (labelmap, names) in zip(result.models, predicted):
        if "lesions" in entry:
            entry["picture"] = lesion_views(image, labelmap, entry["lesions"])
        else:
            table = entry.get("label_table") or []
            entry["picture"] = label_planes(image, labelmap, table, names=names) if table else None


def _names(result) -> dict[str, int]:
    return {str(r["segment"]): int(r["label_value"]) for r in result.stats_rows if int(r.get("voxel_count") or 0)}


__all__ = ["add_model_pictures", "add_study_pictures", "display_name", "DISPLAY_NAMES"]
