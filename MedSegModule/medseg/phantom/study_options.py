"""The test options of :func:`medseg.phantom.write_phantom_study`: how the series is
acquired and what else lies in its folder.

Acquisition (CT phantoms):

- ``tilt_deg``: gantry tilt. Slice ``k`` moves ``k * dz * tan(tilt)`` along the column direction
  while the orientation stays axial (:func:`.dicom_variants.tilted_positions`); the regular phantom
  is sampled (linear) on those tilted planes.
- ``missing_slices``: indices of the regular grid not written.
- ``uneven``: True moves every fourth interior slice (2, 6, 10, ...) by a seeded 20-40 % of the
  slice spacing, alternately up and down; a ``{slice index: offset mm}`` mapping sets the moves
  (each under half the spacing, so the order is kept). Moved slices are sampled from the phantom.
- ``multiframe``: one Enhanced CT file (:func:`.dicom_enhanced.write_enhanced_ct`) instead of one
  file per slice; ``instance_numbers`` becomes its frame order.
- ``transfer_syntax`` (a writer argument): checked first with
  :func:`.dicom_codecs.encoder_missing`, so a syntax this environment cannot encode fails with one
  clear message before anything is written.

Folder contents (any phantom for ``localizer`` and ``dicomdir``, CT for ``second_series``):

- ``localizer``: a coronal LOCALIZER scout of the same study (:func:`.dicom_variants.write_localizer`);
- ``second_series``: a smaller series in the same folder: a thick-slice reformat (slices averaged
  in groups of 2, or more so that it stays smaller than the main series), its own
  SeriesInstanceUID, same study and frame of reference, files named ``SE2_*``;
- ``dicomdir``: everything written as a DICOM File-set with a DICOMDIR (:func:`.dicom_variants.write_dicomdir`).

The ground truth (``labels.nrrd``) always stays the phantom's regular grid. The loader resamples a
tilted or unevenly spaced series back onto a regular grid in world (LPS) coordinates, which need
not be the phantom's grid: compare by resampling the labels onto the loaded image's grid
(``sitk.Resample(labels, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0)``).
"""

from __future__ import annotations

import inspect
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.uid import UID

from ..errors import DependencyError, ParameterError
from ..labels import AIR_HU
from .base import Phantom
from .cardiac import write_mr_series
from .dicom_codecs import encoder_missing
from .dicom_enhanced import write_enhanced_ct
from .dicom_variants import grid_positions, sample_image, write_dicomdir, write_localizer
from .dicom_writer import _direction_matrix, _uid, write_ct_series

#: The keyword arguments of ``write_phantom_study`` handled here.
OPTION_NAMES = ("tilt_deg", "missing_slices", "uneven", "multiframe", "localizer", "second_series", "dicomdir")
_CT_ONLY = ("tilt_deg", "missing_slices", "uneven", "multiframe", "second_series")
_PER_SLICE = ("rescale_slope", "rescale_intercept")


@dataclass(frozen=True)
class StudyOptions:
    tilt_deg: float = 0.0
    missing_slices: tuple[int, ...] = ()
    uneven: bool | Mapping[int, float] = False
    multiframe: bool = False
    localizer: bool = False
    second_series: bool = False
    dicomdir: bool = False
    given: tuple[str, ...] = field(default=())

    @property
    def moves_slices(self) -> bool:
        return bool(self.tilt_deg or self.missing_slices or self.uneven)


def pop_study_options(kw: dict) -> StudyOptions:
    """Take the study options out of ``kw`` (in place) and check their types."""
    given = {k: kw.pop(k) for k in OPTION_NAMES if k in kw}
    missing = given.get("missing_slices") or ()
    try:
        missing = tuple(sorted({int(k) for k in missing}))
        tilt = float(given.get("tilt_deg") or 0.0)
    except (TypeError, ValueError):
        raise ParameterError("missing_slices must be slice indices and tilt_deg a number of degrees") from None
    if not abs(tilt) < 45:
        raise ParameterError(f"tilt_deg must be between -45 and 45 degrees, got {tilt}")
    uneven = given.get("uneven", False)
    if isinstance(uneven, Mapping):
        uneven = {int(k): float(v) for k, v in uneven.items()}
    elif not isinstance(uneven, (bool, np.bool_)):
        raise ParameterError(f"uneven must be True/False or {{slice index: offset mm}}, got {uneven!r}")
    flags = {k: bool(given.get(k, False)) for k in ("multiframe", "localizer", "second_series", "dicomdir")}
    return StudyOptions(tilt_deg=tilt, missing_slices=missing, uneven=uneven or False, **flags,
                        given=tuple(k for k, v in given.items() if v))


