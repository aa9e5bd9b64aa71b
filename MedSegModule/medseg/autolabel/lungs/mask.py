"""Anatomical lung mask: air-filled volumes inside the body, without airway, bowel or stomach gas.

Method (on the LPS work grid of about 2 mm pixels, see :mod:`.ops`):

1. Candidates: voxels below :data:`LUNG_MAX_HU` inside the body mask; outside air is not in
   the body, so it never becomes a candidate.
2. The trachea and bronchi are grown from a trachea seed (:mod:`.airway`) and taken out first,
   so they neither join the two lungs nor count as lung.
3. Each 3-D connected candidate is classified by its HU texture. Lung parenchyma is -950..-600
   HU with vessels in it; bowel and stomach gas is near -1000 HU with nothing inside. A piece
   whose core (the piece eroded by one pixel, so partial-volume edges do not count) is mostly
   below :data:`GAS_HU` is gas, unless vessels (holes in its slices) say it is emphysematous lung.
   Pieces under :data:`MIN_ML` count only when they lie within the closing reach of a lung,
   which drops the small air pockets of skin folds and bowel; pieces that touch the outside of
   the body over a part of themselves (air between an arm and the chest) are never lung.
4. The thorax must explain each piece (:func:`_thoracic`): the lungs are the pieces the airway
   reaches (or, below the carina, those the field of view cuts at the top), and any other piece
   must lie against them along most of itself. Colon gas with stool passes every texture test;
   it fails this one, as the diaphragm lies between it and the lung.
5. Right and left (:mod:`.split`), then per side an in-plane closing of :data:`CLOSE_MM` and
   hole filling, so vessels, the hilum's edge and pleural nodules are inside; a hole that is the
   top of the diaphragm's dome (liver or spleen below it, :func:`.morphology.fill_holes_except_domes`)
   is not.
6. At full resolution only the boundary band is redrawn: a voxel there is lung when it is
   mostly lung by partial volume, below the edge HU between the wall and the lung next to it
   (:func:`_edge_map`), whatever the voxel size; the faces across slices (over the diaphragm's
   dome, at the apex) are peeled by the same rule (:func:`_peel_slice_faces`). So the volume
   does not change with the grid, and the outermost layer is lung, not pleura and chest wall.

Everything is per connected piece and in-plane, so it works on a 2-slice volume and on partial
lungs (lung bases at the top of an abdomen) as it does on a whole chest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ...labels import AIR_HU, LUNG, SPLIT_LUNG_LEFT, SPLIT_LUNG_RIGHT
from ...progress import CancelEvent, Progress, check_cancel, report
from . import ops as lo
from .. import morphology as mo
from .airway import airway_tree, with_wall_rim
from .split import body_axes, split_lungs

#: Candidate air (HU, work grid): lung parenchyma is below it, soft tissue above.
LUNG_MAX_HU = -400.0
#: "True gas" (HU): a core mostly below it is bowel or stomach gas.
GAS_HU = -950.0
#: Room air of a calibrated scanner (HU); GAS_HU and the airway's thresholds move with a scan's own
#: room-air level (some read -925), read outside the body between these bounds.
CALIBRATED_AIR_HU, ROOM_AIR_BOUNDS_HU = -1000.0, (-1050.0, -880.0)
#: Fraction of a piece's core below GAS_HU above which it is gas (with vessels: GAS_FRACTION_VESSELS).
GAS_FRACTION, GAS_FRACTION_VESSELS = 0.25, 0.5
#: Fraction of a piece's slices' area that is enclosed holes (vessels) for it to count as textured.
VESSEL_FRACTION = 0.02
#: Dense lung (work grid): dependent lung denser than the candidates but still below the edge HU joins
#: a lung it touches within DENSE_MM; gravity makes the lowest (posterior) centimetre of lung dense.
DENSE_MM = 15.0
#: A piece with at least this fraction of its voxels touching non-body voxels is trapped outside air.
OUTSIDE_FRACTION = 0.01
#: Smallest volume (mL) of a lung piece that stands on its own; smaller ones must touch a lung's reach.
MIN_ML = 1.0
#: In-plane reach (work px) of the airway tree, beyond its wall rim, that a main lung touches.
AIRWAY_REACH_PX = 4.0
#: Least volume (mL) of a piece that is a lung without the airway or the field of view's top to
#: say so (a whole lung whose trachea was not found); the air of a pharynx or sinus is far less.
LUNG_ALONE_ML = 100.0
#: A piece at least this fraction of the largest main lung piece is a lung on its own.
MAIN_FRACTION = 0.2
#: In-plane reach (mm), one slice up or down, at which a piece is attached to a main lung, and the
#: share of the piece that must lie within it: a lung base cut off by partial volume lies under the
#: lung along all of itself; a colon loop under the diaphragm touches it along one side.
ATTACH_MM, ATTACH_SHARE = 4.0, 0.5
#: In-plane closing radius (mm) per side: vessels at the edge, the hilum's rim, pleural nodules.
CLOSE_MM = 10.0
#: Bounds (HU) of the edge threshold, whatever the lung and wall levels say.
EDGE_BOUNDS_HU = (-550.0, -200.0)
#: Rings (work px) inside and outside a lung's border where the lung and wall levels are read, and
#: the in-plane reach (mm) of the local lung level.
EDGE_RING_PX, EDGE_LOCAL_MM = (1, 3), 10.0
#: Share of lung (by HU, from the wall level to the lung level) at which a border voxel is lung.
#: Just under half: the published lung model's counts on ct-chest-2 lie there (a half share puts
#: them 3.6 % and 4.7 % lower), and the outermost layer stays mostly air (-620 HU on ct-chest-141
#: at 2 mm, -654 HU at 3 mm; the -200 HU edge used before gave -361 HU).
EDGE_LUNG_SHARE = 0.45
#: Edge (HU) of the airway lumen against its wall (half-way between air and soft tissue) and,
#: inside a lung, against parenchyma (half-way between -1000 and -850).
AIRWAY_WALL_HU, AIRWAY_EDGE_HU = -480.0, -925.0


@dataclass
class LungSegmentation:
    """Masks on the LPS-oriented input grid (bool, z, y, x) and what the method found.

    ``body`` is the body mask used; when the step made its own, it is drawn at full resolution
    only when asked for (most callers never need it).
    """

    right: np.ndarray
    left: np.ndarray
    airway: np.ndarray
    body_low: np.ndarray
    factor: int
    stats: dict = field(default_factory=dict)
    given_body: np.ndarray | None = None

    @property
    def lungs(self) -> np.ndarray:
        return self.right | self.left

    @property
    def body(self) -> np.ndarray:
        if self.given_body is None:
            self.given_body = mo.block_up(self.body_low, self.factor, self.right.shape)
        return self.given_body

    def labels(self, split: bool = False) -> np.ndarray:
        """uint8 map in the `medseg lungs` convention: 1 = lung, or with ``split`` 1 = right, 2 = left."""
        # Arithmetic on the 0/1 views: much faster than boolean-index assignment on a big grid.
        r, l_ = self.right.view(np.uint8), self.left.view(np.uint8)
        if split:
            return r * np.uint8(SPLIT_LUNG_RIGHT.value) + l_ * np.uint8(SPLIT_LUNG_LEFT.value)
        return (r | l_) * np.uint8(LUNG.value)


def _room_air(low: np.ndarray, body: np.ndarray) -> float:
    """The scan's room-air level (HU): the median of the air outside the body (padding left out)."""
    v = low[::2, ::2, ::2][~body[::2, ::2, ::2]]
    v = v[(v < -800.0) & (v > AIR_HU + 0.5)]
    if v.size < 100:
        return CALIBRATED_AIR_HU
    return float(np.clip(np.median(v), *ROOM_AIR_BOUNDS_HU))


