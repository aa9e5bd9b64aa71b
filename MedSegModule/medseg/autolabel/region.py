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
from ..measure import metrics

#: The automatic thresholds of :func:`threshold`, in the order the montage shows them.
THRESHOLD_METHODS: tuple[str, ...] = ("otsu", "li", "yen", "triangle", "mean", "isodata", "minimum")


def _threshold_function(method: str) -> Callable[[np.ndarray], float]:
    from skimage import filters

    name = str(method).lower()
    if name not in THRESHOLD_METHODS:
        raise ParameterError(f"unknown threshold method {method!r}; choose one of {', '.join(THRESHOLD_METHODS)}")
    return getattr(filters, f"threshold_{name}")


def _array(image) -> np.ndarray:
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
    m = _array(mask) != 0
    shape = _array(image).shape
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
    values = _array(image)
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
    values = _array(image)
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
    values = _array(image)
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


def overlap(mask, reference, resample: bool = False) -> dict[str, float]:
    """Dice and IoU of ``mask`` against ``reference`` (non-zero = inside), via :mod:`medseg.measure.metrics`.

    SimpleITK inputs: ``reference`` is put on ``mask``'s grid first (flips/permutations exactly;
    another grid raises GeometryError unless ``resample``).
    """
    if isinstance(mask, sitk.Image) and isinstance(reference, sitk.Image):
        reference = align_labels(reference, mask, resample=resample, what="reference")
    p, r = _array(mask) != 0, _array(reference) != 0
    return {"dice": metrics.dice(p, r), "iou": metrics.iou(p, r)}


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


def threshold_montage(image_slice, path: str | os.PathLike, mask=None, *, reference=None,
                      methods: Sequence[str] = THRESHOLD_METHODS, bright: bool = True, crop: bool = True,
                      margin: int = 8, title: str | None = None, aspect: float = 1.0,
                      inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """A PNG grid comparing the automatic thresholds on one 2-D (y, x) slice, like skimage's try_all_threshold.

    The first panel is the slice (with ``mask``'s outline); each other panel shows one method's
    class (``bright``: above the threshold; white) inside ``mask`` (grey), titled with the threshold
    and, with a ``reference`` (y, x) mask, outlined in red and scored by Dice. ``crop`` zooms to the mask's bounding box plus
    ``margin`` pixels. ``aspect`` is row spacing / column spacing. A method that fails says so in
    its panel. Returns the path written (atomically).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img = np.asarray(_array(image_slice), dtype=np.float64)
    if img.ndim != 2:
        raise ParameterError(f"threshold_montage takes one 2-D (y, x) slice, got shape {img.shape}")
    m = np.ones(img.shape, dtype=bool) if mask is None else (np.asarray(_array(mask)) != 0)
    ref = None if reference is None else np.asarray(_array(reference)) != 0
    window = (slice(None), slice(None))
    if crop and mask is not None and m.any():
        rows, cols = np.nonzero(m)
        window = (slice(max(rows.min() - margin, 0), rows.max() + margin + 1),
                  slice(max(cols.min() - margin, 0), cols.max() + margin + 1))
    shown = img[window]
    lo, hi = np.percentile(img[m] if m.any() else img, [0.5, 99.5])
    lo, hi = min(lo, hi - 1.0), hi  # a constant region still gets a drawable window
    panels = 1 + len(methods)
    cols = 4
    rows_n = (panels + cols - 1) // cols
    # Each row: the panel's height at 3 inches wide, plus room for a two-line title.
    row_h = 3.0 * aspect * shown.shape[0] / shown.shape[1] + 0.6
    fig, axes = plt.subplots(rows_n, cols, figsize=(3.0 * cols, row_h * rows_n + (0.4 if title else 0.0)),
                             squeeze=False, layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 0].imshow(shown, cmap="gray", vmin=lo, vmax=hi, aspect=aspect, interpolation="nearest")
    if mask is not None:
        axes[0, 0].contour(m[window], levels=[0.5], colors="yellow", linewidths=0.8)
    axes[0, 0].set_title("original (region outlined)" if mask is not None else "original", fontsize=9)
    for ax, method in zip(axes.ravel()[1:], methods):
        try:
            t = threshold(img, method, m)
        except ParameterError as exc:
            ax.set_title(f"{method}: failed", fontsize=9)
            ax.text(0.5, 0.5, str(exc)[:60], ha="center", va="center", fontsize=6, wrap=True, transform=ax.transAxes)
            continue
        cls = ((img > t) if bright else (img <= t)) & m
        # Grey = the region, white = the chosen class, black = outside the region.
        display = np.where(cls, 1.0, np.where(m, 0.35, 0.0))
        ax.imshow(display[window], cmap="gray", vmin=0, vmax=1, aspect=aspect, interpolation="nearest")
        label = f"{method}: t = {t:.4g}"
        if ref is not None:
            ax.contour(ref[window], levels=[0.5], colors="red", linewidths=0.8)
            label += f"\nDice {metrics.dice(cls, ref):.3f}"
        ax.set_title(label, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    with atomic_output(path, inputs) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)


__all__ = ["THRESHOLD_METHODS", "KSResult", "kmeans_labels", "ks_test", "otsu_in_region", "overlap",
           "region_from_labels", "region_values", "threshold", "threshold_in_region", "threshold_montage"]
