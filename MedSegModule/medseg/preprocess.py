"""Preprocessing steps: HU windows, normalisation, resampling and HU histograms.

Pure (numpy, SimpleITK); no slicer/vtk/qt. Images are ``SimpleITK.Image`` with LPS geometry;
arrays taken from them are (z, y, x). Spacings and sizes in SimpleITK order are (x, y, z).
Intensities are Hounsfield units (HU), lengths millimetres (mm).
"""

from __future__ import annotations

from dataclasses import dataclass

import math
from typing import Callable, Optional, Sequence, Union

import numpy as np
import SimpleITK as sitk

from .errors import Cancelled, GeometryError, ParameterError
from .labels import AIR_HU
from .progress import CancelEvent, Progress, check_cancel, report

#: Named HU windows as (center, width) in HU.
WINDOWS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (40.0, 400.0),
    "soft-tissue": (40.0, 400.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
    "abdomen": (40.0, 350.0),
}

Spacing = Union[float, Sequence[Optional[float]]]
Mask = Union[sitk.Image, np.ndarray, None]


def _float_image(arr: np.ndarray, like: sitk.Image) -> sitk.Image:
    """A float32 image from a (z, y, x) array with ``like``'s origin, spacing and direction."""
    out = sitk.GetImageFromArray(np.ascontiguousarray(arr, dtype=np.float32))
    out.CopyInformation(like)
    return out


def window_bounds(center: float, width: float) -> tuple[float, float]:
    """The (lo, hi) HU bounds of a window given by ``center`` and ``width`` (HU)."""
    if not (math.isfinite(center) and math.isfinite(width)) or width <= 0:
        raise ParameterError(f"window width must be a positive number of HU, got {width!r}")
    return float(center) - float(width) / 2.0, float(center) + float(width) / 2.0


def clip_hu(image: sitk.Image, lo: float, hi: float) -> sitk.Image:
    """Clip intensities to [lo, hi] HU; returns a float32 image on the same grid."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise ParameterError(f"HU range needs lo < hi, got lo={lo!r}, hi={hi!r}")
    arr = sitk.GetArrayViewFromImage(image).astype(np.float32)
    return _float_image(np.clip(arr, np.float32(lo), np.float32(hi)), image)


def window(image: sitk.Image, center: Union[float, str], width: Optional[float] = None) -> sitk.Image:
    """Clip to the HU window ``center`` ± ``width``/2 (HU); float32, same geometry.

    ``center`` may instead be a preset name from :data:`WINDOWS` (e.g. ``window(img, "lung")``),
    in which case ``width`` is taken from the preset unless given.
    """
    if isinstance(center, str):
        if center not in WINDOWS:
            raise ParameterError(f"unknown window {center!r}; choose one of {', '.join(WINDOWS)}")
        preset_center, preset_width = WINDOWS[center]
        center, width = preset_center, preset_width if width is None else width
    if width is None:
        raise ParameterError("window needs a width in HU")
    lo, hi = window_bounds(center, width)
    return clip_hu(image, lo, hi)


def normalise(image: sitk.Image, lo: float, hi: float) -> sitk.Image:
    """Map [lo, hi] HU linearly onto [0, 1], clipping outside; float32, same geometry."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise ParameterError(f"normalise needs lo < hi, got lo={lo!r}, hi={hi!r}")
    arr = sitk.GetArrayViewFromImage(image).astype(np.float64)
    out = np.clip((arr - lo) / (hi - lo), 0.0, 1.0)
    return _float_image(out, image)


def _values(image: sitk.Image, mask: Mask) -> np.ndarray:
    """The image's values as float64, only those where ``mask`` (same grid) is non-zero if given."""
    arr = sitk.GetArrayViewFromImage(image)
    if mask is None:
        return arr.astype(np.float64).ravel()
    m = sitk.GetArrayViewFromImage(mask) if isinstance(mask, sitk.Image) else np.asarray(mask)
    if m.shape != arr.shape:
        raise GeometryError(f"mask array shape {m.shape} differs from the image's {arr.shape} (z, y, x)")
    return arr[m != 0].astype(np.float64)


def zscore(image: sitk.Image, mask: Mask = None) -> sitk.Image:
    """(value - mean) / std, with mean and std (HU) taken inside ``mask`` if given; float32.

    ``mask`` is a label image on the same grid or a (z, y, x) array; non-zero means inside.
    A constant image maps to all zeros.
    """
    values = _values(image, mask)
    if values.size == 0:
        raise ParameterError("zscore mask is empty")
    mean, std = float(values.mean()), float(values.std())
    arr = sitk.GetArrayViewFromImage(image).astype(np.float64) - mean
    if std > 0:
        arr /= std
    return _float_image(arr, image)


