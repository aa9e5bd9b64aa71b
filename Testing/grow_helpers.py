"""Seeds the tests paint: the right-upper-lobe nodule of ct-chest-141 (tests, benchmark, figure) and both
lungs of a chest phantom (the Slicer-side grow tests)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

#: Centre of the nodule (LPS mm): found by looking at the axial slices (z index 73..82, in the right
#: lung beside the hilum), then the centroid of its > -300 HU voxels after a 3 mm opening.
NODULE_LPS = (-85.9, 82.1, -8.5)
NODULE_SEED_MM, SHELL_MM = 7.0, 16.0


def nodule_seeds(image: sitk.Image, shift_voxels=(0, 0, 0)) -> np.ndarray:
    """1 = a 7 mm ball inside the nodule; 2 = a shell 16-17.5 mm from its centre (about 4 mm outside
    its edge) on every voxel it crosses (lung, vessels, chest wall): a background ring painted around
    the nodule on each slice. ``shift_voxels`` (z, y, x) moves both."""
    centre = np.array(image.TransformPhysicalPointToIndex(NODULE_LPS)[::-1]) + np.asarray(shift_voxels)
    spacing = np.array(image.GetSpacing()[::-1])
    grids = np.ogrid[tuple(slice(0, n) for n in image.GetSize()[::-1])]
    dist = np.sqrt(sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing)))
    seeds = np.zeros(dist.shape, np.uint8)
    seeds[dist <= NODULE_SEED_MM] = 1
    seeds[(dist >= SHELL_MM) & (dist <= SHELL_MM + 1.5)] = 2
    return seeds


def phantom_lung_seeds(phantom) -> np.ndarray:
    """(z, y, x) seeds as painted in the Segment Editor: 1, 2 = a 3x3x3 patch in the right and left lung,
    3 = background (a patch in the body wall and the volume's corners)."""
    seeds = np.zeros(phantom.hu.shape, np.uint8)
    for value, name in ((1, "lung-right"), (2, "lung-left")):
        idx = np.argwhere(phantom.masks[name])
        z, y, x = idx[len(idx) // 2]
        seeds[z - 1:z + 2, y - 1:y + 2, x - 1:x + 2] = value
    tissue = phantom.masks["body"] & ~phantom.masks["lung-right"] & ~phantom.masks["lung-left"]
    z, y, x = np.argwhere(tissue)[0]
    seeds[z:z + 3, y:y + 2, x:x + 2] = 3  # the body wall is background too
    seeds[:, :2, :2] = seeds[:, -2:, -2:] = 3
    return seeds


def phantom_seed_table():
    """The seed segments' names and colours (not MedSeg's own, so the tests see them kept)."""
    from medseg import labels as L

    return [L.Label(1, "right lung", (200, 60, 60)), L.Label(2, "left lung", (60, 60, 200)),
            L.Label(3, "outside", (90, 90, 90))]
