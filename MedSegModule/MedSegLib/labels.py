"""Shared conventions: the air value and the auto-label table (DESIGN.md, "Conventions").

The auto-label map is exclusive: where two structures overlap, the one with the higher
precedence keeps the voxel (airway > lungs > bone > table-headrest > body).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: HU written for padding, out-of-field voxels and removed objects (table, headrest, outside air).
AIR_HU: int = -1024

#: Stored values this far below the CT range after rescale are out of field (scanners write -2000/-2048).
OUT_OF_FIELD_HU: int = -1500


@dataclass(frozen=True)
class Label:
    value: int
    name: str
    color: tuple[int, int, int]

    @property
    def color_float(self) -> tuple[float, float, float]:
        """Colour as 0..1 floats, as Slicer's segments and matplotlib want it."""
        return tuple(c / 255.0 for c in self.color)  # type: ignore[return-value]


BODY = Label(1, "body", (177, 122, 101))
TABLE_HEADREST = Label(2, "table-headrest", (128, 128, 128))
LUNG_RIGHT = Label(3, "lung-right", (128, 174, 128))
LUNG_LEFT = Label(4, "lung-left", (111, 184, 210))
AIRWAY = Label(5, "airway", (216, 101, 79))
BONE = Label(6, "bone", (241, 214, 145))

#: The auto-label table, ordered by value.
AUTO_LABELS: tuple[Label, ...] = (BODY, TABLE_HEADREST, LUNG_RIGHT, LUNG_LEFT, AIRWAY, BONE)

#: Highest precedence first: where masks overlap, the earlier label wins.
PRECEDENCE: tuple[Label, ...] = (AIRWAY, LUNG_RIGHT, LUNG_LEFT, BONE, TABLE_HEADREST, BODY)

#: `medseg lungs` conventions (the ones lungmask uses).
LUNG = Label(1, "lung", (128, 174, 128))
SPLIT_LUNG_RIGHT = Label(1, "lung-right", LUNG_RIGHT.color)
SPLIT_LUNG_LEFT = Label(2, "lung-left", LUNG_LEFT.color)


def by_value(value: int) -> Label:
    """The auto-label with this value; KeyError if there is none."""
    for label in AUTO_LABELS:
        if label.value == value:
            return label
    raise KeyError(value)


def by_name(name: str) -> Label:
    """The auto-label with this name; KeyError if there is none."""
    for label in AUTO_LABELS:
        if label.name == name:
            return label
    raise KeyError(name)


def compose(masks: dict[str, np.ndarray]) -> np.ndarray:
    """Merge boolean masks, keyed by label name, into one exclusive uint8 label map.

    Masks are (z, y, x) arrays on one grid. Overlaps resolve by :data:`PRECEDENCE`.
    """
    if not masks:
        raise ValueError("compose() needs at least one mask")
    shapes = {m.shape for m in masks.values()}
    if len(shapes) != 1:
        raise ValueError(f"masks differ in shape: {sorted(shapes)}")
    out = np.zeros(shapes.pop(), dtype=np.uint8)
    # Paint lowest precedence first so higher ones overwrite it.
    for label in reversed(PRECEDENCE):
        mask = masks.get(label.name)
        if mask is not None:
            out[np.asarray(mask, dtype=bool)] = label.value
    unknown = set(masks) - {lab.name for lab in AUTO_LABELS}
    if unknown:
        raise KeyError(f"unknown label names: {sorted(unknown)}")
    return out
