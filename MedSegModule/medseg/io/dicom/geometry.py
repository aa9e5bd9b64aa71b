"""Geometry of a stack of slices: sort order, duplicates, spacing, tilt, and the checks that go with them.

Slices are sorted by their position projected on the slice normal (row × column cosines), never
by InstanceNumber, which scanners and anonymisers get wrong. Nothing here decodes pixels or
resamples: this only describes the stack (``medseg info`` stays fast); :mod:`.regularize` puts
irregular stacks onto a regular grid when the volume is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .slice_header import DamagedFile, SliceHeader

#: Relative deviation from the most common slice step that counts as uneven spacing...
SPACING_TOLERANCE = 0.01
#: ...but never less than this (mm): positions written to 0.01 mm make steps wobble by up to
#: 0.01 mm, which is rounding, not uneven spacing worth resampling.
SPACING_TOLERANCE_MM = 0.015
#: Slices closer than this along the normal (mm) are duplicates of one position.
DUPLICATE_TOLERANCE_MM = 0.01
#: In-plane shift between slices (in pixels) below which the stack counts as untilted: a quarter
#: pixel is below what resampling could improve, and real headers carry rounding noise.
SHIFT_TOLERANCE_PX = 0.25
#: A gap of more than this many most-common steps cuts a series: the slices beyond it are outliers
#: (a broken position), not the far end of one volume whose grid would have to span the gap.
OUTLIER_GAP_STEPS = 50


@dataclass(frozen=True)
class SeriesGeometry:
    """Geometry of the slice stack as it is, in SimpleITK's convention: (x, y, z) order, LPS, mm.

    ``direction`` is row-major 3×3 with columns = i (row cosines), j (column cosines), k (normal);
    ``origin`` is the first slice's ImagePositionPatient; the z spacing is the median step.
    ``positions`` are the slices' offsets along the normal (ascending, mm); ``slice_origins`` their
    full ImagePositionPatient (x, y, z); ``shifts`` each slice's in-plane offset from the first
    slice (along i, along j; mm); ``modal_step`` the most common step (mm).
    """

    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]
    positions: tuple[float, ...]
    slice_steps: tuple[float, ...]
    slice_origins: tuple[tuple[float, float, float], ...] = ()
    shifts: tuple[tuple[float, float], ...] = ()
    modal_step: float = 0.0
    tilt_deg: float = 0.0

    @property
    def uneven(self) -> bool:
        """Steps differ from the most common step by more than :data:`SPACING_TOLERANCE`."""
        if len(self.slice_steps) < 2 or self.modal_step <= 0:
            return False
        steps = np.asarray(self.slice_steps)
        return bool(np.max(np.abs(steps - self.modal_step)) > _tolerance(self.modal_step))

    @property
    def shifted(self) -> bool:
        """Slices are displaced in-plane from one another (gantry tilt, or irregular shifts)."""
        if not self.shifts:
            return False
        s = np.abs(np.asarray(self.shifts)) / np.asarray(self.spacing[:2])
        return bool(s.max() > SHIFT_TOLERANCE_PX)

    @property
    def missing_slices(self) -> int:
        """Slices the most common step says are missing (a step of 3 × modal hides 2)."""
        if not self.uneven:
            return 0
        ratios = np.asarray(self.slice_steps) / self.modal_step
        return int(sum(max(0, round(r) - 1) for r in ratios if r > 1.5))

    @property
    def irregular(self) -> bool:
        """True when the stack needs resampling to be one regular volume (uneven or shifted)."""
        return self.uneven or self.shifted


def _tolerance(step: float) -> float:
    return max(SPACING_TOLERANCE * step, SPACING_TOLERANCE_MM)


def modal_step(steps: np.ndarray, fallback: float) -> float:
    """The most common slice step (mm): steps within the spacing tolerance form one cluster;
    the largest cluster wins (ties: the finer step), its median is returned."""
    steps = np.sort(np.asarray(steps, dtype=float)[np.asarray(steps) > DUPLICATE_TOLERANCE_MM])
    if steps.size == 0:
        return fallback
    clusters: list[list[float]] = [[steps[0]]]
    for s in steps[1:]:
        if s - clusters[-1][0] <= _tolerance(clusters[-1][0]):
            clusters[-1].append(s)
        else:
            clusters.append([s])
    best = max(clusters, key=len)  # max keeps the first (finest) of equally large clusters
    return float(np.median(best))


def _fallback_step(first: SliceHeader) -> float:
    ds = first.dataset
    for value in (ds.get("SpacingBetweenSlices"), first.slice_thickness):
        try:
            value = float(value or 0)
        except (TypeError, ValueError):
            value = 0.0
        if value > 0:
            return value
    return 1.0


def split_outliers(slices: list[SliceHeader]) -> tuple[list[SliceHeader], list[DamagedFile]]:
    """Keep the largest block of slices whose steps along the normal stay within
    :data:`OUTLIER_GAP_STEPS` most-common steps; the others are damaged (their positions are broken).

    Returns (kept slices, one :class:`DamagedFile` per outlier, naming its distance to the block).
    """
    if len(slices) < 3:
        return slices, []
    normal = slices[0].normal
    offsets = np.array([float(np.dot(s.position, normal)) for s in slices])
    order = np.argsort(offsets, kind="stable")
    steps = np.diff(offsets[order])
    step = modal_step(steps, _fallback_step(slices[0]))
    cuts = np.flatnonzero(steps > OUTLIER_GAP_STEPS * max(step, DUPLICATE_TOLERANCE_MM))
    if not cuts.size:
        return slices, []
    bounds = [0, *(cuts + 1).tolist(), len(order)]
    blocks = [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    main = max(blocks, key=len)
    lo, hi = offsets[main].min(), offsets[main].max()
    outliers = []
    for block in blocks:
        if block is main:
            continue
        for i in block:
            s = slices[i]
            gap = lo - offsets[i] if offsets[i] < lo else offsets[i] - hi
            outliers.append(DamagedFile(s.path, f"{s.name} lies {gap:.6g} mm from the other {len(main)} slices of "
                                                f"its series (most common step {step:.4g} mm): a broken position",
                                        s.series_uid, s.position))
    keep = set(main.tolist())
    return [s for i, s in enumerate(slices) if i in keep], outliers


def deduplicate(ordered: list[SliceHeader], offsets: np.ndarray
                ) -> tuple[list[SliceHeader], np.ndarray, list[tuple[SliceHeader, SliceHeader]]]:
    """Keep one slice per position (within :data:`DUPLICATE_TOLERANCE_MM` along the normal).

    The kept one is the first by InstanceNumber (then file name, then frame). Returns the kept
    slices, their offsets and (kept, dropped) pairs; the loader compares their pixels.
    """
    groups: list[list[int]] = []
    for i in range(len(ordered)):
        if groups and offsets[i] - offsets[groups[-1][0]] <= DUPLICATE_TOLERANCE_MM:
            groups[-1].append(i)
        else:
            groups.append([i])
    kept, pairs = [], []
    for g in groups:
        rank = sorted(g, key=lambda i: (ordered[i].instance_number is None, ordered[i].instance_number or 0,
                                        str(ordered[i].path), ordered[i].frame or 0))
        kept.append(rank[0])
        pairs.extend((ordered[rank[0]], ordered[j]) for j in rank[1:])
    return [ordered[i] for i in kept], offsets[kept], pairs


def _shift_warning(shifts: np.ndarray, offsets: np.ndarray, tilt: float) -> str:
    """Say how the slices are displaced: a steady tilt, or irregular in-plane shifts."""
    span = float(np.linalg.norm(shifts, axis=1).max())
    travel = offsets - offsets[0]
    line = np.outer(travel / max(travel[-1], 1e-9), shifts[-1])
    if np.abs(shifts - line).max() <= 0.1 * span + 1e-6:
        return (f"gantry tilt of {tilt:.1f} degrees: slices are not stacked along their normal "
                f"(shifted in-plane by up to {span:.1f} mm)")
    return f"slices are shifted in-plane irregularly (by up to {span:.1f} mm): not stacked along their normal"


def series_geometry(slices: list[SliceHeader]
                    ) -> tuple[SeriesGeometry, list[SliceHeader], list[str], list[tuple[SliceHeader, SliceHeader]]]:
    """Sort ``slices`` along their normal, drop duplicate positions and describe the stack.

    Returns (geometry, sorted unique slices, warnings, (kept, dropped) duplicate pairs). Warnings
    name duplicate positions, uneven spacing/missing slices and gantry tilt; the loader says what
    it did about them.
    """
    warnings: list[str] = []
    normal = slices[0].normal
    offsets = np.array([float(np.dot(s.position, normal)) for s in slices])
    order = np.argsort(offsets, kind="stable")
    ordered, offsets, duplicates = deduplicate([slices[i] for i in order], offsets[order])
    if duplicates:
        kept, dropped = duplicates[0]
        warnings.append(f"{len(duplicates)} duplicate slice position(s): one slice kept per position, the first by "
                        f"InstanceNumber (e.g. kept {kept.name}, dropped {dropped.name})")
    first = ordered[0]
    row_cos, col_cos = first.orientation[:3], first.orientation[3:]
    steps = np.diff(offsets)
    step = float(np.median(steps)) if len(ordered) > 1 else _fallback_step(first)
    if step <= DUPLICATE_TOLERANCE_MM:
        step = _fallback_step(first)
    travel = np.array([s.position - first.position for s in ordered])
    shifts = np.column_stack([travel @ row_cos, travel @ col_cos])
    tilt = 0.0
    if len(ordered) > 1 and offsets[-1] > offsets[0]:
        tilt = float(np.degrees(np.arctan2(np.linalg.norm(shifts[-1]), offsets[-1] - offsets[0])))
    direction = np.column_stack([row_cos, col_cos, normal])
    geometry = SeriesGeometry(
        size=(first.columns, first.rows, len(ordered)),
        spacing=(first.pixel_spacing[1], first.pixel_spacing[0], step),
        origin=tuple(float(v) for v in first.position),
        direction=tuple(float(v) for v in direction.ravel()),
        positions=tuple(float(v) for v in offsets),
        slice_steps=tuple(float(v) for v in steps),
        slice_origins=tuple(tuple(float(v) for v in s.position) for s in ordered),
        shifts=tuple((float(u), float(v)) for u, v in shifts),
        modal_step=modal_step(steps, step),
        tilt_deg=tilt,
    )
    if geometry.shifted:
        warnings.append(_shift_warning(shifts, offsets, tilt))
    if geometry.uneven:
        missing = geometry.missing_slices
        warnings.append(f"uneven slice spacing: steps from {steps.min():.3f} to {steps.max():.3f} mm, most common "
                        f"{geometry.modal_step:.3f} mm" + (f" ({missing} missing slice(s))" if missing else ""))
    thickness = first.slice_thickness or 0.0
    if len(ordered) > 1 and thickness > step * 1.05:
        # Not a problem: overlapping reconstructions are common. Said so users don't read a gap.
        warnings.append(f"slice thickness {thickness:g} mm exceeds the slice spacing {step:g} mm "
                        "(overlapping slices; spacing is taken from positions)")
    return geometry, ordered, warnings, duplicates
