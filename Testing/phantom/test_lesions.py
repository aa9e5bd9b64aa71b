"""Synthetic lung lesions in real CT (ct-chest-141) and in chest phantoms: size, place, HU, masks."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from conftest import shared
from medseg.phantom import make_chest
from medseg.phantom.lesions import (GROUND_GLASS_HU, KINDS, PARENCHYMA_MAX_HU, SOLID_MEAN_HU, candidate_centres,
                                    insert_lesion, insert_lesions)


@pytest.fixture(scope="module")
def chest141():
    from medseg.io import load
    from medseg.pipeline.steps import lungs

    image, meta = load(shared("ct-chest-141", "dicom"))
    lung = sitk.GetArrayFromImage(lungs(image, meta).labels) > 0
    spacing = image.GetSpacing()[::-1]
    return sitk.GetArrayFromImage(image), lung, spacing, ndimage.distance_transform_edt(lung, sampling=spacing)


def _equivalent_diameter(mask, spacing) -> float:
    return float((6 * mask.sum() * np.prod(spacing) / np.pi) ** (1 / 3))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("attached", [False, True])
def test_lesions_in_real_ct_have_their_size_place_and_hu(chest141, kind, attached):
    hu, lung, spacing, depth = chest141
    diameter = {"solid": 12.0, "part-solid": 30.0, "ground-glass": 20.0}[kind]
    out, mask, lesion = insert_lesion(hu, lung, spacing, kind, diameter, attached, np.random.default_rng(7),
                                      depth_mm=depth)
    assert mask.any() and not np.any(mask & ~lung)
    assert lesion.voxels == int(mask.sum()) and lesion.kind == kind and lesion.attached == attached
    np.testing.assert_array_equal(out[~ndimage.binary_dilation(mask, iterations=4) & lung],
                                  hu[~ndimage.binary_dilation(mask, iterations=4) & lung])  # nothing else changed
    if attached:
        # on the pleura: the lesion reaches the lung's edge, and only its lung part is in the mask
        assert depth[mask].min() <= 1.5 * max(spacing)
        assert 0.4 * diameter <= _equivalent_diameter(mask, spacing) <= 1.1 * diameter
    else:
        assert depth[mask].min() >= 1.0  # mm: at least its edge's width inside the lung
        assert 0.8 * diameter <= _equivalent_diameter(mask, spacing) <= 1.2 * diameter
    inner = ndimage.binary_erosion(mask, iterations=2)
    if kind == "solid":
        assert abs(np.median(out[inner]) - lesion.mean_hu) < 15
        assert 10 < out[inner].std() < 40  # the measured 23 HU texture
    if kind == "ground-glass":
        assert GROUND_GLASS_HU[0] <= lesion.mean_hu <= GROUND_GLASS_HU[1]
        parenchyma = inner & (hu < PARENCHYMA_MAX_HU)
        assert abs(np.median(out[parenchyma]) - lesion.mean_hu) < 60
        vessels = inner & (hu >= PARENCHYMA_MAX_HU)
        np.testing.assert_array_equal(out[vessels], hu[vessels])  # vessels show through ground glass
    if kind == "part-solid":
        assert 0.3 <= lesion.core_fraction <= 0.7
        core = ndimage.binary_erosion(mask, iterations=int((1 - lesion.core_fraction) * diameter / 2 / spacing[1]) + 2)
        if core.any():
            assert np.median(out[core]) > -160  # the solid component threshold
        assert np.percentile(out[mask], 10) < -300  # and a ground-glass rim


def test_insertion_is_seeded_and_several_lesions_do_not_overlap():
    phantom = make_chest(seed=0, nodule=None)
    lung = phantom.masks["lung-right"] | phantom.masks["lung-left"]
    a = insert_lesions(phantom.hu, lung, phantom.spacing, count=3, rng=np.random.default_rng(3),
                       diameters_mm=(15, 40))
    b = insert_lesions(phantom.hu, lung, phantom.spacing, count=3, rng=np.random.default_rng(3),
                       diameters_mm=(15, 40))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    out, union, lesions = a
    assert len(lesions) == 3 and union.sum() == sum(les.voxels for les in lesions)
    assert all(5.0 <= les.diameter_mm <= 40 for les in lesions)
    assert out.dtype == np.float32 and not np.any(union & ~lung)


def test_no_room_and_bad_options_are_value_errors():
    phantom = make_chest(seed=0, nodule=None)
    lung = phantom.masks["lung-right"].copy()
    lung[:12] = lung[15:] = False  # a 15 mm slab of lung
    assert not len(candidate_centres(lung, phantom.spacing, 60.0, attached=False))
    with pytest.raises(ValueError, match="no room"):
        insert_lesion(phantom.hu, lung, phantom.spacing, "solid", 60.0)
    with pytest.raises(ValueError, match="kind"):
        insert_lesion(phantom.hu, lung, phantom.spacing, "cavitary", 20.0)
    with pytest.raises(ValueError, match="5-60 mm"):
        insert_lesion(phantom.hu, lung, phantom.spacing, "solid", 80.0)
    assert abs(SOLID_MEAN_HU - 5.6) < 1e-9  # the measured nodule's mean (scripts/measure_nodule.py)