def check_study_options(opts: StudyOptions, phantom: Phantom, writer_kw: dict) -> None:
    """Fail before writing anything: CT-only options on MR, bad indices, a syntax not encodable here."""
    if phantom.modality != "CT":
        bad = [k for k in _CT_ONLY if k in opts.given]
        if bad:
            raise ParameterError(f"{', '.join(bad)} need a CT phantom; {phantom.name} is {phantom.modality}")
    nz = phantom.hu.shape[0]
    if any(not 0 <= k < nz for k in opts.missing_slices) or nz - len(opts.missing_slices) < 2:
        raise ParameterError(f"missing_slices must be indices in 0..{nz - 1} leaving at least 2 slices, "
                             f"got {list(opts.missing_slices)}")
    if isinstance(opts.uneven, dict):
        dz = float(phantom.spacing[0])
        if any(not 0 <= k < nz or k in opts.missing_slices or not abs(v) < dz / 2 for k, v in opts.uneven.items()):
            raise ParameterError(f"uneven must map written slice indices (0..{nz - 1}) to offsets under half "
                                 f"the slice spacing ({dz / 2:g} mm), got {opts.uneven}")
    syntax = writer_kw.get("transfer_syntax")
    if syntax:
        reason = encoder_missing(syntax, int(writer_kw.get("bits_stored", 16)))
        if reason:
            name = f"{UID(syntax).name} ({syntax})"
            error = ParameterError if encoder_missing(syntax, 8) is None else DependencyError
            raise error(f"cannot write transfer_syntax {name} here: {reason}")


def _uneven_offsets(uneven, keep: list[int], dz: float, seed: int) -> dict[int, float]:
    if isinstance(uneven, dict):
        return dict(uneven)
    if not uneven:
        return {}
    interior = [k for k in keep[1:-1] if k % 4 == 2]
    rng = np.random.default_rng([seed, 31337])
    return {k: (1 if i % 2 == 0 else -1) * float(rng.uniform(0.2, 0.4)) * dz for i, k in enumerate(interior)}


def acquire(phantom: Phantom, opts: StudyOptions, seed: int):
    """(values (n, y, x), padding mask or None, positions (n, 3) LPS mm, kept grid indices, offsets mm)."""
    nz = phantom.hu.shape[0]
    dz, dy, dx = (float(s) for s in phantom.spacing)
    keep = [k for k in range(nz) if k not in set(opts.missing_slices)]
    offsets = _uneven_offsets(opts.uneven, keep, dz, seed)
    index = np.array([k + offsets.get(k, 0.0) / dz for k in keep])
    d = _direction_matrix(phantom.direction)
    # = tilted_positions(...) at (fractional) grid indices: along the normal, plus the tilt's shear.
    positions = (grid_positions(phantom.origin, dz, index, d)
                 + (index * dz * math.tan(math.radians(opts.tilt_deg)))[:, None] * d[:, 1][None, :])
    pad = phantom.padding_mask
    if not offsets and not opts.tilt_deg:
        return phantom.hu[keep], None if pad is None else pad[keep], positions, keep, offsets
    hu = np.rint(sample_image(phantom.to_image(), positions, phantom.hu.shape[1:], (dy, dx), d,
                              sitk.sitkLinear, float(AIR_HU))).astype(np.int16)
    if pad is not None:
        pad = sample_image(phantom._image(pad.astype(np.uint8)), positions, phantom.hu.shape[1:], (dy, dx), d,
                           sitk.sitkNearestNeighbor, 0).astype(bool)
    return hu, pad, positions, keep, offsets


