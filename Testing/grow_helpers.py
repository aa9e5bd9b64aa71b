"""The right-upper-lobe nodule of ct-chest-141 and the seeds the tests, benchmark and figure paint for it."""

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
