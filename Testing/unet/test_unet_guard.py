"""The anatomy guard and the body-region range check (phantoms for exact sides, real CT for the cases
the guard exists for)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.unet.guard import REGIONS, body_regions, check_image, lung_classes

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "phantom-lungs-model"
CARD = {"classes": [{"value": 0, "name": "background"}, {"value": 1, "name": "lung-right"},
                    {"value": 2, "name": "lung-left"}]}


def _chest(direction_x: float = 1.0):
    """A chest phantom as (HU image, right/left labels 1/2); ``direction_x`` -1 stores the columns
    toward the patient's right (the same patient, the other column order)."""
    from medseg.phantom import make_phantom

    ph = make_phantom("chest", seed=3, shape=(6, 128, 128), spacing=(8.0, 2.5, 2.5))
    lab = (ph.masks["lung-right"] * 1 + ph.masks["lung-left"] * 2).astype(np.uint8)
    hu = ph.hu
    if direction_x < 0:
        hu, lab = hu[:, :, ::-1], lab[:, :, ::-1]
    images = []
    for arr in (np.ascontiguousarray(hu, dtype=np.int16), np.ascontiguousarray(lab)):
        im = sitk.GetImageFromArray(arr)
        im.SetSpacing((2.5, 2.5, 8.0))
        im.SetDirection((direction_x, 0, 0, 0, 1, 0, 0, 0, 1))
        images.append(im)
    return images


def test_lung_classes_by_name():
    assert lung_classes(CARD) == {"right": [1], "left": [2], "any": [1, 2]}
    assert lung_classes({"classes": [{"value": 0, "name": "background"}, {"value": 1, "name": "table-headrest"}]})["any"] == []


@pytest.mark.parametrize("direction_x", [1.0, -1.0])
def test_sides_come_from_patient_axes(direction_x):
    image, labels = _chest(direction_x)
    good = check_image(image, labels, CARD)
    assert good.lung_voxels > 1000 and good.wrong_side == 0 and not good.fired
    swapped = sitk.ChangeLabel(labels, {1: 2, 2: 1})
    bad = check_image(image, swapped, CARD)
    assert bad.fired and bad.wrong_side > 0.5 * bad.lung_voxels
    assert "wrong side of the spine axis" in bad.message()


def test_lung_outside_the_body_is_counted():
    image, labels = _chest()
    arr = sitk.GetArrayFromImage(labels)
    arr[:, :6, :40] = 1  # a block of "right lung" in the air in front of the chest
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(labels)
    check = check_image(image, out, CARD)
    assert check.outside_body >= 6 * 6 * 40 * 0.9
    assert check.fired


@pytest.mark.realdata
def test_guard_fires_on_the_phantom_model_and_strict_fails(abdomen_dicom, tmp_path, cli):
    pytest.importorskip("torch")
    from medseg.io import load
    from medseg.unet.predict import AnatomyError, AnatomyWarning, predict

    image, meta = load(abdomen_dicom)
    with pytest.warns(AnatomyWarning, match="anatomy guard"):
        result = predict(image, FIXTURE, meta, device="cpu")
    a = result.anatomy
    assert a.fired and a.lung_voxels > 10_000 and a.below_bases > 0.9 * a.lung_voxels
    assert any(w.startswith("anatomy guard:") for w in result.warnings)
    with pytest.raises(AnatomyError):
        predict(image, FIXTURE, meta, device="cpu", strict=True)
    out = tmp_path / "lungs.nrrd"
    r = cli("predict", abdomen_dicom, "--model", FIXTURE, "-o", out, "--strict")
    assert r.returncode == 2 and "anatomy guard" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


@pytest.mark.realdata
@pytest.mark.parametrize("series, region", [("ct-abdomen-20", "abdomen-pelvis"), ("ct-chest-141", "chest"),
                                            ("ct-head-93", "head"), ("ct-head-tilt-28", "head")])
def test_body_regions_of_real_series(series, region):
    from conftest import shared
    from medseg.preprocess import lps_array
    from medseg.pipeline.steps import convert

    hu, spacing, _ = lps_array(convert(shared(series, "dicom")).image)
    fractions = body_regions(hu, spacing)
    assert set(fractions) == set(REGIONS)
    assert max(fractions, key=fractions.get) == region, fractions


def test_range_check_names_the_body_region():
    from medseg.unet.predict import range_warnings

    image, _ = _chest()
    card = {"name": "lungs", "input_range": {"body_region": ["chest"]}}
    assert not any("body region" in w for w in range_warnings(card, image, {}, None, {"chest": 0.9, "head": 0.1,
                                                                                         "abdomen-pelvis": 0.0}))
    notes = range_warnings(card, image, {}, None, {"chest": 0.0, "head": 0.0, "abdomen-pelvis": 1.0})
    assert any("body region abdomen-pelvis 100 %" in w and "is for chest" in w for w in notes)


def test_anatomical_postprocess_drops_specks_and_labels_outside_the_body():
    from medseg.preprocess import lps_array
    from medseg.unet.predict import anatomical_postprocess

    image, labels = _chest()
    hu, spacing, _ = lps_array(image)
    lab = lps_array(labels)[0].copy()
    lab[:, :4, :30] = 1           # outside the body (air in front of the chest)
    lab[2, 64, 64] = 2            # one voxel: a speck of 0.05 mL inside the body
    out = anatomical_postprocess(lab, hu, spacing, inside_body=True, min_component_ml=1.0)
    assert not out[:, :4, :30].any() and out[2, 64, 64] == 0
    truth = lps_array(labels)[0]
    assert np.count_nonzero(out == 1) >= 0.99 * np.count_nonzero(truth == 1)  # the lungs stay
    assert np.count_nonzero(out == 2) >= 0.99 * np.count_nonzero(truth == 2)
