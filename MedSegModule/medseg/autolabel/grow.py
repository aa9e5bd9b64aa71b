"""Grow from seeds (semi-automatic): seed segments painted on a few slices grow into a full label map.

The steps follow Slicer's Segment Editor "Grow from seeds" effect, then the tutorial's clean-up:

1. the region: the seeds' bounding box grown by 20 % of its size on each side (50 % when an
   intensity range masks voxels, since then no background seed surrounds the object), at least
   3 voxels, clipped to the image, as Slicer's auto-complete effects do;
2. the editable intensity range: voxels outside ``hu_range`` neither get a label nor pass one on
   (Slicer's masking); seed voxels always take part;
3. fast grow-cut (:mod:`.grow_engine`): every voxel reached takes the label of the seed with the
   cheapest path (sum of absolute intensity steps, plus ``locality`` per mm: Slicer's "seed locality");
4. smoothing: ``closing`` fills holes and gaps of each label (Slicer's Smoothing "Closing"), and
   ``median`` adds, after the closing, a majority vote among the labels in a box of the same size
   (Slicer's "Median"); either only takes voxels that are free and inside the range;
5. seeds win: every seed voxel keeps its label, so painting more seeds and running again refines
   the result where it was wrong.

Arrays are (z, y, x) on the image's own grid with spacing (z, y, x) in mm; no reorientation is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..errors import ParameterError
from ..progress import CancelEvent, Progress, check_cancel, report, sub_progress
from .grow_engine import Engine, itk_grow_cut

SMOOTHING = ("closing", "median", "none")
#: Slicer's auto-complete margins: share of the seeds' extent added on each side, and the least voxels.
MARGIN_RATIO, MARGIN_RATIO_MASKED, MARGIN_MIN = 0.2, 0.5, 3
#: uint8 labels inside the engine: at most this many seed segments.
MAX_SEGMENTS = 255


@dataclass
class Grown:
    """The result of :func:`grow_from_seeds`: ``labels`` (z, y, x) with the seeds' own values, 0 elsewhere,
    and ``stats`` (region, voxels per value, seconds per stage)."""

    labels: np.ndarray
    stats: dict = field(default_factory=dict)


def parse_range(text: str | None) -> tuple[float, float] | None:
    """``"LO,HI"`` (HU) as a pair with LO < HI; None stays None. Bad text is a :class:`ParameterError`."""
    if text is None or str(text).strip() == "":
        return None
    try:
        lo, hi = (float(v) for v in str(text).split(","))
    except ValueError:
        raise ParameterError(f"--range takes LO,HI in HU, such as -1024,200 (got {text!r})") from None
    if not lo < hi:
        raise ParameterError(f"--range needs LO < HI (got {lo:g},{hi:g})")
    return lo, hi


def seed_values(seeds: np.ndarray) -> list[int]:
    """The seed segments' label values, checked: two or more, at most :data:`MAX_SEGMENTS`."""
    values = [int(v) for v in (np.flatnonzero(np.bincount(seeds.ravel())) if seeds.dtype.kind == "u" else np.unique(seeds))
              if v != 0]
    if len(values) < 2:
        raise ParameterError(f"grow from seeds needs seeds of two or more segments (found {len(values)}); "
                             "paint a background segment around the structure too")
    if len(values) > MAX_SEGMENTS:
        raise ParameterError(f"grow from seeds takes at most {MAX_SEGMENTS} seed segments (found {len(values)})")
    return values


def region_box(seeds: np.ndarray, masked: bool) -> tuple[slice, slice, slice]:
    """The work region (see the module's docstring, step 1) as (z, y, x) slices."""
    nz = np.nonzero(seeds)
    box = []
    for axis, n in zip(nz, seeds.shape):
        lo, hi = int(axis.min()), int(axis.max())
        grow = max(MARGIN_MIN, int((MARGIN_RATIO_MASKED if masked else MARGIN_RATIO) * (hi - lo)))
        box.append(slice(max(0, lo - grow), min(n, hi + grow + 1)))
    return tuple(box)  # type: ignore[return-value]


