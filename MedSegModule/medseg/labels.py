"""Shared conventions: the air value, the auto-label table, and the one label table every output uses.

The auto-label map is exclusive: where two structures overlap, the one with the higher
precedence keeps the voxel (airway > lungs > bone > table-headrest > body).

Every writer and reader of labels (seg.nrrd, the names sidecar of NIfTI/NRRD files, meshes,
DICOM SEG, statistics, radiomics, metrics, the MRML scene, the report) names and colours a value
through :func:`label_table`, so one value has one name and one colour everywhere. Names come from
the label file itself (seg.nrrd segments, else the ``<stem>.json`` sidecar), else ``label-N``;
values are never given auto-label names just because they are small numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence, Union

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
#: Saturated magenta: removed objects must stand out on a grey CT (no anatomy label is magenta).
TABLE_HEADREST = Label(2, "table-headrest", (255, 0, 255))
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
#: The lung tumour search region (`medseg lungs --roi`).
SEARCH_REGION = Label(1, "tumour-search-region", (230, 220, 70))
#: Lung tumour, as the lung-tumour U-Net labels it (1 in its output).
LUNG_TUMOUR = Label(1, "lung-tumour", (230, 60, 60))

#: Colours of structures by name, beyond the auto-label table (substring match, lower case).
#: Slicer's General Anatomy colours where it has them, so a reference atlas looks familiar.
ANATOMY_COLORS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("liver", (221, 130, 101)), ("spleen", (157, 108, 162)), ("stomach", (244, 190, 120)),
    ("pancrea", (249, 180, 111)), ("kidney", (185, 102, 83)), ("adrenal", (244, 214, 49)),
    ("gallbladder", (139, 150, 98)), ("aorta", (224, 97, 76)), ("arter", (216, 101, 79)),
    ("vena", (0, 151, 206)), ("vein", (0, 151, 206)), ("colon", (204, 168, 143)),
    ("bowel", (205, 167, 142)), ("duoden", (255, 253, 229)), ("esophag", (211, 171, 143)),
    ("heart", (206, 110, 84)), ("lung", (197, 165, 145)), ("trachea", (182, 228, 255)),
    ("cartilage", (111, 184, 210)), ("spinal_cord", (244, 214, 49)), ("autochthon", (192, 104, 88)),
    ("muscle", (192, 104, 88)), ("vertebra", (241, 214, 145)), ("rib", (241, 214, 145)),
    ("bone", (241, 214, 145)), ("humerus", (241, 214, 145)), ("skin", (177, 122, 101)),
    ("tumour", (230, 60, 60)), ("tumor", (230, 60, 60)), ("nodule", (230, 60, 60)),
)

#: Colours for values whose name says nothing (tab10-like: distinct on white and on black).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)

_NAMED = {lab.name: lab.color for lab in (*AUTO_LABELS, LUNG, SEARCH_REGION)}

LabelNames = Union[Mapping[int, str], Sequence[Label], None]


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


def default_name(value: int) -> str:
    """The name of a value no file names: ``label-<value>``."""
    return f"label-{int(value)}"


def colour_for(name: str, value: int) -> tuple[int, int, int]:
    """A segment's colour (RGB 0..255): the auto-label table's for its name, a common anatomy
    colour when the name contains one, else the palette entry of its value."""
    if name in _NAMED:
        return _NAMED[name]
    low = name.lower()
    for key, colour in ANATOMY_COLORS:
        if key in low:
            return colour
    return PALETTE[int(value) % len(PALETTE)]


def name_map(names: LabelNames) -> dict[int, str]:
    """``{value: name}`` from a ``{value: name}`` mapping or a list of :class:`Label` (empty names dropped)."""
    if names is None:
        return {}
    if isinstance(names, Mapping):
        return {int(v): str(n) for v, n in names.items() if n not in (None, "")}
    return {lab.value: lab.name for lab in names}


def label_table(values: Iterable[int], names: LabelNames = None) -> list[Label]:
    """One :class:`Label` per value, in the order given: the one table every output uses.

    ``names`` is what the label file carried: ``{value: name}`` or :class:`Label`s (whose own
    colours are kept). A value without a name is ``label-N``; colours follow :func:`colour_for`.
    """
    given = {lab.value: lab for lab in names} if names is not None and not isinstance(names, Mapping) else {}
    mapped = name_map(names)
    out = []
    for v in values:
        v = int(v)
        if v in given:
            out.append(given[v])
        else:
            name = mapped.get(v, default_name(v))
            out.append(Label(v, name, colour_for(name, v)))
    return out


def segment_name(value: int, names: LabelNames) -> str:
    """The name :func:`label_table` gives ``value``."""
    return name_map(names).get(int(value), default_name(value))


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