def _component_features(cand: np.ndarray, low: np.ndarray, lab: np.ndarray, n: int,
                        gas_hu: float = GAS_HU) -> dict[str, np.ndarray]:
    """Per-piece size, core size, gas fraction of the core, and enclosed-hole fraction (index = label).

    The hole fraction (vessels) is only needed, and only computed, when a piece's gas fraction is
    ambiguous; it is NaN otherwise.
    """
    size = np.bincount(lab.ravel(), minlength=n + 1)
    core = ndimage.binary_erosion(cand, lo.CROSS_2D)
    core_lab = lab[core]
    core_n = np.bincount(core_lab, minlength=n + 1)
    gas_n = np.bincount(core_lab[low[core] < gas_hu], minlength=n + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        gas = np.where(core_n > 0, gas_n / np.maximum(core_n, 1), np.nan)
    holes = np.full(n + 1, np.nan)
    if np.any((gas >= GAS_FRACTION) & (gas < GAS_FRACTION_VESSELS)):
        # Label the hole-filled candidates; each piece lies in one filled region.
        filled = mo.fill_holes_per_slice(cand)
        flab, fn = ndimage.label(filled)
        f_size = np.bincount(flab.ravel(), minlength=fn + 1)
        f_cand = np.bincount(flab[cand], minlength=fn + 1)
        owner = np.zeros(n + 1, dtype=np.int64)
        owner[lab[cand]] = flab[cand]
        holes = ((f_size - f_cand) / np.maximum(f_size, 1))[owner]
    return {"size": size, "core": core_n, "gas": gas, "holes": holes}


def _select(cand, low, body, spacing_low, cancel, gas_hu: float = GAS_HU) -> tuple[np.ndarray, list[dict]]:
    """The lung pieces among the candidates, and a summary of the largest pieces for reports.

    ``gas_hu``: :data:`GAS_HU` moved with the scan's room-air level.
    """
    lab, n = ndimage.label(cand)
    if n == 0:
        return np.zeros_like(cand), []
    check_cancel(cancel)
    feat = _component_features(cand, low, lab, n, gas_hu)
    # Air trapped in a skin fold or between an arm and the chest is inside a hole-filled body in
    # some slices but open to the outside in others: it touches non-body voxels over a good part
    # of itself. A lung never does (a trachea reaching an open mouth touches it at one spot).
    touching = cand & ndimage.binary_dilation(~body)
    outside = np.bincount(lab[touching], minlength=n + 1) >= OUTSIDE_FRACTION * feat["size"]
    voxel_ml = float(np.prod(spacing_low)) / 1000.0
    ml = feat["size"] * voxel_ml
    gas, holes = feat["gas"], feat["holes"]
    judged = feat["core"] >= 10
    vessels = np.nan_to_num(holes) >= VESSEL_FRACTION
    parenchyma = judged & ((gas < GAS_FRACTION) | (vessels & (gas < GAS_FRACTION_VESSELS))) & ~outside
    parenchyma[0] = False
    major = parenchyma & (ml >= MIN_ML)
    chosen = major.copy()
    maybe = ((~judged) | parenchyma) & ~outside & (ml < MIN_ML)  # small: too thin to judge, or parenchyma
    maybe[0] = False
    if major.any() and maybe.any():
        # Small pieces near a lung are lung cut off by a vessel or fissure in these slices; the
        # closing would join them anyway. Far from a lung they are skin folds and bowel bubbles.
        reach = lo.dilate_plane(major[lab], CLOSE_MM / max(spacing_low[1], spacing_low[2]))
        near = np.bincount(lab[reach], minlength=n + 1) > 0
        chosen |= near & maybe
    order = np.argsort(ml)[::-1][:8]
    summary = [{"ml": round(float(ml[i]), 2), "gas_fraction": None if np.isnan(gas[i]) else round(float(gas[i]), 3),
                "vessel_fraction": None if np.isnan(holes[i]) else round(float(holes[i]), 3),
                "outside": bool(outside[i]), "lung": bool(chosen[i])} for i in order if i > 0]
    return chosen[lab], summary


def _reach(mask: np.ndarray, radius_px: float) -> np.ndarray:
    """``mask`` dilated in-plane by ``radius_px`` and by one slice up and down."""
    near = lo.dilate_plane(mask, radius_px)
    out = near.copy()
    out[1:] |= near[:-1]
    out[:-1] |= near[1:]
    return out


def _thoracic(lung: np.ndarray, tree: np.ndarray, spacing_low) -> tuple[np.ndarray, dict]:
    """The pieces of ``lung`` the thorax explains, and which pieces were dropped.

    Gas in the colon can carry stool whose mottled HU passes every texture test; what it never
    has is a path to the airway. The *main* lungs are the pieces the airway tree's reach touches
    (:data:`AIRWAY_REACH_PX`); without a trachea in the volume (it starts below the carina), the
    pieces that reach the volume's top slice, as lungs cut by the field of view do; failing both,
    the largest piece when it holds at least :data:`LUNG_ALONE_ML`, else no lung. Pieces at
    least :data:`MAIN_FRACTION` of the largest main one are lungs on their own (a lung whose
    bronchus the grid did not resolve). Any other piece must be attached to a main lung: at least
    :data:`ATTACH_SHARE` of it within :data:`ATTACH_MM` in-plane one slice up or down (a lung base
    split off by partial volume),
    or, for pieces under :data:`MIN_ML`, within the closing's reach in-plane (a vessel's cut).
    Bowel and stomach gas below the diaphragm is separated from the lung by the diaphragm and
    the liver or spleen, and is dropped.
    """
    lab, n = ndimage.label(lung)
    info: dict = {"main_by": None, "dropped_ml": []}
    if n == 0:
        return lung, info
    voxel_ml = float(np.prod(spacing_low)) / 1000.0
    size = np.bincount(lab.ravel(), minlength=n + 1)
    ml = size * voxel_ml
    ml[0] = 0.0
    px = max(spacing_low[1], spacing_low[2])
    main = np.zeros(n + 1, dtype=bool)
    if tree.any():
        main[np.unique(lab[_reach(tree, AIRWAY_REACH_PX) & lung])] = True
        main[0] = False
        info["main_by"] = "airway" if main.any() else None
    if not main.any():
        main[np.unique(lab[-1][lung[-1]])] = True
        main[0] = False
        info["main_by"] = "top slice" if main.any() else None
    if not main.any() and ml.max() >= LUNG_ALONE_ML:
        main[int(np.argmax(ml))] = True
        info["main_by"] = "largest piece"
    if not main.any():
        info["dropped_ml"] = sorted((round(float(v), 2) for v in ml[1:]), reverse=True)[:12]
        info["dropped_total_ml"] = round(float(ml.sum()), 2)
        return np.zeros_like(lung), info
    main |= ml >= MAIN_FRACTION * ml[main].max()
    main[0] = False
    for _ in range(2):  # a piece attached to an attached piece is attached too
        kept = main[lab]
        near = np.bincount(lab[_reach(kept, ATTACH_MM / px) & lung], minlength=n + 1) >= ATTACH_SHARE * size
        close = np.bincount(lab[lo.dilate_plane(kept, CLOSE_MM / px) & lung], minlength=n + 1) > 0
        grown = main | near | (close & (ml < MIN_ML))
        grown[0] = False
        if (grown == main).all():
            break
        main = grown
    dropped = np.flatnonzero(~main & (ml > 0))
    info["dropped_ml"] = sorted((round(float(ml[i]), 2) for i in dropped), reverse=True)[:12]
    info["dropped_total_ml"] = round(float(ml[dropped].sum()), 2)
    return main[lab], info


def _edge_map(low: np.ndarray, lung: np.ndarray, body: np.ndarray, spacing_low) -> tuple[np.ndarray, dict]:
    """Per work pixel, the edge HU: :data:`EDGE_LUNG_SHARE` of the way from the wall to the lung next to it.

    A voxel below it is at least that share lung by partial volume, whatever the voxel size, so
    the volume does not change with the grid. The lung level is local, read within
    :data:`EDGE_LOCAL_MM` in-plane from the ring :data:`EDGE_RING_PX` inside the border: dependent
    lung at the back is far denser than lung in front, and a fixed level would cut it off in a
    ragged line. The wall level is the series' median of the same ring outside, inside the body
    (the chest wall's fat and muscle, heart, liver under the dome): a local one would loosen the
    edge along the heart, where the wall is densest. Where no lung ring is near, the series'
    median stands in. Clamped to :data:`EDGE_BOUNDS_HU`. Returns (the map on the work grid,
    float32; the levels and the map's range near the border, for the stats).
    """
    a, b = EDGE_RING_PX
    inside = lo.erode_plane(lung, a) & ~lo.erode_plane(lung, b)
    outside = lo.dilate_plane(lung, b) & ~lo.dilate_plane(lung, a) & body
    if not inside.any() or not outside.any():
        return np.full(low.shape, -400.0, dtype=np.float32), {"edge_hu": -400.0}
    lung_hu, wall_hu = float(np.median(low[inside])), float(np.median(low[outside]))
    r = max(1, int(round(EDGE_LOCAL_MM / max(spacing_low[1], spacing_low[2]))))
    size = (1, 2 * r + 1, 2 * r + 1)

    def local(ring: np.ndarray, default: float) -> np.ndarray:
        weight = ndimage.uniform_filter(ring.astype(np.float32), size, mode="constant")
        total = ndimage.uniform_filter(np.where(ring, low, 0.0).astype(np.float32), size, mode="constant")
        return np.where(weight > 1e-3, total / np.maximum(weight, 1e-3), np.float32(default))

    edge = EDGE_LUNG_SHARE * local(inside, lung_hu) + (1.0 - EDGE_LUNG_SHARE) * wall_hu
    edge = np.clip(edge, *EDGE_BOUNDS_HU).astype(np.float32)
    near = lo.dilate_plane(lung, b) & ~lo.erode_plane(lung, b)
    span = edge[near] if near.any() else edge.ravel()
    return edge, {"edge_hu": round(float(np.median(span)), 1), "edge_range_hu": [round(float(span.min()), 1),
                  round(float(span.max()), 1)], "lung_edge_hu": round(lung_hu, 1), "wall_edge_hu": round(wall_hu, 1)}


def _add_dense(lung: np.ndarray, low: np.ndarray, body: np.ndarray, spacing_low, below_hu) -> np.ndarray:
    """``lung`` grown in-plane into touching voxels below ``below_hu`` (HU, a number or a map on
    ``low``'s grid), at most :data:`DENSE_MM` away.

    The growing is bounded so a lung can never spread far through fat or a fluid-gas mixture.
    """
    if not lung.any():
        return lung
    steps = int(np.ceil(DENSE_MM / max(spacing_low[1], spacing_low[2])))
    allowed = ((low < below_hu) & body) | lung
    # A geodesic dilation of at most `steps` in-plane steps inside the allowed voxels.
    return ndimage.binary_dilation(lung, lo.CROSS_2D, iterations=steps, mask=allowed)


def _close_sides(right: np.ndarray, left: np.ndarray, body: np.ndarray, radius_px: float):
    """Close and fill each side in-plane; voxels both claim go back to the side that had them."""
    r_c = mo.fill_holes_except_domes(lo.close_plane(right, radius_px)) & body
    l_c = mo.fill_holes_except_domes(lo.close_plane(left, radius_px)) & body
    both = r_c & l_c
    if both.any():
        r_c &= ~(both & left)
        l_c &= ~(both & right)
        still = r_c & l_c
        r_c &= ~still  # added by both closings (the gap between touching lungs): neither owns it
        l_c &= ~still
    return r_c, l_c


def _peel_slice_faces(mask: np.ndarray, hu: np.ndarray, below_hu, passes: int = 2) -> np.ndarray:
    """``mask`` without its voxels at or above ``below_hu`` (HU, a number or an array like ``hu``)
    whose slice above or below is outside it.

    The in-plane redraw cannot see a lung's faces across slices: over the diaphragm's dome and at
    the apex a thick slice averages lung with liver or neck, and those voxels lie inside the mask
    in their own slice. Up to ``passes`` layers are peeled (the array's first and last slices
    are no faces: the lung goes on beyond the field of view).
    """
    for _ in range(passes):
        face = np.zeros_like(mask)
        face[1:] |= mask[1:] & ~mask[:-1]
        face[:-1] |= mask[:-1] & ~mask[1:]
        drop = face & (hu >= below_hu)
        if not drop.any():
            break
        mask = mask & ~drop
    return mask


def _main_pieces(tree: np.ndarray, share: float = 0.1) -> np.ndarray:
    """``tree`` without its specks: 26-connected pieces under ``share`` of the largest (the edge
    redraw can leave a voxel or two of a lumen's rim apart from the tree)."""
    lab, n = ndimage.label(tree, structure=np.ones((3, 3, 3), dtype=bool))
    if n <= 1:
        return tree
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    keep = sizes >= share * sizes.max()
    keep[0] = False
    return keep[lab]


def _full_resolution(hu, f, box, right_b, left_b, airway_b, axes, edge_b: np.ndarray):
    """Right, left and airway masks on the full grid, redrawn at their boundaries (:func:`lung_ops.refine`).

    Work-grid masks and the edge map (:func:`_edge_map`) come in ``box``; only the box holding
    the masks is touched at full resolution.
    """
    shape = hu.shape
    right, left, airway = (np.zeros(shape, dtype=bool) for _ in range(3))
    inner = lo.bbox(right_b | left_b | airway_b, (0, 2, 2))
    if inner is None:
        return right, left, airway
    lb = tuple(slice(o.start + i.start, o.start + i.stop) for o, i in zip(box, inner))
    fb = (lb[0], slice(lb[1].start * f, min(shape[1], lb[1].stop * f)), slice(lb[2].start * f, min(shape[2], lb[2].stop * f)))
    sub_hu = hu[fb]
    sub_shape = sub_hu.shape
    # No body clipping here: the work-grid masks lie inside the body, and the band is one work pixel.
    edge = mo.block_up(edge_b[inner], f, sub_shape)
    r = _peel_slice_faces(lo.refine(right_b[inner], f, sub_hu, edge), sub_hu, edge)
    left_s = _peel_slice_faces(lo.refine(left_b[inner], f, sub_hu, edge), sub_hu, edge)
    del edge
    a = lo.refine(airway_b[inner], f, sub_hu, AIRWAY_WALL_HU)
    ia = np.flatnonzero(a)  # the airway is small: test only its voxels
    rf, lf, af = r.reshape(-1), left_s.reshape(-1), a.reshape(-1)
    af[ia[(rf[ia] | lf[ia]) & (sub_hu.reshape(-1)[ia] >= AIRWAY_EDGE_HU)]] = False
    a = _main_pieces(a)
    af = a.reshape(-1)
    ia = ia[af[ia]]
    rf[ia] = False
    lf[ia] = False
    both = r & left_s
    if both.any():  # the bands of touching lungs overlap: the midline decides
        zz, yy, xx = np.nonzero(both)
        is_right = axes.u(zz + fb[0].start, (yy + fb[1].start) // f, (xx + fb[2].start) // f) < 0
        left_s[zz[is_right], yy[is_right], xx[is_right]] = False
        r[zz[~is_right], yy[~is_right], xx[~is_right]] = False
    right[fb], left[fb], airway[fb] = r, left_s, a
    return right, left, airway


def segment_lungs(hu: np.ndarray, spacing, body: np.ndarray | None = None, progress: Progress | None = None,
                  cancel: CancelEvent = None) -> LungSegmentation:
    """Right lung, left lung and airway of an HU volume (z, y, x) on an LPS-oriented grid.

    ``spacing`` is (z, y, x) mm. ``body`` (bool, same grid) is the body mask with holes filled per
    slice; without it a simple one is made (:func:`lung_ops.simple_body`).
    """
    t0 = time.perf_counter()
    spacing = tuple(float(s) for s in spacing)
    f = lo.work_factor(spacing)
    spacing_low = (spacing[0], spacing[1] * f, spacing[2] * f)
    report(progress, 0.05, "reducing the grid")
    low = mo.block_mean(hu, f)
    if body is None:
        body_low = lo.simple_body(low, spacing_low)
    else:
        body = np.asarray(body, dtype=bool)
        body_low = lo.reduce_mask(body, f)
    axes = body_axes(body_low, spacing_low)
    check_cancel(cancel)
    report(progress, 0.2, "air pieces")
    radius = CLOSE_MM / max(spacing_low[1], spacing_low[2])
    cand_all = (low < LUNG_MAX_HU) & body_low
    # All work-grid steps run inside the candidates' box, grown by the closing's reach.
    m = int(np.ceil(max(radius, DENSE_MM / min(spacing_low[1:])))) + 2
    box = lo.bbox(cand_all, (0, m, m))
    if box is None:  # no air inside the body at all (MR forced through, a phantom of soft tissue)
        empty = np.zeros(hu.shape, dtype=bool)
        report(progress, 1.0, "no air inside the body")
        return LungSegmentation(empty, empty.copy(), empty.copy(), body_low, f,
                                {"work_factor": f, "pieces": [], "airway": {"trachea": None}, "right_ml": 0.0,
                                 "left_ml": 0.0, "airway_ml": 0.0, "seconds": round(time.perf_counter() - t0, 3)}, body)
    off = (box[0].start, box[1].start, box[2].start)
    low_b, body_b, cand = low[box], body_low[box], cand_all[box]
    axes_b = axes.shifted(off)
    air_hu = _room_air(low, body_low)
    gas_hu = GAS_HU + (air_hu - CALIBRATED_AIR_HU)
    lung_low, pieces = _select(cand, low_b, body_b, spacing_low, cancel, gas_hu)
    report(progress, 0.35, "airway")
    # The trachea is sought only above or between lungs; once it and the bronchi are out, the
    # pieces are chosen again, as the airway no longer joins them.
    tree, airway_info = airway_tree(low_b, body_b, spacing_low, axes_b, lung_low, air_hu)
    rim = tree
    if tree.any():
        rim = with_wall_rim(tree, low_b, body_b)  # the lumen's blurred edge is neither lung nor airway
        lung_low, pieces = _select(cand & ~rim, low_b, body_b, spacing_low, cancel, gas_hu)
    lung_low, thorax_info = _thoracic(lung_low & ~rim, tree, spacing_low)
    edge_b, edge_info = _edge_map(low_b, lung_low, body_b, spacing_low)
    lung_low = _add_dense(lung_low, low_b, body_b & ~rim, spacing_low, edge_b)
    parenchyma = lung_low
    report(progress, 0.55, "right and left")
    right_b, left_b, split_info = split_lungs(lung_low, axes_b, spacing_low, cancel)
    check_cancel(cancel)
    report(progress, 0.7, "closing")
    right_b, left_b = _close_sides(right_b, left_b, body_b, radius)
    # The airway label: the true-air tree and its blurred edge down to the lumen's half-way HU
    # against a wall; not where the edge touches lung (a bronchus with no visible wall, whose
    # neighbours are parenchyma).
    lung_reach = lo.dilate_plane(right_b | left_b | parenchyma, 1)
    airway_b = tree | (rim & (low_b < AIRWAY_WALL_HU) & ~lung_reach)
    check_cancel(cancel)
    report(progress, 0.85, "full resolution")
    right, left, airway = _full_resolution(hu, f, box, right_b, left_b, airway_b, axes, edge_b)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    stats = {
        "work_factor": f, "work_spacing_mm": spacing_low, "airway": airway_info, "pieces": pieces,
        "thorax": thorax_info, **edge_info, "room_air_hu": round(air_hu, 1),
        "split": split_info, "right_ml": round(float(right.sum() * voxel_ml), 2),
        "left_ml": round(float(left.sum() * voxel_ml), 2), "airway_ml": round(float(airway.sum() * voxel_ml), 2),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    report(progress, 1.0, "lungs found")
    return LungSegmentation(right, left, airway, body_low, f, stats, body)
