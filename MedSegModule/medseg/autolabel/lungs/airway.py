"""Trachea and main bronchi: region growing in true air from a trachea found above or between the lungs.

The trachea is found from the top of the volume down as a round pocket of air near the midline,
1-8 cm^2 in cross-section, that is not part of a lung-sized air region in its slice, that
continues into the slice below, and that lies above the lungs or between them (bowel gas loops
are round midline tubes too, but below the lungs). From it, 3-D region growing follows the lumen through the carina into the bronchi. The threshold
is not fixed: the lumen of a real trachea reads -900..-960 HU (noise, beam hardening, the
reconstruction kernel), not -1000, so the growing sweeps the threshold up from
:data:`AIRWAY_START_HU` above the scan's room air in :data:`AIRWAY_STEP_HU` steps and keeps the last tree before an
explosion: a step whose tree more than doubles (:data:`EXPLOSION`), or passes the leak limits
(the grown volume, or a slice area no airway has), has leaked into parenchyma through a wall
the grid cannot resolve; and the sweep stops :data:`PARENCHYMA_MARGIN_HU` below the lung's own
median HU. When even the first threshold leaks (emphysema), stricter ones are tried.

The airway label is the grown tree: the trachea and the bronchi as far as the work grid (about
2 mm) resolves a lumen of true air, which is the main bronchi and the first lobar ones. Smaller
bronchi stay inside the lung mask, as in the published lung models the lung counts are compared
with (they exclude the trachea and the main bronchi).
Arrays are (z, y, x) on an LPS grid (slice index grows toward the head); spacing (z, y, x) mm.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .ops import dilate_plane

#: The threshold sweep of the region growing, in HU above the scan's room-air level (-1000 HU on a
#: calibrated scanner): start, step, and the most lenient threshold tried.
AIRWAY_START_HU, AIRWAY_STEP_HU, AIRWAY_MAX_HU = 50.0, 25.0, 150.0
#: Stricter thresholds (HU above room air), tried when the first one already leaks.
AIRWAY_STRICT_HU = (20.0, 0.0)
#: A trachea's lumen lies below this (HU above room air).
LUMEN_HU = 100.0
#: The sweep stays this far (HU) below the lung parenchyma's median: near it, the growing creeps
#: into the lung through every partial-volume wall without ever exploding.
PARENCHYMA_MARGIN_HU = 50.0
#: A step whose tree grows by more than this factor (and by more than EXPLOSION_ML) has leaked.
EXPLOSION, EXPLOSION_ML = 2.0, 40.0
#: Lumen cross-section (cm^2) a trachea can have.
TRACHEA_CM2 = (1.0, 8.0)
#: Largest distance (mm) of the trachea's centre from the body's centre column.
MIDLINE_MM = 30.0
#: A tree this big (mL), or with a slice this big (cm^2), has leaked into the lungs.
LEAK_ML, LEAK_SLICE_CM2 = 250.0, 30.0


def _beside_lungs(k: int, u: float, lung_u: dict, top: int) -> bool:
    """Is a lumen at side-coordinate ``u`` (mm) in slice ``k`` where a trachea can be?

    Above the lungs (the neck) any midline lumen can; in a slice with lung it must have lung on
    both sides of it, which keeps bowel and stomach gas below the lungs out.
    """
    if k > top:
        return True
    us = lung_u.get(k)
    return us is not None and us.size > 0 and us.min() < u < us.max()


def find_trachea(hu: np.ndarray, body: np.ndarray, spacing, axes, lungs: np.ndarray,
                 air_hu: float = -1000.0) -> tuple[int, np.ndarray] | None:
    """(slice index, 2-D seed mask) of the trachea, or None (no lungs, or a volume below the carina).

    ``hu`` is the work-grid HU (z, y, x); ``axes`` the body's :class:`~.lung_split.Axes`; ``lungs``
    the lung pieces found before the airway is taken out; ``air_hu`` the scan's room-air level. The
    search runs from the top slice down to the lowest lung slice.
    """
    if not lungs.any():
        return None
    px_cm2 = spacing[1] * spacing[2] / 100.0
    lung_slices = np.flatnonzero(lungs.any(axis=(1, 2)))
    bottom, top = int(lung_slices[0]), int(lung_slices[-1])
    lumen = (hu < air_hu + LUMEN_HU) & body
    airish = (hu < -400.0) & body
    lung_u: dict = {}
    prev = None
    for k in range(hu.shape[0] - 1, bottom - 1, -1):
        if not lumen[k].any():
            prev = None
            continue
        if bottom <= k <= top and k not in lung_u:
            yy, xx = np.nonzero(lungs[k])
            lung_u[k] = axes.u(np.full(yy.shape, k), yy, xx)
        lab, n = ndimage.label(lumen[k])
        areas = np.bincount(lab.ravel(), minlength=n + 1) * px_cm2
        wide_lab, _ = ndimage.label(airish[k])
        wide_area = np.bincount(wide_lab.ravel()) * px_cm2
        found = []
        for i in np.flatnonzero((areas >= TRACHEA_CM2[0]) & (areas <= TRACHEA_CM2[1])):
            if i == 0:
                continue
            m = lab == i
            ys, xs = np.nonzero(m)
            box = (np.ptp(ys) + 1) * (np.ptp(xs) + 1)
            u = float(axes.u(np.array([k]), np.array([ys.mean()]), np.array([xs.mean()]))[0])
            region = wide_area[np.bincount(wide_lab[m]).argmax()]
            # Round, near the midline, not a piece of lung in this slice, and where a trachea can be.
            if m.sum() / box >= 0.5 and abs(u) <= MIDLINE_MM and region <= 2.0 * TRACHEA_CM2[1] \
                    and _beside_lungs(k, u, lung_u, top):
                found.append((ys.mean(), m))
        if found and prev is not None:
            # A tube: the candidate also overlaps a candidate in the slice above.
            for _, m in sorted(found, key=lambda c: c[0]):  # most anterior first: the trachea is in front of the oesophagus
                if (m & prev).any():
                    return k, m
        prev = np.any([m for _, m in found], axis=0) if found else None
    return None


def airway_tree(hu: np.ndarray, body: np.ndarray, spacing, axes, lungs: np.ndarray,
                air_hu: float = -1000.0) -> tuple[np.ndarray, dict]:
    """The air-filled tree grown from the trachea (bool, z, y, x) and what was found.

    Arguments as for :func:`find_trachea`; an empty mask when there is no trachea.
    """
    tree = np.zeros(hu.shape, dtype=bool)
    seed = find_trachea(hu, body, spacing, axes, lungs, air_hu)
    if seed is None:
        return tree, {"trachea": None}
    k, seed2d = seed
    voxel_ml = float(np.prod(spacing)) / 1000.0
    px_cm2 = spacing[1] * spacing[2] / 100.0
    info = {"trachea_slice": int(k), "trachea_cm2": round(float(seed2d.sum() * px_cm2), 2)}

    def grow(threshold: float) -> np.ndarray | None:
        air = (hu < threshold) & body
        air[k] |= seed2d & (hu[k] < air_hu + LUMEN_HU)
        lab, _ = ndimage.label(air)
        ids = np.unique(lab[k][seed2d])
        ids = ids[ids > 0]
        return np.isin(lab, ids) if ids.size else None

    def leaked(tree_: np.ndarray) -> bool:
        return tree_.sum() * voxel_ml > LEAK_ML or tree_.sum(axis=(1, 2)).max() * px_cm2 > LEAK_SLICE_CM2

    best, best_t, sizes = None, None, []
    core = ndimage.binary_erosion(lungs)
    top = air_hu + AIRWAY_MAX_HU
    if core.any():
        top = min(top, float(np.median(hu[core])) - PARENCHYMA_MARGIN_HU)
    sweep = air_hu + np.arange(AIRWAY_START_HU, AIRWAY_MAX_HU + 0.5, AIRWAY_STEP_HU)
    sweep = sweep[sweep <= top]
    for threshold in sweep:
        grown = grow(float(threshold))
        if grown is None:
            continue
        if leaked(grown) or (best is not None and grown.sum() > EXPLOSION * best.sum()
                             and (grown.sum() - best.sum()) * voxel_ml > EXPLOSION_ML):
            break
        best, best_t = grown, float(threshold)
        sizes.append((best_t, round(float(grown.sum() * voxel_ml), 1)))
    if best is None:
        for threshold in air_hu + np.asarray(AIRWAY_STRICT_HU):
            threshold = float(threshold)
            grown = grow(threshold)
            if grown is not None and not leaked(grown):
                best, best_t = grown, threshold
                break
    if best is not None:
        info.update(threshold_hu=best_t, tree_ml=round(float(best.sum() * voxel_ml), 1), sweep_ml=sizes)
        return best, info
    # Every threshold leaked: follow the trachea upward slice by slice from the seed, where no lung is.
    info["leaked"] = True
    current = seed2d
    for j in range(k, hu.shape[0]):
        lumen = (hu[j] < air_hu + LUMEN_HU) & body[j]
        current = ndimage.binary_propagation(current & lumen, mask=lumen)
        if not current.any() or current.sum() * px_cm2 > TRACHEA_CM2[1]:
            break
        tree[j] = current
    return tree, info


def with_wall_rim(tree: np.ndarray, hu: np.ndarray, body: np.ndarray, rim_px: float = 2.0,
                  air_hu: float = -400.0) -> np.ndarray:
    """``tree`` plus the partial-volume rim of its lumen: air-ish voxels (< ``air_hu``) within ``rim_px``.

    Growing stops at "true air", so the lumen's blurred edge (-950..-400 HU) would otherwise be
    left as a thin shell of candidate lung around the trachea.
    """
    if not tree.any():
        return tree
    return tree | (dilate_plane(tree, rim_px) & (hu < air_hu) & body)