def box_size(spacing, kernel_mm: float) -> tuple[int, int, int]:
    """Odd box sizes (z, y, x) in voxels for a ``kernel_mm`` box, as Slicer's Smoothing effect rounds them:
    ``round((kernel / spacing + 1) / 2) * 2 - 1``, at least 1 (a kernel under 2 voxels smooths nothing)."""
    return tuple(max(1, int(round((kernel_mm / float(s) + 1) / 2.0)) * 2 - 1)  # type: ignore[return-value]
                 for s in spacing)


def _values(labels: np.ndarray) -> list[int]:
    """The nonzero values present (a count per value: far quicker than ``np.unique``'s sort at 78 Mvoxels)."""
    return [int(v) for v in np.flatnonzero(np.bincount(labels.ravel())) if v]


def _closing(labels: np.ndarray, free: np.ndarray, size, cancel: CancelEvent) -> np.ndarray:
    """Each label closed with a box of ``size``, on a label map where every voxel already has an owner.

    The closing of a label takes a voxel only when its present owner is too thin there to survive
    an opening by the same box (a hole, a gap, a stray voxel of another label) and the voxel is
    ``free`` (inside the editable range): the shared border of two large labels does not move.
    """
    def dilate(m):
        return ndimage.maximum_filter(m, size=size, mode="nearest")

    def erode(m):
        return ndimage.minimum_filter(m, size=size, mode="nearest")

    values = _values(labels)
    solid = np.zeros(labels.shape, bool)
    for value in values:
        check_cancel(cancel)
        solid |= dilate(erode((labels == value).view(np.uint8))).view(bool) & (labels == value)
    out = labels.copy()
    for value in values:
        check_cancel(cancel)
        closed = erode(dilate((labels == value).view(np.uint8))).view(bool)
        out[closed & ~solid & free & (out == labels)] = value
    return out


def _median(labels: np.ndarray, size, cancel: CancelEvent) -> np.ndarray:
    """Majority vote of the labels (background included) in a box of ``size``: a median for label maps."""
    best = np.full(labels.shape, -1.0, dtype=np.float32)
    out = np.zeros_like(labels)
    for value in [0] + _values(labels):
        check_cancel(cancel)
        share = ndimage.uniform_filter((labels == value).astype(np.float32), size=size, mode="nearest")
        win = share > best + 1e-6  # ties keep the lower value: background first
        out[win], best[win] = value, share[win]
    return out


def smooth_labels(labels: np.ndarray, method: str, spacing, kernel_mm: float = 3.0,
                  allowed: np.ndarray | None = None, cancel: CancelEvent = None) -> np.ndarray:
    """``closing``, ``median`` (closing, then the majority vote) or ``none`` on a (z, y, x) label map.

    ``allowed`` marks the voxels a label may spread into (the intensity range; default all);
    ``kernel_mm`` is the box's edge in mm.
    """
    if method not in SMOOTHING:
        raise ParameterError(f"--smooth must be one of {', '.join(SMOOTHING)}, got {method!r}")
    if method == "none":
        return labels
    if kernel_mm <= 0:
        raise ParameterError(f"the smoothing kernel must be > 0 mm, got {kernel_mm:g}")
    size = box_size(spacing, kernel_mm)
    free = np.ones(labels.shape, bool) if allowed is None else allowed
    out = _closing(labels, free, size, cancel)
    if method == "median":
        out = _median(out, size, cancel)
        out[~free & (out != labels)] = 0  # the vote never moves a label onto a voxel outside the range
    return out