def _hex_name(*parts) -> str:
    return f"{int(str(_uid('name', *parts))[5:]) % 2 ** 64:016x}"


def _write_main(phantom: Phantom, folder: Path, opts: StudyOptions, writer_kw: dict, seed: int):
    """The main series: (files in position order, positions or None when regular)."""
    kw = dict(writer_kw)
    if phantom.modality != "CT":
        return write_mr_series(phantom.hu, phantom.spacing, phantom.origin, folder, direction=phantom.direction,
                               window=phantom.window, **kw), None
    hu, pad, positions, keep, _ = acquire(phantom, opts, seed)
    if "padding_mask" in kw:
        kw["padding_mask"] = pad
    for name in _PER_SLICE:  # per-slice rescale given for the full grid: keep the written slices'
        if name in kw and np.ndim(kw[name]) == 1 and len(kw[name]) == phantom.hu.shape[0] != len(keep):
            kw[name] = np.asarray(kw[name])[keep]
    geometry = dict(direction=phantom.direction, positions=positions if opts.moves_slices else None)
    if not opts.multiframe:
        return write_ct_series(hu, phantom.spacing, phantom.origin, folder, **geometry, **kw), geometry["positions"]
    shuffle = kw.pop("shuffle_names", False)
    if "instance_numbers" in kw:
        kw["frame_order"] = kw.pop("instance_numbers")
    accepted = set(inspect.signature(write_enhanced_ct).parameters)
    bad = sorted(set(kw) - accepted)
    if bad:
        raise ParameterError(f"{', '.join(bad)} cannot be used with multiframe=True")
    folder.mkdir(parents=True, exist_ok=True)
    name = _hex_name(seed, "enhanced") if shuffle else "enhanced.dcm"
    path = write_enhanced_ct(hu, phantom.spacing, phantom.origin, folder / name, **geometry, **kw)
    return [path], geometry["positions"]


def _single_frame_reference(files: list[Path], stage: Path, phantom: Phantom, writer_kw: dict) -> Path:
    """A single-frame slice of the study (a multi-frame file is no reference for a localizer)."""
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    if int(ds.get("NumberOfFrames", 1) or 1) <= 1:
        return files[0]
    return write_ct_series(phantom.hu[:1], phantom.spacing, phantom.origin, stage / "reference",
                           direction=phantom.direction, seed=writer_kw.get("seed", 0),
                           study_uid=ds.StudyInstanceUID, frame_of_reference_uid=ds.FrameOfReferenceUID,
                           transfer_syntax=writer_kw.get("transfer_syntax", pydicom.uid.ExplicitVRLittleEndian))[0]