def _run_filter(f: sitk.ProcessObject, image: sitk.Image, progress: Progress | None,
                cancel: CancelEvent, message: str) -> sitk.Image:
    """Execute a SimpleITK filter, forwarding its progress and aborting it on ``cancel``."""
    check_cancel(cancel)

    def on_progress() -> None:
        report(progress, f.GetProgress(), message)
        if cancel is not None and cancel.is_set():
            f.Abort()

    f.AddCommand(sitk.sitkProgressEvent, on_progress)
    try:
        out = f.Execute(image)
    except RuntimeError:
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled by the user") from None
        raise
    finally:
        f.RemoveAllCommands()
    check_cancel(cancel)
    report(progress, 1.0, message)
    return out


def _resample(image: sitk.Image, size, spacing, origin, direction, is_label: bool,
              default_value: Optional[float], progress, cancel) -> sitk.Image:
    """Resample onto the given grid (sitk (x, y, z) order); see :func:`resample_to_spacing`."""
    message = "resampling labels" if is_label else "resampling"
    if default_value is None:
        default_value = 0 if is_label else AIR_HU
    src = image
    integer_image = not is_label and np.issubdtype(sitk.GetArrayViewFromImage(image).dtype, np.integer)
    if integer_image:  # interpolate in float, then round, so HU are not truncated towards zero
        src = sitk.Cast(image, sitk.sitkFloat32)
    f = sitk.ResampleImageFilter()
    f.SetSize([int(s) for s in size])
    f.SetOutputSpacing([float(s) for s in spacing])
    f.SetOutputOrigin([float(o) for o in origin])
    f.SetOutputDirection([float(d) for d in direction])
    f.SetTransform(sitk.Transform())
    f.SetInterpolator(sitk.sitkNearestNeighbor if is_label else sitk.sitkLinear)
    f.SetDefaultPixelValue(float(default_value))
    f.SetOutputPixelType(src.GetPixelID())
    out = _run_filter(f, src, progress, cancel, message)
    if integer_image:
        dtype = sitk.GetArrayViewFromImage(image).dtype
        info = np.iinfo(dtype)
        rounded = np.clip(np.rint(sitk.GetArrayViewFromImage(out)), info.min, info.max)
        back = sitk.GetImageFromArray(rounded.astype(dtype))
        back.CopyInformation(out)
        return back
    return out


def resample_to_spacing(image: sitk.Image, spacing_mm: Spacing, is_label: bool = False,
                        progress: Progress | None = None, cancel: CancelEvent = None,
                        default_value: Optional[float] = None) -> sitk.Image:
    """Resample onto a grid with voxel spacing ``spacing_mm`` (mm), keeping the physical extent.

    ``spacing_mm`` is either one float (isotropic, e.g. ``1.0``) or one entry per axis in
    SimpleITK order **(x, y, z)** -- not the (z, y, x) order of numpy arrays. An entry of
    ``None`` keeps that axis's spacing. The new size is ``round(size * spacing / new_spacing)``
    (at least 1); origin (the centre of the first voxel, LPS mm) and direction are unchanged.

    Images use linear interpolation (integer images are interpolated in float and rounded
    back to their pixel type); labels (``is_label=True``) use nearest neighbour, so only the
    original label values appear. Samples outside the input get ``default_value``: by default
    AIR_HU (-1024 HU) for images and 0 for labels.
    """
    dim = image.GetDimension()
    old_spacing = image.GetSpacing()
    if spacing_mm is None or isinstance(spacing_mm, (int, float)):
        wanted: list = [spacing_mm] * dim
    else:
        wanted = list(spacing_mm)
        if len(wanted) != dim:
            raise ParameterError(f"spacing needs {dim} entries (x, y, z), got {len(wanted)}")
    new_spacing = []
    for old, new in zip(old_spacing, wanted):
        try:
            new = old if new is None else float(new)
        except (TypeError, ValueError):
            raise ParameterError(f"spacing must be numbers in mm, got {new!r}") from None
        if not math.isfinite(new) or new <= 0:
            raise ParameterError(f"spacing must be positive (mm), got {new!r}")
        new_spacing.append(new)
    size = [max(1, int(round(n * old / new)))
            for n, old, new in zip(image.GetSize(), old_spacing, new_spacing)]
    return _resample(image, size, new_spacing, image.GetOrigin(), image.GetDirection(), is_label,
                     default_value, progress, cancel)