def grow_from_seeds(intensity: np.ndarray, seeds: np.ndarray, spacing, hu_range: tuple[float, float] | None = None,
                    smooth: str = "closing", kernel_mm: float = 3.0, locality: float = 0.0,
                    whole_image: bool = False, engine: Engine | None = None, progress: Progress | None = None,
                    cancel: CancelEvent = None) -> Grown:
    """Grow ``seeds`` (z, y, x integer labels, 0 = none) over ``intensity`` (HU, same grid).

    ``spacing``: (z, y, x) mm. ``hu_range``: (lo, hi) HU, the editable range (None: everywhere).
    ``smooth``: ``closing`` | ``median`` | ``none`` with a ``kernel_mm`` box. ``locality``: Slicer's
    seed locality (HU per mm of path, >= 0). ``whole_image``: grow over the whole grid instead of the
    region around the seeds. ``engine``: the grow-cut (default ITK's, :func:`.grow_engine.itk_grow_cut`).
    Returns :class:`Grown` with labels of the seeds' dtype and values.
    """
    import time

    if intensity.shape != seeds.shape:
        raise ParameterError(f"image {intensity.shape} and seeds {seeds.shape} differ in shape (z, y, x)")
    if locality < 0:
        raise ParameterError(f"seed locality must be >= 0, got {locality:g}")
    if smooth not in SMOOTHING:
        raise ParameterError(f"--smooth must be one of {', '.join(SMOOTHING)}, got {smooth!r}")
    values = seed_values(seeds)
    engine = engine or itk_grow_cut
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    box = tuple(slice(0, n) for n in seeds.shape) if whole_image else region_box(seeds, hu_range is not None)
    report(progress, 0.02, "region " + "x".join(str(s.stop - s.start) for s in box[::-1]))
    sub_seeds = seeds[box]
    codes = np.zeros(sub_seeds.shape, np.uint8)
    for code, value in enumerate(values, start=1):
        codes[sub_seeds == value] = code
    grey = intensity[box]
    if np.issubdtype(grey.dtype, np.integer) and grey.min(initial=0) >= -32768 and grey.max(initial=0) <= 32767:
        grey = grey.astype(np.int16, copy=False)
    else:
        grey = grey.astype(np.float32, copy=False)
    allowed = None
    if hu_range is not None:
        allowed = ((grey >= hu_range[0]) & (grey <= hu_range[1])) | (codes > 0)
    # FastGrowCut never grows from a voxel on the array's border: pad by one masked voxel.
    pad = ((1, 1),) * 3
    padded_mask = np.pad(~allowed if allowed is not None else np.zeros(codes.shape, bool), pad, constant_values=True)
    seconds["prepare"] = time.perf_counter() - t0
    check_cancel(cancel)
    t0 = time.perf_counter()
    grown = engine(np.pad(grey, pad, mode="edge"), np.pad(codes, pad), padded_mask, spacing, locality,
                   progress=sub_progress(progress, 0.05, 0.85), cancel=cancel)[1:-1, 1:-1, 1:-1]
    seconds["grow_cut"] = time.perf_counter() - t0
    check_cancel(cancel)
    t0 = time.perf_counter()
    report(progress, 0.87, f"smoothing ({smooth})")
    grown = smooth_labels(grown, smooth, spacing, kernel_mm, allowed, cancel)
    grown[codes > 0] = codes[codes > 0]  # seeds win
    seconds["smooth"] = time.perf_counter() - t0
    lut = np.zeros(len(values) + 1, dtype=seeds.dtype)
    lut[1:] = values
    labels = np.zeros(seeds.shape, dtype=seeds.dtype)
    labels[box] = lut[grown]
    voxels = np.bincount(grown.ravel(), minlength=len(values) + 1)
    stats = {"region_zyx": [[s.start, s.stop] for s in box], "region_voxels": int(grown.size),
             "voxels": {v: int(n) for v, n in zip(values, voxels[1:])}, "unlabelled_in_region": int(voxels[0]),
             "range_hu": list(hu_range) if hu_range else None, "smooth": smooth, "kernel_mm": kernel_mm,
             "kernel_voxels_zyx": list(box_size(spacing, kernel_mm)), "locality": locality,
             "seconds": {k: round(v, 3) for k, v in seconds.items()}}
    report(progress, 1.0, f"grown: {len(values)} segments")
    return Grown(labels, stats)
