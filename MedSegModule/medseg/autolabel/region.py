"""Labelling inside a region: named automatic thresholds, K-means, a two-sample KS test, overlap.

This is the left-ventricle seed's method: inside the outer (epicardial) contour of a bright-blood
cine MR slice, the blood pool is the bright class, so an automatic threshold of the intensities
*inside the region only* separates it from the dark myocardium. Outside the region other tissues
(fat, right-ventricle blood) would pull the threshold away, which is why every function here
takes a region mask.

Images and masks are SimpleITK images or numpy arrays in (z, y, x) order (2-D (y, x) slices work
too). A SimpleITK mask must share the image's grid: flipped/permuted grids are resampled exactly,
other grids raise :class:`~medseg.errors.GeometryError` unless ``resample=True``
(:func:`medseg.io.grid.align_labels`, the CLI's ``--resample-labels``). Results come back as the
kind that went in: a SimpleITK image on the image's grid, or a numpy array.

Intensities are whatever the image holds (HU for CT, arbitrary signal units for MR); thresholds are
returned in those units.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import SimpleITK as sitk

from ..errors import ParameterError
from ..io.atomic import atomic_output
from ..io.grid import align_labels

#: The automatic thresholds of :func:`threshold`, in the order the montage shows them.
THRESHOLD_METHODS: tuple[str, ...] = ("otsu", "li", "yen", "triangle", "mean", "isodata", "minimum")


def _threshold_function(method: str) -> Callable[[np.ndarray], float]:
    from skimage import filters

    name = str(method).lower()
    if name not in THRESHOLD_METHODS:
        raise ParameterError(f"unknown threshold method {method!r}; choose one of {', '.join(THRESHOLD_METHODS)}")
    return getattr(filters, f"threshold_{name}")


def as_array(image) -> np.ndarray:
    """A numpy view of ``image`` in (z, y, x) order (copied only when it is not an array already)."""
    return sitk.GetArrayViewFromImage(image) if isinstance(image, sitk.Image) else np.asarray(image)


def _region(image, mask, resample: bool = False, what: str = "region mask") -> np.ndarray | None:
    """``mask`` as a boolean (z, y, x) array on ``image``'s grid (None stays None: the whole image)."""
    if mask is None:
        return None
    if isinstance(mask, sitk.Image):
        if not isinstance(image, sitk.Image):
            raise ParameterError(f"the {what} is a SimpleITK image but the image is an array; give both as one kind")
        mask = align_labels(mask, image, resample=resample, what=what)
    m = as_array(mask) != 0
    shape = as_array(image).shape
    if m.shape != shape:
        raise ParameterError(f"the {what} has shape {m.shape} (z, y, x); the image has {shape}")
    return m


def _like(array: np.ndarray, image):
    """``array`` returned as ``image``'s kind: a SimpleITK image on its grid, or the array itself."""
    if isinstance(image, sitk.Image):
        out = sitk.GetImageFromArray(array)
        out.CopyInformation(image)
        return out
    return array


def region_values(image, mask=None, resample: bool = False) -> np.ndarray:
    """The 1-D float array of ``image``'s values inside ``mask`` (all values without one)."""
    values = as_array(image)
    m = _region(image, mask, resample)
    v = values[m] if m is not None else values.ravel()
    if v.size == 0:
        raise ParameterError("the region mask is empty: there are no values to threshold")
    return v.astype(np.float64, copy=False)


def threshold(image, method: str = "otsu", mask=None, resample: bool = False) -> float:
    """The ``method`` threshold (image units) of the values inside ``mask``.

    ``method`` is one of :data:`THRESHOLD_METHODS` (scikit-image's ``threshold_<method>``). Raises
    :class:`ParameterError` for an unknown method, an empty region, a constant region (no threshold
    separates one value from itself) or a histogram the method cannot split ("minimum" needs two peaks).
    """
    fn = _threshold_function(method)
    v = region_values(image, mask, resample)
    if v.min() == v.max():
        raise ParameterError(f"the region holds one value ({v.min():g}); there is nothing to threshold")
    try:
        return float(fn(v))
    except (RuntimeError, ValueError) as exc:  # e.g. threshold_minimum: "Unable to find two maxima"
        raise ParameterError(f"the {method} threshold failed on this region: {exc}") from None


def threshold_in_region(image, region_mask, method: str = "otsu", bright: bool = True,
                        fill_holes: bool = False, resample: bool = False):
    """The voxels of ``region_mask`` above (``bright``) or at/below the ``method`` threshold.

    ``fill_holes`` fills enclosed holes slice by slice (2-D, in (y, x)), for a class that should be
    solid: bright-blood MR shows papillary muscles as dark islands that manual contours include.
    Returns a uint8 0/1 mask of ``image``'s kind.
    """
    from scipy import ndimage

    region = _region(image, region_mask, resample)
    t = threshold(image, method, region)
    values = as_array(image)
    out = (values > t) if bright else (values <= t)
    out &= region
    if fill_holes:
        planes = out[None] if out.ndim == 2 else out
        for k in range(planes.shape[0]):
            planes[k] = ndimage.binary_fill_holes(planes[k]) & region.reshape(planes.shape)[k]
    return _like(out.astype(np.uint8), image)


