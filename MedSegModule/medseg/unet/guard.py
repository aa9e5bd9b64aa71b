"""Anatomy guard and body-region estimate: does a model's lung output make anatomical sense?

A 2D network sees one slice at a time, so on a series unlike its training data it can call stomach
gas "lung" or swap the sides, and its own probabilities will not say so. The guard checks the
predicted lung labels against anatomy found independently by the classical steps on the same
volume (LPS array, z from inferior to superior, rows toward posterior, columns toward the
patient's left):

- **outside the body**: lung voxels outside the body mask;
- **below the lung bases**: lung voxels in air (below :data:`GAS_HU`) more than
  :data:`BASE_MARGIN_MM` below the lowest slice of the classical lung mask (every slice counts
  when the classical mask finds no lung at all);
- **wrong side**: right-lung voxels more than :data:`SIDE_MARGIN_MM` on the patient's left of
  the spine axis, and left-lung voxels as far on the right. Left and right come from the
  patient axes of the LPS grid (the header's direction), never from image columns.

It fires when the flagged voxels make at least :data:`MIN_FLAGGED_ML` and either
:data:`MAX_FRACTION` of the lung output or :data:`MAX_FLAGGED_ML`.

:func:`body_regions` classifies each slice as head, chest or abdomen-pelvis from the body's
cross-section and the air inside it, for the range check of a model card's ``body_region``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Lung voxels counted "in gas" below the bases are below this HU (lung parenchyma and gas both are).
GAS_HU = -400.0
#: Tolerance below the classical lung bases (mm): the costophrenic recesses reach a little lower.
BASE_MARGIN_MM = 10.0
#: Tolerance across the spine axis (mm): the anterior junction line can cross the midline.
SIDE_MARGIN_MM = 25.0
#: The guard fires at MIN_FLAGGED_ML and (MAX_FRACTION of the lung output or MAX_FLAGGED_ML).
MIN_FLAGGED_ML, MAX_FRACTION, MAX_FLAGGED_ML = 2.0, 0.05, 20.0

#: Body regions of :func:`body_regions`.
REGIONS = ("head", "chest", "abdomen-pelvis")
#: A slice whose body cross-section is below this (cm^2) is head or neck (an adult head is 150-250).
HEAD_MAX_CM2 = 330.0
#: A slice with more of its body below -400 HU than this fraction is chest (lungs are 30-60 % of it).
CHEST_AIR_FRACTION = 0.12


@dataclass
class AnatomyCheck:
    """What the guard counted (voxels of the label image) and whether it fired."""

    lung_voxels: int
    outside_body: int
    below_bases: int
    wrong_side: int
    flagged: int
    flagged_ml: float
    fraction: float
    classical_lung_voxels: int
    fired: bool

    def message(self) -> str:
        """One line with the numbers."""
        base = "" if self.classical_lung_voxels else " (the classical lung mask finds no lung in this series)"
        return (f"anatomy guard: {self.flagged} of {self.lung_voxels} lung voxels ({100 * self.fraction:.0f} %, "
                f"{self.flagged_ml:.1f} mL) are implausible: {self.outside_body} outside the body, "
                f"{self.below_bases} in air below the lung bases{base}, {self.wrong_side} on the wrong side "
                "of the spine axis")

    def to_dict(self) -> dict:
        return asdict(self)


def lung_classes(card: dict) -> dict[str, list[int]]:
    """The card's class values by side: {"right": [...], "left": [...], "any": [...]}."""
    out = {"right": [], "left": [], "any": []}
    for c in card.get("classes", [])[1:]:
        name = str(c["name"]).lower()
        if "lung" not in name:
            continue
        out["any"].append(int(c["value"]))
        for side in ("right", "left"):
            if side in name:
                out[side].append(int(c["value"]))
    return out


