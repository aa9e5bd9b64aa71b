"""``load(path)``: any supported input (DICOM folder or file, NRRD/NIfTI/MHA) to an image.

DICOM CT becomes HU; other modalities get modality-LUT values and no HU claim. The metadata
dict carries acquisition facts and warnings, never patient data. Irregular stacks (uneven
spacing, missing slices, gantry tilt) are resampled onto a regular grid by default
(:mod:`.regularize`), and ``meta["regularized"]`` says what was done.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from pydicom.multival import MultiValue

from ..errors import DicomDecodeError, ParameterError
from ..labels import AIR_HU, OUT_OF_FIELD_HU
from ..progress import CancelEvent, Progress, sub_progress
from .dicom import damage
from .dicom.discover import Series, choose_series, discover
from .dicom.pixels import decode_file, decode_series
from .dicom.regularize import describe, regularize
from .hu_check import inspect_values, warning_for
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


def _checked_rescale(slope: float | None, intercept: float | None) -> None:
    for name, value in (("--rescale-slope", slope), ("--rescale-intercept", intercept)):
        if value is not None and not np.isfinite(value):
            raise ParameterError(f"{name} must be a finite number, got {value}")
    if slope is not None and slope == 0:
        raise ParameterError("--rescale-slope must not be 0")


def hu_sanity(array: np.ndarray, meta: dict, intercept: float | None = None, override: bool = False) -> np.ndarray:
    """Judge CT values by their histogram (:mod:`.hu_check`) and correct a clear +1024 offset.

    Records the finding in ``meta["hu_check"]`` (verdict, evidence, air/tissue modes, percentiles
    of the values before any correction) and one warning when the values are not HU. The
    correction (-1024) is applied only for the verdict "offset" and never when the user set the
    rescale (``override``). Values kept although they are not HU make ``meta["is_hu"]`` None, so
    the steps that need HU look at the values themselves (and refuse them unless forced). Returns the (possibly corrected) array.
    """
    check = inspect_values(array, intercept)
    corrected = check.verdict == "offset" and not override
    meta["hu_check"] = {**check.as_meta(), "corrected": corrected, "rescale_override": override}
    note = warning_for(check, corrected)
    if note:
        meta["warnings"].append(note)
    if corrected:
        array = array + np.asarray(check.shift, dtype=array.dtype)
        array[array < OUT_OF_FIELD_HU] = AIR_HU
    elif check.verdict != "hu":
        meta["is_hu"] = None
    return array


def load_series(series: Series, resample: bool = True, progress: Progress | None = None,
                cancel: CancelEvent = None, rescale_slope: float | None = None,
                rescale_intercept: float | None = None, skip_damaged: bool = False) -> tuple[sitk.Image, dict]:
    """Decode one discovered series into a SimpleITK image (HU for CT) with LPS geometry.

    An irregular stack (uneven spacing, missing slices, gantry tilt) is resampled onto a regular
    grid when ``resample`` is true (the default), else kept slice for slice with the median step.
    ``rescale_slope``/``rescale_intercept`` replace the headers' values (each on its own; None
    keeps the header's). CT values then go through :func:`hu_sanity`.
    A slice that does not decode is a :class:`DicomDecodeError`; with ``skip_damaged`` it is left
    out and interpolated over, and ``meta["damaged"]`` says which (:mod:`.dicom.damage`).
    """
    _checked_rescale(rescale_slope, rescale_intercept)
    override = rescale_slope is not None or rescale_intercept is not None
    header_intercept = series.slices[0].rescale[1]
    if override:
        series = replace(series, slices=[
            replace(s, rescale=(s.rescale[0] if rescale_slope is None else float(rescale_slope),
                                s.rescale[1] if rescale_intercept is None else float(rescale_intercept)))
            for s in series.slices])
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
    if override:
        meta["warnings"].append(f"rescale set by the user: slope {series.slices[0].rescale[0]:g}, "
                                f"intercept {series.slices[0].rescale[1]:g} (the headers' values are ignored)")
    if series.is_ct:
        array = hu_sanity(array, meta, intercept=header_intercept, override=override)
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


def load_volume(path: str | os.PathLike, rescale_slope: float | None = None,
                rescale_intercept: float | None = None) -> tuple[sitk.Image, dict]:
    """A volume file as (image, metadata): values as stored, or ``value * slope + intercept`` when set.

    The modality is unknown (``meta["is_hu"]`` None); the values go through :func:`hu_sanity`, so
    a clear +1024 offset is corrected as for DICOM, and the steps that need HU judge the rest.
    """
    _checked_rescale(rescale_slope, rescale_intercept)
    image = read_volume(path)
    meta = {"source": "volume", "path": str(path), "modality": "unknown", "is_hu": None, "warnings": []}
    if image.GetNumberOfComponentsPerPixel() != 1:
        return image, meta
    override = rescale_slope is not None or rescale_intercept is not None
    array = sitk.GetArrayFromImage(image)
    if override:
        slope = 1.0 if rescale_slope is None else float(rescale_slope)
        array = array.astype(np.float32) * np.float32(slope) + np.float32(rescale_intercept or 0.0)
        meta["warnings"].append(f"rescale set by the user: value * {slope:g} + {rescale_intercept or 0.0:g}")
    checked = hu_sanity(array, meta, override=override)
    meta["is_hu"] = None  # a volume file says nothing about its modality: the values decide
    if checked is array and not override:
        return image, meta
    out = sitk.GetImageFromArray(checked)
    out.CopyInformation(image)
    return out, meta


def load(path: str | os.PathLike, series: str | None = None, progress: Progress | None = None,
         cancel: CancelEvent = None, resample: bool = True, rescale_slope: float | None = None,
         rescale_intercept: float | None = None, skip_damaged: bool = False) -> tuple[sitk.Image, dict]:
    """Load any input as (image, metadata).

    ``path`` is a DICOM folder (searched recursively), one DICOM file, or a volume file (.nrrd,
    .nii, .nii.gz, .mha). With several series, ``series`` picks one by UID; otherwise the largest
    CT series is used and ``metadata["warnings"]`` says so. The image is (x, y, z) in SimpleITK
    terms, LPS mm; ``sitk.GetArrayViewFromImage`` gives (z, y, x).

    ``resample`` (default True): a DICOM stack with uneven spacing, missing slices or gantry tilt
    is resampled onto a regular grid (``meta["regularized"]`` records the original positions);
    False (the CLI's ``--no-resample``) keeps the slices as they are, z spacing = the median step,
    and ``meta["slice_positions"]`` holds the real offsets along the normal (mm).

    ``rescale_slope``/``rescale_intercept`` (the CLI's ``--rescale-slope``/``--rescale-intercept``)
    replace the stored values' rescale. CT values whose histogram cannot be HU (air stored at 0,
    soft tissue at 1024) are corrected by -1024 with a warning unless a rescale is given;
    ``meta["hu_check"]`` holds the finding (:func:`hu_sanity`).
    A damaged slice of the series (:mod:`.dicom.damage`) is a :class:`DicomDecodeError` naming
    the file; ``skip_damaged`` leaves such slices out, interpolates over them and lists them in
    ``meta["damaged"]``.
    """
    p = Path(path)
    if p.is_file() and is_volume_file(p):
        return load_volume(p, rescale_slope, rescale_intercept)
    found = discover(p, progress=sub_progress(progress, 0.0, 0.2), cancel=cancel)
    chosen, note = choose_series(found, series)
    damaged = found.damaged_in(chosen)
    if damaged and not skip_damaged:
        raise damage.damaged_error(damaged, len(chosen.slices))
    image, meta = load_series(chosen, resample=resample, progress=sub_progress(progress, 0.2, 1.0), cancel=cancel,
                              rescale_slope=rescale_slope, rescale_intercept=rescale_intercept,
                              skip_damaged=skip_damaged)
    if damaged:
        found_meta = {"warnings": []}
        damage.record(found_meta, damaged, resample)
        meta["damaged"] = found_meta["damaged"] + meta.get("damaged", [])
        meta["warnings"].extend(found_meta["warnings"])
    meta["warnings"] = ([note] if note else []) + meta["warnings"] + found.skipped_summary()
    meta["series_found"] = [s.uid for s in found.series]
    return image, meta


def series_hu_check(series: Series, most_slices: int = 12) -> dict | None:
    """``meta["hu_check"]`` of a CT series from a sample of its slices (for `medseg info`), or None for non-CT.

    Up to ``most_slices`` evenly spaced slices are decoded with their own rescale; the verdict is
    what :func:`load` would find and do.
    """
    if not series.is_ct:
        return None
    picks = sorted({int(round(k)) for k in np.linspace(0, len(series.slices) - 1, min(most_slices, len(series.slices)))})
    try:
        array, _ = decode_series([series.slices[k] for k in picks], True)
    except DicomDecodeError:
        return None  # a damaged slice: `info` lists the damage; there is nothing sound to judge
    meta: dict = {"warnings": []}
    hu_sanity(array, meta, intercept=series.slices[0].rescale[1])
    return {**meta["hu_check"], "slices_sampled": len(picks)}


def volume_summary(path: str | os.PathLike) -> dict:
    """Facts about a volume file for `medseg info`: size, spacing, origin (LPS mm), pixel type, HU check."""
    image, meta = load_volume(path)
    return {"source": "volume", "path": str(path), "modality": "unknown", "size": list(image.GetSize()),
            "spacing": [round(v, 6) for v in image.GetSpacing()], "origin": [round(v, 6) for v in image.GetOrigin()],
            "pixel_type": image.GetPixelIDTypeAsString(), "components": image.GetNumberOfComponentsPerPixel(),
            "warnings": meta["warnings"], "hu_check": meta.get("hu_check")}


def input_files(path: str | os.PathLike, meta: dict) -> list[Path]:
    """The files an output must never overwrite: the volume file, or every file of the DICOM series."""
    if meta.get("source") == "dicom":
        return [Path(f) for f in [*meta.get("files", []), *meta.get("duplicate_files", [])]]
    return [Path(path)]


__all__ = ["load", "load_series", "load_volume", "hu_sanity", "series_hu_check", "volume_summary",
           "series_metadata", "input_files"]