def _write_second(phantom: Phantom, folder: Path, stage: Path, main_count: int, files: list[Path],
                  writer_kw: dict) -> list[Path]:
    """A thick-slice reformat of the phantom, fewer slices than the main series, in ``folder``."""
    nz = phantom.hu.shape[0]
    factor = next((f for f in range(2, nz + 1) if 2 <= nz // f < main_count), None)
    if factor is None:
        raise ParameterError(f"second_series needs a main series of at least 3 slices (it has {main_count})")
    count = nz // factor
    groups = phantom.hu[:count * factor].reshape(count, factor, *phantom.hu.shape[1:])
    hu = np.rint(groups.astype(np.float64).mean(axis=1)).astype(np.int16)
    d = _direction_matrix(phantom.direction)
    dz = float(phantom.spacing[0])
    origin = np.asarray(phantom.origin, float) + (factor - 1) / 2 * dz * d[:, 2]
    ref = pydicom.dcmread(files[0], stop_before_pixels=True)
    kw = {k: v for k, v in writer_kw.items() if k in ("seed", "body_part", "transfer_syntax", "bits_stored",
                                                       "pixel_representation", "shuffle_names", "instance_numbers")}
    if writer_kw.get("padding_mask") is not None:
        kw.update(pixel_padding_value=writer_kw["pixel_padding_value"],
                  padding_mask=np.broadcast_to(writer_kw["padding_mask"][:count * factor].reshape(
                      count, factor, *hu.shape[1:]).all(axis=1), hu.shape))
    staged = write_ct_series(hu, (factor * dz, *phantom.spacing[1:]), origin, stage / "second",
                             direction=phantom.direction, study_uid=ref.StudyInstanceUID,
                             frame_of_reference_uid=ref.FrameOfReferenceUID, series_number=2,
                             series_description=f"MedSeg {phantom.name} phantom {factor * dz:g} mm reformat",
                             image_type=("DERIVED", "PRIMARY", "AXIAL"), **kw)
    moved = []
    for f in staged:
        os.replace(f, folder / f"SE2_{f.name}")
        moved.append(folder / f"SE2_{f.name}")
    return moved


def _relocate(paths, by_uid: dict[str, Path]) -> list[Path]:
    return [by_uid[str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID)] for p in paths]


def write_study_series(phantom: Phantom, folder: str | os.PathLike, opts: StudyOptions, writer_kw: dict,
                       seed: int = 0) -> dict:
    """Write the series and the extras ``opts`` asks for into ``folder``.

    Returns ``files`` (main series, position order; one path for ``multiframe``) and, where asked,
    ``positions`` ((n, 3) ImagePositionPatient written, LPS mm), ``localizer``,
    ``second_series_files`` and ``dicomdir``.
    """
    check_study_options(opts, phantom, writer_kw)
    folder = Path(folder)
    if opts.dicomdir and folder.exists() and any(folder.iterdir()):
        raise ParameterError(f"dicomdir=True writes a File-set into a new folder; {folder} is not empty")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".phantom-stage-") as tmp:
        stage = Path(tmp)
        target = stage / "fileset" if opts.dicomdir else folder
        target.mkdir(parents=True, exist_ok=True)
        files, positions = _write_main(phantom, target, opts, writer_kw, seed)
        result: dict = {"files": files}
        if positions is not None:
            result["positions"] = np.asarray(positions)
        if opts.localizer:
            name = _hex_name(seed, "localizer") if writer_kw.get("shuffle_names") else "LOC0000.dcm"
            reference = _single_frame_reference(files, stage, phantom, writer_kw)
            result["localizer"] = write_localizer(reference, target / name)
        if opts.second_series:
            main_count = len(positions) if positions is not None else phantom.hu.shape[0]
            result["second_series_files"] = _write_second(phantom, target, stage, main_count, files, writer_kw)
        if opts.dicomdir:
            written = [*files, *([result["localizer"]] if opts.localizer else []),
                       *result.get("second_series_files", [])]
            result["dicomdir"] = write_dicomdir(written, folder)
            by_uid = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p
                      for p in folder.rglob("*") if p.is_file() and p.name != "DICOMDIR"}
            result["files"] = _relocate(files, by_uid)
            if opts.localizer:
                result["localizer"] = _relocate([result["localizer"]], by_uid)[0]
            if opts.second_series:
                result["second_series_files"] = _relocate(result["second_series_files"], by_uid)
    return result


def describe(opts: StudyOptions, result: dict, writer_kw: dict) -> dict:
    """The acquisition options for labels.json (only those given)."""
    info: dict = {}
    if opts.tilt_deg:
        info["tilt_deg"] = opts.tilt_deg
    if opts.missing_slices:
        info["missing_slices"] = list(opts.missing_slices)
    if opts.uneven:
        info["uneven"] = True
    if "positions" in result:
        info["positions_lps_mm"] = np.round(result["positions"], 4).tolist()
        info["note"] = ("labels.nrrd is the regular ground-truth grid; the loader resamples this series onto a "
                        "regular grid in world coordinates: resample the labels onto it (nearest) to compare")
    if writer_kw.get("transfer_syntax"):
        info["transfer_syntax"] = str(writer_kw["transfer_syntax"])
    for key in ("multiframe", "localizer", "second_series", "dicomdir"):
        if getattr(opts, key):
            info[key] = True
    return info
