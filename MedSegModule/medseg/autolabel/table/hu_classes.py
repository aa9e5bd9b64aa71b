"""HU classes of a CT volume: room air, K-means clusters, the air/tissue threshold, and foam.

The headrest seed clusters HU inside the field of view with K-means (k = 3-4). Room air holds
most of a CT's voxels, so clustering all of them spends two clusters on air; the clusters are
found above the room-air peak instead, where foam/lung, fat, soft tissue and bone separate.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ...labels import AIR_HU
from ..morphology import IN_PLANE_Z, dilate, erode

#: Cluster centres below this are air-like (foam, lung, pads); above it, tissue or denser (HU).
AIR_LIKE_HU = -400.0
#: Bounds on the air / tissue threshold, whatever the clusters say (HU).
THRESHOLD_BOUNDS_HU = (-700.0, -300.0)
#: Foam components at least this large (mL) are objects even when no dense shell touches them.
FOAM_MIN_ML = 10.0
#: Voxels at or below this (HU) are candidates for the room-air level.
ROOM_AIR_MAX_HU = -900.0


def _sample(values: np.ndarray, most: int) -> np.ndarray:
    """A regular sample of at most about ``most`` values (deterministic; enough for HU statistics)."""
    v = np.asarray(values).ravel()
    return v[:: max(1, v.size // most)]


def air_level(hu: np.ndarray) -> tuple[float, float]:
    """(median, sigma) in HU of room air: voxels at or below -900 HU, out-of-field ones left out.

    Sigma is 1.4826 x the median absolute deviation, the noise sigma for Gaussian noise; the
    median ignores the tail of foam and lung that also lies below -900 HU.
    """
    v = _sample(hu, 2_000_000)
    v = v[(v <= ROOM_AIR_MAX_HU) & (v > AIR_HU)]
    if v.size < 100:
        return -1000.0, 10.0
    med = float(np.median(v))
    return med, max(float(1.4826 * np.median(np.abs(v - med))), 1.0)


def kmeans_hu(hu: np.ndarray, k: int = 4, above: float | None = None, iterations: int = 50) -> np.ndarray:
    """K-means (Lloyd) of the HU values above ``above`` (all in-field voxels if None); k centres, ascending.

    Runs on the 1-HU histogram weighted by the counts, so it is exact over the sample, needs no
    random start (centres start at evenly spaced quantiles) and costs milliseconds.
    Out-of-field voxels (exactly ``AIR_HU``) are left out. scikit-learn is not a dependency and
    scipy's ``kmeans2`` takes no weights, hence this small version.
    """
    lo, hi = AIR_HU, 3071
    v = _sample(hu, 4_000_000)
    counts = np.bincount((np.clip(np.rint(v), lo, hi) - lo).astype(np.int64), minlength=hi - lo + 1)
    values = np.arange(lo, hi + 1, dtype=np.float64)
    counts[0] = 0  # exactly AIR_HU: padding / out of field, not a measurement
    if above is not None:
        counts[values <= above] = 0
    total = counts.sum()
    if total == 0:
        return np.linspace(-800.0, 1000.0, k)
    cdf = np.cumsum(counts) / total
    centres = values[np.minimum(np.searchsorted(cdf, (np.arange(k) + 0.5) / k), values.size - 1)]
    for _ in range(iterations):
        member = np.searchsorted((centres[1:] + centres[:-1]) / 2, values)
        w = np.bincount(member, weights=counts, minlength=k)
        s = np.bincount(member, weights=counts * values, minlength=k)
        new = np.sort(np.where(w > 0, s / np.maximum(w, 1), centres))
        if np.allclose(new, centres, atol=0.01):
            break
        centres = new
    return centres


def air_threshold(centres: np.ndarray, air: float = -1000.0) -> float:
    """HU between air and tissue: midway from the densest air-like class to the first tissue class.

    Air-like classes are room air (``air``) and clusters below -400 HU (foam, lung, pads): taking
    the boundary next to the first tissue cluster keeps them all on the air side. Clamped to
    :data:`THRESHOLD_BOUNDS_HU`.
    """
    centres = np.asarray(centres, dtype=float)
    airish = np.append(centres[centres < AIR_LIKE_HU], air)
    tissue = centres[centres >= AIR_LIKE_HU]
    t = tissue.min() if tissue.size else 0.0
    return float(np.clip((airish.max() + t) / 2, *THRESHOLD_BOUNDS_HU))


def foam_level(air: tuple[float, float]) -> float:
    """HU above which a voxel is denser than room air (foam, pads): max(4 sigma, 40) HU above its median."""
    return air[0] + max(4.0 * air[1], 40.0)


def foam_objects(hu: np.ndarray, objects: np.ndarray, body: np.ndarray, threshold: float,
                 air: tuple[float, float], spacing, min_ml: float = FOAM_MIN_ML) -> np.ndarray:
    """Foam-like voxels (denser than room air, below the air threshold) that belong to objects.

    Table and headrest foam (about -950 to -700 HU) lies between and inside carbon shells and is
    part of the object though it is below the air threshold; so are pads, vacuum cushions and
    blankets. Foam is told from room air by HU (more than max(4 sigma, 40) HU above the air level
    ``air`` = (median, sigma)); a foam component is kept when it touches an object or holds at
    least ``min_ml`` mL (a table whose thin shells blurred below the threshold). The body and a
    two-voxel ring around it (in-plane) are left out, so lungs, bowel gas and the skin's
    partial-volume edge never count. Real foam is only a few tens of HU above room air, so its
    voxels straddle the level: a one-voxel in-plane closing then opening turns the speckle into
    solid foam and drops single-voxel strands (blanket fibres, noise in the air).
    """
    near_body = dilate(body, 2.0, (IN_PLANE_Z, 1.0, 1.0))
    disc = (IN_PLANE_Z, 1.0, 1.0)
    candidate = (hu > foam_level(air)) & (hu <= threshold)
    candidate = erode(dilate(candidate, 1.0, disc), 1.0, disc)  # closing: fill the speckle
    candidate = dilate(erode(candidate, 1.0, disc), 1.0, disc) & ~near_body  # opening: drop strands
    lab, n = ndimage.label(candidate, structure=np.ones((3, 3, 3), dtype=bool))
    if n == 0:
        return np.zeros_like(objects)
    keep = np.bincount(lab.ravel(), minlength=n + 1) * (float(np.prod(spacing)) / 1000.0) >= min_ml
    keep[np.unique(lab[dilate(objects, 1.0, (1.0, 1.0, 1.0)) & candidate])] = True
    keep[0] = False
    return keep[lab]


#: Faint objects (full resolution): a voxel this many noise sigmas above room air (and above
#: FAINT_FLOOR_HU) outside the body, in a component of at least FAINT_MIN_ML, is part of an object.
FAINT_SIGMA, FAINT_FLOOR_HU, FAINT_MIN_ML = 8.0, -850.0, 2.0
#: An object's blurred edge voxel above this (HU, half-way from air to a shell) is the object's.
OBJECT_EDGE_HU = -500.0
#: Margin (mm, in-plane; at least 1.5 voxels) around the body left out: the skin's own blur halo.
FAINT_BODY_MARGIN_MM = 3.0


def faint_objects(hu: np.ndarray, body: np.ndarray, objects: np.ndarray, air: tuple[float, float],
                  spacing) -> np.ndarray:
    """Sheets outside the body too thin to reach the air threshold, even at full resolution.

    A couch top's two skins, 1 mm of board over foam, read -650 HU at their peak: far below any
    air/tissue threshold, yet they are plainly a couch, wall to wall. On the full grid ``hu``
    (z, y, x; ``body`` on it; spacing mm), a voxel is faint object when it is above room air by
    :data:`FAINT_SIGMA` noise sigmas (measured at full resolution) and above
    :data:`FAINT_FLOOR_HU`, outside the body and the objects already found and their
    :data:`FAINT_BODY_MARGIN_MM` halo (the blur of their edges is no object), in a 26-connected
    component of at least :data:`FAINT_MIN_ML`: noise in the air never forms one. The objects'
    edge voxels above :data:`OBJECT_EDGE_HU` (one voxel in-plane, away from the body) are added.
    """
    v = _sample(hu[~body], 2_000_000)
    v = v[(v > AIR_HU) & (np.abs(v - air[0]) < 200.0)]
    if v.size < 100:
        return np.zeros_like(body)
    sigma = max(float(1.4826 * np.median(np.abs(v - np.median(v)))), 1.0)
    level = max(float(np.median(v)) + FAINT_SIGMA * sigma, FAINT_FLOOR_HU)
    margin = max(FAINT_BODY_MARGIN_MM, 1.5 * max(float(spacing[1]), float(spacing[2])))  # at least a voxel
    halo = dilate(body | objects, margin, (IN_PLANE_Z, float(spacing[1]), float(spacing[2])))
    candidate = (hu > level) & ~halo
    lab, n = ndimage.label(candidate, structure=np.ones((3, 3, 3), dtype=bool))
    faint = np.zeros_like(body)
    if n:
        keep = np.bincount(lab.ravel(), minlength=n + 1) * (float(np.prod(spacing)) / 1000.0) >= FAINT_MIN_ML
        keep[0] = False
        faint = keep[lab]
    # The edge of a thin shell: its blurred voxels that are still mostly shell (above half-way from
    # air to a shell's tissue-like HU) belong to it; the redraw at the tissue threshold left them out.
    body_halo = dilate(body, margin, (IN_PLANE_Z, float(spacing[1]), float(spacing[2])))
    edge = dilate(objects, 1.0, (IN_PLANE_Z, 1.0, 1.0)) & ~objects & (hu > OBJECT_EDGE_HU) & ~body_halo
    return faint | edge
