"""``load(path)``: any supported input (DICOM folder or file, NRRD/NIfTI/MHA) to an image.

DICOM CT becomes HU; other modalities get modality-LUT values and no HU claim. The metadata
dict carries acquisition facts and warnings, never patient data. Irregular stacks (uneven
spacing, missing slices, gantry tilt) are resampled onto a regular grid by default
(:mod:`.regularize`), and ``meta["regularized"]`` says what was done.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from pydicom.multival import MultiValue

from ..errors import DicomDecodeError
from ..labels import AIR_HU
from ..progress import CancelEvent, Progress, sub_progress
from .dicom import damage
from .dicom.discover import Series, choose_series, discover
from .dicom.pixels import decode_file, decode_series
from .dicom.regularize import describe, regularize
from .volumes import is_volume_file, read_volume


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


#: Transfer syntaxes that are always lossy (JPEG baseline and extended). Others (JPEG 2000) may be
#: either way; for them LossyImageCompression = "01" says so.
LOSSY_SYNTAXES = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"}


def _lossy(ds) -> bool:
    return (str(ds.file_meta.get("TransferSyntaxUID", "")) in LOSSY_SYNTAXES
            or str(ds.get("LossyImageCompression", "") or "").strip() == "01")


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
        "slice_thickness": series.slices[0].slice_thickness,
        "transfer_syntax": str(ds.file_meta.get("TransferSyntaxUID", "")),
        "slices": len(series.slices),
        "multiframe": series.slices[0].frame is not None,
        "files": list(dict.fromkeys(str(s.path) for s in series.slices)),  # in slice order, each file once
        "duplicate_files": sorted({str(d.path) for _, d in series.duplicates} - {str(s.path) for s in series.slices}),
        "warnings": list(series.warnings),
    }
    if _lossy(ds):
        meta["warnings"].append(f"lossy-compressed pixel data ({meta['transfer_syntax']}): values are approximate")
    if facts:
        meta["rescale"] = [list(r) for r in facts["rescale"]]
        if facts.get("per_slice_rescale"):
            meta["warnings"].append(f"rescale slope/intercept vary across slices ({len(facts['rescale'])} "
                                    "distinct pairs); applied per slice")
    return meta


def _duplicate_note(series: Series) -> str | None:
    """Compare the pixels of duplicate-position slices with the slice kept in their place."""
    if not series.duplicates:
        return None
    differ = sum(not np.array_equal(*(decode_file([h], series.is_ct)[0] for h in pair)) for pair in series.duplicates)
    if differ:
        return (f"{differ} of {len(series.duplicates)} duplicate slice(s) hold different pixel data; "
                "the first by InstanceNumber was kept")
    return f"the {len(series.duplicates)} duplicate slice(s) hold identical pixel data"


def _irregular_notes(series: Series, resample: bool) -> list[str]:
    """What the loader did (or, with ``resample=False``, did not do) about an irregular stack."""
    g = series.geometry
    if resample:
        what = " and ".join(w for w, on in (("gantry tilt", g.shifted), ("uneven spacing", g.uneven)) if on)
        step = g.modal_step if g.uneven else g.spacing[2]
        return [f"resampled onto a regular grid for {what}: slice axis = slice normal, step {step:.4g} mm, linear "
                "interpolation (world positions kept; the original positions are in the metadata, 'regularized')"]
    notes = []
    if g.uneven:
        notes.append(f"uneven slice spacing kept (no resampling): the image's z spacing is the median step "
                     f"{g.spacing[2]:.4g} mm, so z positions are approximate "
                     "(the real ones are in the metadata, 'slice_positions')")
    if g.shifted:
        off = float(np.linalg.norm(np.asarray(g.shifts), axis=1).max())
        notes.append(f"gantry tilt kept (no resampling): slices are placed along the normal, up to {off:.1f} mm "
                     "from their real position")
    return notes


def load_series(series: Series, resample: bool = True, progress: Progress | None = None,
                cancel: CancelEvent = None, skip_damaged: bool = False) -> tuple[sitk.Image, dict]:
    """Decode one discovered series into a SimpleITK image (HU for CT) with LPS geometry.

    An irregular stack (uneven spacing, missing slices, gantry tilt) is resampled onto a regular
    grid when ``resample`` is true (the default), else kept slice for slice with the median step.
    A slice that does not decode is a :class:`DicomDecodeError`; with ``skip_damaged`` it is left
    out and interpolated over, and ``meta["damaged"]`` says which (:mod:`.dicom.damage`).
    """
    failed: list | None = [] if skip_damaged else None
    try:
        array, facts = decode_series(series.slices, series.is_ct, cancel=cancel, damaged=failed,
                                     progress=sub_progress(progress, 0.0, 0.7 if resample and series.geometry.irregular
                                                           else 1.0))
    except DicomDecodeError as exc:
        raise DicomDecodeError(f"{exc}; {damage.HINT}" if len(series.slices) > 1 else str(exc)) from None
    left_out = []
    if failed:
        series, array, left_out = damage.without(series, array, failed)
    g = series.geometry
    regular = resample and g.irregular
    meta = series_metadata(series, facts)
    damage.record(meta, left_out, resample)
    note = _duplicate_note(series)
    if note:
        meta["warnings"].append(note)
    spacing, origin = g.spacing, g.origin
    meta["regularized"] = None
    if g.irregular:
        meta["slice_positions"] = [round(t, 6) for t in g.positions]
        meta["warnings"].extend(_irregular_notes(series, resample))
    if regular:
        fill = AIR_HU if series.is_ct else float(array.min())
        array, grid = regularize(array, g, fill, progress=sub_progress(progress, 0.7, 1.0), cancel=cancel)
        spacing, origin = grid.spacing, grid.origin
        meta["regularized"] = describe(g, grid)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(g.direction)
    return image, meta


def load(path: str | os.PathLike, series: str | None = None, progress: Progress | None = None,
         cancel: CancelEvent = None, resample: bool = True, skip_damaged: bool = False) -> tuple[sitk.Image, dict]:
    """Load any input as (image, metadata).

    ``path`` is a DICOM folder (searched recursively), one DICOM file, or a volume file (.nrrd,
    .nii, .nii.gz, .mha). With several series, ``series`` picks one by UID; otherwise the largest
    CT series is used and ``metadata["warnings"]`` says so. The image is (x, y, z) in SimpleITK
    terms, LPS mm; ``sitk.GetArrayViewFromImage`` gives (z, y, x).

    ``resample`` (default True): a DICOM stack with uneven spacing, missing slices or gantry tilt
    is resampled onto a regular grid (``meta["regularized"]`` records the original positions);
    False (the CLI's ``--no-resample``) keeps the slices as they are, z spacing = the median step,
    and ``meta["slice_positions"]`` holds the real offsets along the normal (mm).

    A damaged slice of the series (:mod:`.dicom.damage`) is a :class:`DicomDecodeError` naming
    the file; ``skip_damaged`` leaves such slices out, interpolates over them and lists them in
    ``meta["damaged"]``.
    """
    p = Path(path)
    if p.is_file() and is_volume_file(p):
        image = read_volume(p)
        return image, {"source": "volume", "path": str(p), "modality": "unknown", "is_hu": None, "warnings": []}
    found = discover(p, progress=sub_progress(progress, 0.0, 0.2), cancel=cancel)
    chosen, note = choose_series(found, series)
    damaged = found.damaged_in(chosen)
    if damaged and not skip_damaged:
        raise damage.damaged_error(damaged, len(chosen.slices))
    image, meta = load_series(chosen, resample=resample, progress=sub_progress(progress, 0.2, 1.0), cancel=cancel,
                              skip_damaged=skip_damaged)
    if damaged:
        found_meta = {"warnings": []}
        damage.record(found_meta, damaged, resample)
        meta["damaged"] = found_meta["damaged"] + meta.get("damaged", [])
        meta["warnings"].extend(found_meta["warnings"])
    meta["warnings"] = ([note] if note else []) + meta["warnings"] + found.skipped_summary()
    meta["series_found"] = [s.uid for s in found.series]
    return image, meta


def input_files(path: str | os.PathLike, meta: dict) -> list[Path]:
    """The files an output must never overwrite: the volume file, or every file of the DICOM series."""
    if meta.get("source") == "dicom":
        return [Path(f) for f in [*meta.get("files", []), *meta.get("duplicate_files", [])]]
    return [Path(path)]


__all__ = ["load", "load_series", "series_metadata", "input_files"]
