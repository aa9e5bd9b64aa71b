"""``load(path)``: any supported input (DICOM folder or file, NRRD/NIfTI/MHA) to an image.

DICOM CT becomes HU; other modalities get modality-LUT values and no HU claim. The metadata
dict carries acquisition facts and warnings, never patient data.
"""

from __future__ import annotations

import os
from pathlib import Path

import SimpleITK as sitk
from pydicom.multival import MultiValue

from ..steps import CancelEvent, Progress, sub_progress
from .dicom_discover import Series, choose_series, discover
from .dicom_pixels import decode_series
from .volume_files import is_volume_file, read_volume


def _text(ds, tag: str) -> str | None:
    value = ds.get(tag)
    if value in (None, ""):
        return None
    if isinstance(value, MultiValue):
        return "\\".join(str(v) for v in value)
    return str(value)




def _number(ds, tag: str) -> float | None:
    try:
        value = ds.get(tag)
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def series_metadata(series: Series, facts: dict | None = None) -> dict:
    """Acquisition facts for a series (no patient data): modality, UID, kVp, kernel, thickness, warnings."""
    ds = series.slices[0].dataset
    meta = {
        "source": "dicom",
        "modality": series.modality or "unknown",
        "is_hu": series.is_ct,
        "series_uid": series.uid,
        "series_description": series.description,
        "manufacturer": _text(ds, "Manufacturer"),
        "kvp": _number(ds, "KVP"),
        "kernel": _text(ds, "ConvolutionKernel"),
        "slice_thickness": _number(ds, "SliceThickness"),
        "transfer_syntax": str(ds.file_meta.get("TransferSyntaxUID", "")),
        "slices": len(series.slices),
        "files": [str(s.path) for s in series.slices],
        "warnings": list(series.warnings),
    }
    if facts:
        meta["rescale"] = [list(r) for r in facts["rescale"]]
        if facts.get("per_slice_rescale"):
            meta["warnings"].append(f"rescale slope/intercept vary across slices ({len(facts['rescale'])} "
                                    "distinct pairs); applied per slice")
    return meta


def load_series(series: Series, progress: Progress | None = None, cancel: CancelEvent = None) -> tuple[sitk.Image, dict]:
    """Decode one discovered series into a SimpleITK image (HU for CT) with LPS geometry."""
    array, facts = decode_series(series.slices, series.is_ct, progress=progress, cancel=cancel)
    image = sitk.GetImageFromArray(array)
    g = series.geometry
    image.SetSpacing(g.spacing)
    image.SetOrigin(g.origin)
    image.SetDirection(g.direction)
    return image, series_metadata(series, facts)


def load(path: str | os.PathLike, series: str | None = None, progress: Progress | None = None,
         cancel: CancelEvent = None) -> tuple[sitk.Image, dict]:
    """Load any input as (image, metadata).

    ``path`` is a DICOM folder (searched recursively), one DICOM file, or a volume file (.nrrd,
    .nii, .nii.gz, .mha). With several series, ``series`` picks one by UID; otherwise the largest
    CT series is used and ``metadata["warnings"]`` says so. The image is (x, y, z) in SimpleITK
    terms, LPS mm; ``sitk.GetArrayViewFromImage`` gives (z, y, x).
    """
    p = Path(path)
    if p.is_file() and is_volume_file(p):
        image = read_volume(p)
        return image, {"source": "volume", "path": str(p), "modality": "unknown", "is_hu": None, "warnings": []}
    found = discover(p, progress=sub_progress(progress, 0.0, 0.2), cancel=cancel)
    chosen, note = choose_series(found, series)
    image, meta = load_series(chosen, progress=sub_progress(progress, 0.2, 1.0), cancel=cancel)
    meta["warnings"] = ([note] if note else []) + meta["warnings"] + found.skipped_summary()
    meta["series_found"] = [s.uid for s in found.series]
    return image, meta


def input_files(path: str | os.PathLike, meta: dict) -> list[Path]:
    """The files an output must never overwrite: the volume file, or every file of the DICOM series."""
    if meta.get("source") == "dicom":
        return [Path(f) for f in meta.get("files", [])]
    return [Path(path)]


__all__ = ["load", "load_series", "series_metadata", "input_files"]