def resample_like(image: sitk.Image, reference: sitk.Image, is_label: bool = False,
                  progress: Progress | None = None, cancel: CancelEvent = None,
                  default_value: Optional[float] = None) -> sitk.Image:
    """Resample ``image`` onto ``reference``'s grid (size, spacing in mm, origin, direction).

    Matching is by physical (LPS) position, so grids that differ by flips or permutations work.
    Interpolation and outside values are as in :func:`resample_to_spacing`.
    """
    if image.GetDimension() != reference.GetDimension():
        raise GeometryError(f"cannot resample a {image.GetDimension()}D image onto a "
                            f"{reference.GetDimension()}D grid")
    return _resample(image, reference.GetSize(), reference.GetSpacing(), reference.GetOrigin(),
                     reference.GetDirection(), is_label, default_value, progress, cancel)


def hu_histogram(image: sitk.Image, mask: Mask = None, bins: int = 256,
                 range: tuple[float, float] = (-1024, 3071)) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of HU values (inside ``mask`` if given) as ``(counts, bin_edges)`` numpy arrays.

    ``bins`` equal bins span ``range`` (HU). Values outside the range are counted in the first
    or last bin, so ``counts.sum()`` is the number of voxels considered.
    """
    lo, hi = range
    if int(bins) < 1:
        raise ParameterError(f"bins must be at least 1, got {bins!r}")
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise ParameterError(f"histogram range needs lo < hi, got {range!r}")
    values = np.clip(_values(image, mask), lo, hi)
    return np.histogram(values, bins=int(bins), range=(float(lo), float(hi)))


def hu_summary(image: sitk.Image, mask: Mask = None) -> dict[str, float]:
    """HU statistics (inside ``mask`` if given): min, max, mean, std, p1, p50, p99 as floats."""
    values = _values(image, mask)
    if values.size == 0:
        raise ParameterError("hu_summary mask is empty")
    p1, p50, p99 = np.percentile(values, [1, 50, 99])
    return {"min": float(values.min()), "max": float(values.max()), "mean": float(values.mean()),
            "std": float(values.std()), "p1": float(p1), "p50": float(p50), "p99": float(p99)}


@dataclass
class Reoriented:
    """A volume on its LPS-reoriented grid, and the exact way back to its own grid.

    The reorientation (``sitk.DICOMOrient``) only permutes and flips axes, so :meth:`back` gives
    the input's voxels and geometry exactly. Every step that works in LPS array order uses this.
    """

    image: sitk.Image       # the input on the LPS grid (the input itself when it already is LPS)
    original: sitk.Image    # the input as given
    orientation: str        # the input's closest orientation code, e.g. "LPS", "RAS"

    @classmethod
    def of(cls, image: sitk.Image) -> "Reoriented":
        code = sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(image.GetDirection())
        return cls(image if code == "LPS" else sitk.DICOMOrient(image, "LPS"), image, code)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Spacing (z, y, x) mm of the LPS grid."""
        return tuple(float(s) for s in self.image.GetSpacing()[::-1])  # type: ignore[return-value]

    def array(self) -> np.ndarray:
        """A (z, y, x) copy of the voxels in LPS order (a copy: it outlives this object)."""
        return sitk.GetArrayFromImage(self.image)

    def back(self, array: np.ndarray) -> sitk.Image:
        """A (z, y, x) array on the LPS grid as an image on the input's own grid (bool becomes uint8)."""
        out = sitk.GetImageFromArray(np.ascontiguousarray(array.view(np.uint8) if array.dtype == bool else array))
        out.CopyInformation(self.image)
        if self.orientation != "LPS":
            out = sitk.DICOMOrient(out, self.orientation)
        out.CopyInformation(self.original)  # only rounding differs after the exact permutation
        return out


def lps_array(image: sitk.Image) -> tuple[np.ndarray, tuple[float, float, float], Callable[[np.ndarray], sitk.Image]]:
    """(array (z, y, x) on the LPS-reoriented grid, its spacing (z, y, x) mm, ``back``): :class:`Reoriented` unpacked.

    ``back(array)`` turns a (z, y, x) array on the LPS grid into an image on ``image``'s own grid.
    """
    r = Reoriented.of(image)
    return r.array(), r.spacing, r.back
