"""Awkward acquisitions for tests: gantry tilt, uneven spacing and missing slices, localizers,
secondary captures, derived series, a DICOMDIR, a second series in the same folder.

Geometry helpers return what :func:`.dicom_writer.write_ct_series` takes: slice values (z, y, x)
and ``positions`` ((z, 3) ImagePositionPatient, LPS mm). The file helpers copy a written slice
(``reference``) and change what makes it a localizer, a screenshot or a derived image, so they
share its patient, study and frame of reference like real ones do.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.uid import SecondaryCaptureImageStorage

from .dicom_codecs import save_dataset, set_pixel_data
from .dicom_writer import IDENTITY, _direction_matrix, _ds, _uid


def tilted_positions(origin, step_mm: float, count: int, tilt_deg: float, direction=IDENTITY) -> np.ndarray:
    """(count, 3) positions of a gantry-tilted stack whose orientation stays ``direction``.

    Slice ``k`` advances ``k * step_mm`` along the normal and ``k * step_mm * tan(tilt)`` along the
    column direction (posterior for axial slices): how a scanner with a tilted gantry writes IPP
    while keeping IOP axial (or, equivalently, tilted IOP with table travel along z).
    """
    d = _direction_matrix(direction)
    k = np.arange(count)[:, None] * float(step_mm)
    return np.asarray(origin, float)[None, :] + k * d[:, 2][None, :] + k * math.tan(math.radians(tilt_deg)) * d[:, 1][None, :]


def grid_positions(origin, spacing_z: float, indices: Sequence[int], direction=IDENTITY) -> np.ndarray:
    """Positions of slices ``indices`` of a regular stack: drop indices for missing slices, pick
    irregular ones for uneven spacing (``origin + index * spacing_z * normal``)."""
    d = _direction_matrix(direction)
    return np.asarray(origin, float)[None, :] + np.asarray(indices, float)[:, None] * float(spacing_z) * d[:, 2][None, :]


def slice_points(positions, shape_yx: tuple[int, int], spacing_yx: tuple[float, float], direction=IDENTITY) -> np.ndarray:
    """World (LPS mm) points of every pixel centre: array (z, y, x, 3); pixel (j, i) of slice k is
    ``positions[k] + i * spacing_x * row_dir + j * spacing_y * col_dir``."""
    d = _direction_matrix(direction)
    ny, nx = shape_yx
    j = np.arange(ny)[:, None, None] * float(spacing_yx[0]) * d[:, 1]
    i = np.arange(nx)[None, :, None] * float(spacing_yx[1]) * d[:, 0]
    return np.asarray(positions, float)[:, None, None, :] + (j + i)[None]


def sample_function(fn: Callable[[np.ndarray], np.ndarray], positions, shape_yx, spacing_yx, direction=IDENTITY) -> np.ndarray:
    """Values (z, y, x) of an analytic phantom ``fn(points (..., 3) LPS mm)`` on the given slices."""
    return fn(slice_points(positions, shape_yx, spacing_yx, direction))


def sample_image(image: sitk.Image, positions, shape_yx, spacing_yx, direction=IDENTITY,
                 interpolator=sitk.sitkLinear, default: float = -1024.0) -> np.ndarray:
    """A regular-grid phantom ``image`` sampled on the given slices (z, y, x): how a tilted or
    unevenly spaced acquisition of it would look. Linear for HU, nearest for labels."""
    d = np.asarray(_direction_matrix(direction))
    out = []
    for p in np.asarray(positions, float):
        ref = sitk.Image(int(shape_yx[1]), int(shape_yx[0]), 1, image.GetPixelID())
        ref.SetSpacing((float(spacing_yx[1]), float(spacing_yx[0]), 1.0))
        ref.SetOrigin(tuple(float(v) for v in p))
        ref.SetDirection(tuple(float(v) for v in d.ravel()))
        out.append(sitk.GetArrayFromImage(sitk.Resample(image, ref, sitk.Transform(), interpolator, default))[0])
    return np.stack(out)


def sphere(centre, radius_mm: float, inside: float = 100.0, outside: float = -1000.0,
           edge_mm: float = 1.0) -> Callable[[np.ndarray], np.ndarray]:
    """An analytic ball: ``inside`` within ``radius_mm`` of ``centre`` (LPS mm), ``outside`` beyond,
    with a linear ramp ``edge_mm`` wide (partial volume) so the centre is not biased by the grid."""
    c = np.asarray(centre, float)

    def fn(points: np.ndarray) -> np.ndarray:
        dist = np.linalg.norm(points - c, axis=-1)
        frac = np.clip((radius_mm - dist) / edge_mm + 0.5, 0.0, 1.0)
        return outside + (inside - outside) * frac

    return fn


# --- extra files beside a series --------------------------------------------------------------------

def _copy(reference, sop_key: str, path) -> pydicom.Dataset:
    """``reference`` read back with a new SOPInstanceUID (derived from ``sop_key`` and ``path``)."""
    ds = pydicom.dcmread(reference)
    uid = _uid("sop", ds.SOPInstanceUID, sop_key, Path(path).name)
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    return ds


def write_localizer(reference: str | os.PathLike, path: str | os.PathLike, *, same_series: bool = False,
                    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "LOCALIZER")) -> Path:
    """A coronal scout beside ``reference``'s series: same study, its own series (or, with
    ``same_series``, the same SeriesInstanceUID as some scanners do). Pass ``image_type`` without
    LOCALIZER to make the harder case: a lone slice whose only tell is its orientation."""
    ds = _copy(reference, "localizer", path)
    ds.ImageType = list(image_type)
    ds.ImageOrientationPatient = [_ds(v) for v in (1, 0, 0, 0, 0, -1)]  # coronal
    ds.ImagePositionPatient = [_ds(v) for v in (float(ds.ImagePositionPatient[0]), 0.0,
                                                float(ds.ImagePositionPatient[2]) + 100)]
    ds.InstanceNumber = 999
    if not same_series:
        ds.SeriesInstanceUID = _uid("series", ds.SeriesInstanceUID, "localizer")
        ds.SeriesNumber = 0
        ds.SeriesDescription = "Topogram"
    syntax = ds.file_meta.TransferSyntaxUID
    set_pixel_data(ds, np.ascontiguousarray(ds.pixel_array[::-1]), syntax)  # some different picture
    return save_dataset(ds, path, syntax)


def write_secondary_capture(reference: str | os.PathLike, path: str | os.PathLike) -> Path:
    """A Secondary Capture copy of ``reference`` (a 'screenshot' in the same series folder)."""
    ds = _copy(reference, "secondary-capture", path)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.SeriesInstanceUID = _uid("series", ds.SeriesInstanceUID, "secondary-capture")
    ds.SeriesNumber = 900
    ds.SeriesDescription = "Dose report screen"
    return save_dataset(ds, path, ds.file_meta.TransferSyntaxUID)


def write_derived_series(files: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                         image_type: Sequence[str] = ("DERIVED", "SECONDARY", "MPR")) -> list[Path]:
    """A derived copy of a series (new SeriesInstanceUID, ImageType ``image_type``), as a
    workstation writes back a post-processed volume."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in files:
        ds = _copy(f, "derived", f)
        ds.ImageType = list(image_type)
        ds.SeriesInstanceUID = _uid("series", ds.SeriesInstanceUID, "derived")
        ds.SeriesNumber = int(ds.SeriesNumber) + 500
        ds.SeriesDescription = f"{ds.get('SeriesDescription', '')} derived"
        paths.append(save_dataset(ds, out / f"DER_{Path(f).name}", ds.file_meta.TransferSyntaxUID))
    return paths


def write_dicomdir(files: Sequence[str | os.PathLike], out_dir: str | os.PathLike) -> Path:
    """Copy ``files`` into ``out_dir`` as a DICOM File-set (PTxxxxxx/STxxxxxx/SExxxxxx/IMxxxxxx)
    with its DICOMDIR index, as CDs and PACS exports are. ``out_dir`` must be new or empty.
    pydicom's FileSet writes the files itself (not through the atomic writer): test data only."""
    from pydicom.fileset import FileSet

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty; a File-set is written into a new folder")
    fs = FileSet()
    for f in files:
        fs.add(f)
    fs.write(out)
    return out / "DICOMDIR"