def otsu_in_region(image, region_mask, bright: bool = True, fill_holes: bool = False, resample: bool = False):
    """Otsu's threshold of the intensities inside ``region_mask``; the bright class as a 0/1 mask.

    The seed's blood-pool method: ``region_mask`` is the outer (epicardial) contour, the result the
    bright blood pool. See :func:`threshold_in_region` for the options.
    """
    return threshold_in_region(image, region_mask, "otsu", bright=bright, fill_holes=fill_holes, resample=resample)


def kmeans_labels(image, k: int, mask=None, seed: int = 0, iterations: int = 50, resample: bool = False):
    """K-means of the intensities inside ``mask`` into ``k`` clusters: labels 1..k, 0 outside.

    Clusters are numbered by their mean intensity, ascending (1 = darkest), so the numbering means
    the same thing from run to run. ``scipy.cluster.vq.kmeans2`` starts from k-means++ seeds drawn
    with ``seed``, so a result is reproducible. Returns uint8 labels of ``image``'s kind.
    """
    from scipy.cluster.vq import kmeans2

    if not 1 <= int(k) <= 255:
        raise ParameterError(f"k must be 1..255 clusters, got {k}")
    k = int(k)
    values = as_array(image)
    m = _region(image, mask, resample)
    m = np.ones(values.shape, dtype=bool) if m is None else m
    v = values[m].astype(np.float64)
    if v.size < k:
        raise ParameterError(f"the region holds {v.size} voxels, fewer than k = {k} clusters")
    centres, member = kmeans2(v[:, None], k, iter=iterations, minit="++", seed=np.random.default_rng(seed))
    # Order by the mean of each cluster's members (an empty cluster sorts last, keeping its number).
    means = np.array([v[member == j].mean() if np.any(member == j) else np.inf for j in range(k)])
    rank = np.empty(k, dtype=np.uint8)
    rank[np.argsort(means, kind="stable")] = np.arange(1, k + 1, dtype=np.uint8)
    out = np.zeros(values.shape, dtype=np.uint8)
    out[m] = rank[member]
    return _like(out, image)


@dataclass(frozen=True)
class KSResult:
    """Two-sample Kolmogorov-Smirnov test: ``statistic`` D in [0, 1], ``pvalue``, and the sample sizes."""

    statistic: float
    pvalue: float
    n_a: int
    n_b: int

    def __iter__(self):
        """``d, p = ks_test(...)`` unpacks like scipy's result: statistic, then p-value."""
        return iter((self.statistic, self.pvalue))


def ks_test(image, mask_a, mask_b, resample: bool = False) -> KSResult:
    """Do the intensities inside ``mask_a`` and ``mask_b`` come from one distribution? (``scipy.stats.ks_2samp``)

    A small p-value says the two regions' intensity distributions differ. The test assumes
    independent samples; neighbouring voxels are correlated by the scanner's blur, so p-values
    between large regions are optimistic and a threshold like p < 1e-6 suits "clearly different".
    Thousands of voxels make it sensitive: two *spatial* halves of one tissue (left/right) often
    differ through the coil's bias field, while interleaved halves do not.
    """
    from scipy.stats import ks_2samp

    a = region_values(image, mask_a, resample)
    b = region_values(image, mask_b, resample)
    res = ks_2samp(a, b)
    return KSResult(float(res.statistic), float(res.pvalue), int(a.size), int(b.size))


def region_from_labels(image: sitk.Image, labels, values: Iterable[int] | None = None,
                       resample: bool = False) -> sitk.Image:
    """A 0/1 region mask on ``image``'s grid from a label image or label file and the label ``values`` to keep.

    ``labels`` is a path (.nrrd, .seg.nrrd, .nii.gz, .mha) or a SimpleITK image; ``values`` None means
    every non-zero value. A label grid that truly differs from the image's raises GeometryError
    unless ``resample`` (``--resample-labels``).
    """
    if not isinstance(labels, sitk.Image):
        from ..io import read_label_image

        labels, _ = read_label_image(labels)
    labels = align_labels(labels, image, resample=resample, what="labels")
    arr = sitk.GetArrayViewFromImage(labels)
    m = arr != 0 if values is None else np.isin(arr, list(values))
    return _like(m.astype(np.uint8), image)


__all__ = ["THRESHOLD_METHODS", "KSResult", "kmeans_labels", "ks_test", "otsu_in_region",
           "region_from_labels", "region_values", "threshold", "threshold_in_region"]
