"""Geometry of a stack of slices: sort order, spacing, direction and the checks that go with them.

Slices are sorted by their position projected on the slice normal (row × column cosines), never
by InstanceNumber, which scanners and anonymisers get wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dicom_headers import SliceHeader

#: Relative deviation from the median slice step that counts as uneven spacing.
SPACING_TOLERANCE = 0.01
#: Angle (degrees) between the slice normal and the slice-to-slice direction that counts as tilt.
TILT_TOLERANCE_DEG = 0.5


@dataclass(frozen=True)
class SeriesGeometry:
    """Volume geometry in SimpleITK's convention: (x, y, z) order, LPS, mm.

    ``direction`` is row-major 3×3 with columns = i (row cosines), j (column cosines), k (normal).
    ``positions`` are the slices' offsets along the normal, ascending.
    """

    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]
    positions: tuple[float, ...]
    slice_steps: tuple[float, ...]

    @property
    def uneven(self) -> bool:
        if len(self.slice_steps) < 2:
            return False
        steps = np.asarray(self.slice_steps)
        return bool(np.max(np.abs(steps - np.median(steps))) > SPACING_TOLERANCE * np.median(steps))


def _fallback_step(first: SliceHeader) -> float:
    ds = first.dataset
    for tag in ("SpacingBetweenSlices", "SliceThickness"):
        try:
            value = float(ds.get(tag) or 0)
        except (TypeError, ValueError):
            value = 0.0
        if value > 0:
            return value
    return 1.0


def series_geometry(slices: list[SliceHeader]) -> tuple[SeriesGeometry, list[SliceHeader], list[str]]:
    """Sort ``slices`` along their normal and derive the volume geometry.

    Returns (geometry, sorted slices, warnings). Warnings name duplicate positions, uneven
    spacing and gantry tilt; resampling them onto a regular grid is issue #3's loader.
    """
    warnings: list[str] = []
    normal = slices[0].normal
    offsets = np.array([float(np.dot(s.position, normal)) for s in slices])
    order = np.argsort(offsets, kind="stable")
    ordered = [slices[i] for i in order]
    offsets = offsets[order]
    steps = np.diff(offsets)
    if np.any(np.abs(steps) < 1e-3):
        warnings.append(f"{int(np.sum(np.abs(steps) < 1e-3))} duplicate slice position(s)")
    if len(ordered) > 1:
        step = float(np.median(steps))
        if step <= 1e-3:
            step = _fallback_step(ordered[0])
        travel = ordered[-1].position - ordered[0].position
        cos = abs(float(np.dot(travel, normal))) / max(float(np.linalg.norm(travel)), 1e-9)
        tilt = float(np.degrees(np.arccos(min(1.0, cos))))
        if tilt > TILT_TOLERANCE_DEG:
            warnings.append(f"gantry tilt of {tilt:.1f} degrees: slices are not stacked along their normal")
    else:
        step = _fallback_step(ordered[0])
    first = ordered[0]
    row_cos, col_cos = first.orientation[:3], first.orientation[3:]
    direction = np.column_stack([row_cos, col_cos, normal])
    geometry = SeriesGeometry(
        size=(first.columns, first.rows, len(ordered)),
        spacing=(first.pixel_spacing[1], first.pixel_spacing[0], step),
        origin=tuple(float(v) for v in first.position),
        direction=tuple(float(v) for v in direction.ravel()),
        positions=tuple(float(v) for v in offsets),
        slice_steps=tuple(float(v) for v in steps),
    )
    if geometry.uneven:
        warnings.append(f"uneven slice spacing: steps from {steps.min():.3f} to {steps.max():.3f} mm "
                        f"(median {step:.3f} mm used)")
    try:
        thickness = float(first.dataset.get("SliceThickness") or 0)
    except (TypeError, ValueError):
        thickness = 0.0
    if len(ordered) > 1 and thickness > step * 1.05:
        # Not a problem: overlapping reconstructions are common. Said so users don't read a gap.
        warnings.append(f"slice thickness {thickness:g} mm exceeds the slice spacing {step:g} mm "
                        "(overlapping slices; spacing is taken from positions)")
    return geometry, ordered, warnings
