"""Labels onto the image grid: same grid, flipped/permuted grids (exact), true mismatch (error)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.errors import GeometryError
from medseg.io.grid import align_labels, same_voxels


def _oblique_image() -> sitk.Image:
    rng = np.random.default_rng(0)
    img = sitk.GetImageFromArray(rng.integers(0, 4, size=(6, 7, 8)).astype(np.uint8))
    img.SetSpacing((0.8, 0.9, 2.0))
    img.SetOrigin((10.0, -20.0, 30.0))
    c, s = np.cos(0.3), np.sin(0.3)
    img.SetDirection((c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0))
    return img


@pytest.mark.parametrize("axes", [(True, False, False), (False, True, True)])
def test_flipped_oblique_labels_resample_exactly(axes):
    img = _oblique_image()
    flipped = sitk.Flip(img, list(axes))
    assert same_voxels(flipped, img)
    back = align_labels(flipped, img)
    assert np.array_equal(sitk.GetArrayViewFromImage(back), sitk.GetArrayViewFromImage(img))


def test_permuted_labels_resample_exactly():
    img = _oblique_image()
    permuted = sitk.PermuteAxes(img, [2, 0, 1])
    back = align_labels(permuted, img)
    assert np.array_equal(sitk.GetArrayViewFromImage(back), sitk.GetArrayViewFromImage(img))


def test_true_mismatch_is_an_error_unless_resampling_is_asked():
    img = _oblique_image()
    other = sitk.Image(img)
    other.SetOrigin((11.0, -20.0, 30.0))
    with pytest.raises(GeometryError, match="--resample-labels"):
        align_labels(other, img)
    assert align_labels(other, img, resample=True).GetSize() == img.GetSize()