def check_anatomy(hu: np.ndarray, spacing, labels: np.ndarray, card: dict, cancel=None) -> AnatomyCheck | None:
    """The guard on LPS arrays: ``hu`` (z, y, x) HU, ``spacing`` (z, y, x) mm, ``labels`` the card's
    class values on the same grid. None when the card has no lung class."""
    from ..autolabel.lungs.mask import segment_lungs
    from ..autolabel.lungs.search_region import spine_axis

    classes = lung_classes(card)
    if not classes["any"]:
        return None
    lung = np.isin(labels, classes["any"])
    seg = segment_lungs(hu, spacing, cancel=cancel)
    body, classical = seg.body, seg.lungs
    outside = lung & ~body
    zs = np.flatnonzero(classical.any(axis=(1, 2)))
    base = int(zs[0]) - int(round(BASE_MARGIN_MM / spacing[0])) if zs.size else hu.shape[0]
    below = np.zeros_like(lung)
    if base > 0:
        below[:base] = lung[:base] & (hu[:base] < GAS_HU)
    wrong = np.zeros_like(lung)
    if classes["right"] and classes["left"]:
        axis = spine_axis(hu, body, classical, spacing)  # column (px) per slice; +column = patient's left
        u = (np.arange(hu.shape[2])[None, :] - axis[:, None]) * float(spacing[2])  # (z, x) mm toward the left
        to_left, to_right = (u > SIDE_MARGIN_MM)[:, None, :], (u < -SIDE_MARGIN_MM)[:, None, :]
        wrong = (np.isin(labels, classes["right"]) & to_left) | (np.isin(labels, classes["left"]) & to_right)
    flagged = outside | below | wrong
    n_lung, n_flag = int(lung.sum()), int(flagged.sum())
    ml = n_flag * float(np.prod(spacing)) / 1000.0
    fraction = n_flag / n_lung if n_lung else 0.0
    fired = ml >= MIN_FLAGGED_ML and (fraction >= MAX_FRACTION or ml >= MAX_FLAGGED_ML)
    return AnatomyCheck(n_lung, int(outside.sum()), int(below.sum()), int(wrong.sum()), n_flag, round(ml, 2),
                        round(fraction, 4), int(classical.sum()), bool(fired))


def body_mask(hu: np.ndarray, spacing) -> np.ndarray:
    """The body (bool, z, y, x) of an LPS HU array: the lung step's simple body mask (tissue above
    -500 HU, thin shells opened away, holes filled per slice) on the ~2 mm work grid, drawn back."""
    from ..autolabel import morphology as mo
    from ..autolabel.lungs import ops as lo

    f = lo.work_factor(spacing)
    low_spacing = (float(spacing[0]), float(spacing[1]) * f, float(spacing[2]) * f)
    return mo.block_up(lo.simple_body(mo.block_mean(hu, f), low_spacing), f, hu.shape)


def body_regions(hu: np.ndarray, spacing) -> dict[str, float]:
    """Fraction of the slices that look like each of :data:`REGIONS` (``hu`` (z, y, x) LPS, spacing mm).

    Per slice on the ~2 mm work grid: the body (the lung step's simple body mask) smaller than
    :data:`HEAD_MAX_CM2` is head or neck; otherwise more than :data:`CHEST_AIR_FRACTION` of it
    below -400 HU is chest, else abdomen or pelvis. Slices without body are left out.
    """
    from ..autolabel import morphology as mo
    from ..autolabel.lungs import ops as lo

    f = lo.work_factor(spacing)
    low = mo.block_mean(hu, f)
    low_spacing = (float(spacing[0]), float(spacing[1]) * f, float(spacing[2]) * f)
    body = lo.simple_body(low, low_spacing)
    px_cm2 = low_spacing[1] * low_spacing[2] / 100.0
    area = body.sum(axis=(1, 2)) * px_cm2
    air = (body & (low < GAS_HU)).sum(axis=(1, 2)) * px_cm2
    counts = dict.fromkeys(REGIONS, 0)
    n = 0
    for a, g in zip(area, air):
        if a < 5.0:
            continue
        n += 1
        region = "head" if a < HEAD_MAX_CM2 else ("chest" if g > CHEST_AIR_FRACTION * a else "abdomen-pelvis")
        counts[region] += 1
    return {k: round(v / n, 3) if n else 0.0 for k, v in counts.items()}


def region_summary(fractions: dict[str, float]) -> str:
    """"chest 80 %, abdomen-pelvis 20 %" (regions present, largest first)."""
    parts = sorted(((v, k) for k, v in fractions.items() if v > 0), reverse=True)
    return ", ".join(f"{k} {100 * v:.0f} %" for v, k in parts) or "no body found"


def check_image(image, labels, card: dict, cancel=None) -> AnatomyCheck | None:
    """:func:`check_anatomy` on SimpleITK images (HU ``image``, ``labels`` on its grid, any orientation):
    both are put in LPS order first, so the sides are the patient's whatever the stored column order."""
    import SimpleITK as sitk

    from ..preprocess import Reoriented

    oriented = Reoriented.of(image)
    lab = sitk.GetArrayFromImage(Reoriented.of(labels).image)  # a copy: the oriented image is a temporary
    return check_anatomy(sitk.GetArrayViewFromImage(oriented.image), oriented.spacing, lab, card, cancel=cancel)
