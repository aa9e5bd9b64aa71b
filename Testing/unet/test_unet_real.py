"""The shipped models against real CT (skips without ../shared/data): the acceptance figures the
lung model's card records, the anatomy guard on it, and cards whose status follows their numbers."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

import SimpleITK as sitk  # noqa: E402

from medseg.unet.card import read_card, shipped_models  # noqa: E402

CHEST2_RIGHT, CHEST2_LEFT = 64752, 36536  # lungmask's voxel counts on ct-chest-2
BARS = {"lungs": 0.95, "table-headrest": 0.90}
needs_lungs = pytest.mark.skipif("lungs" not in shipped_models(), reason="the lungs model is not installed")


@pytest.mark.realdata
@needs_lungs
def test_lungs_model_finds_no_lung_in_the_abdomen(abdomen_dicom):
    from medseg.io import load
    from medseg.unet.predict import predict

    image, meta = load(abdomen_dicom)
    result = predict(image, "lungs", meta, device="cpu")
    voxels = int(np.count_nonzero(sitk.GetArrayViewFromImage(result.labels)))
    assert voxels < 100
    assert result.anatomy is not None and not result.anatomy.fired
    assert any("body region abdomen-pelvis" in w for w in result.warnings)  # a chest model says so
    recorded = read_card("lungs")["real_data"]["acceptance"]["ct-abdomen-20"]
    assert abs(recorded["lung_voxels"] - voxels) <= 20 and recorded["passes"]


@pytest.mark.realdata
@needs_lungs
def test_lungs_model_on_ct_chest_2(chest_dicom):
    from medseg.io import load
    from medseg.unet.predict import predict

    image, meta = load(chest_dicom)
    result = predict(image, "lungs", meta, device="cpu")
    labels = sitk.GetArrayViewFromImage(result.labels)
    right, left = int(np.count_nonzero(labels == 1)), int(np.count_nonzero(labels == 2))
    recorded = read_card("lungs")["real_data"]["acceptance"]["ct-chest-2"]
    # The card's figure is what this run gives (other CPUs may round a few edge voxels apart).
    assert abs(right - recorded["right_voxels"]) <= 0.005 * right
    assert abs(left - recorded["left_voxels"]) <= 0.005 * left
    assert right > left > 0 and not result.anatomy.fired  # sides right: the right lung is the larger here
    within = abs(right - CHEST2_RIGHT) <= 0.05 * CHEST2_RIGHT and abs(left - CHEST2_LEFT) <= 0.05 * CHEST2_LEFT
    assert recorded["passes"] == within


@pytest.mark.realdata
@needs_lungs
def test_lungs_model_leaves_the_liver_dome_out():
    from conftest import liver_dome_reference, shared

    from medseg.io import load
    from medseg.preprocess import lps_array
    from medseg.unet.predict import predict

    image, meta = load(shared("ct-pelvis-chest-134", "dicom"))
    result = predict(image, "lungs", meta, device="cpu")
    hu = lps_array(image)[0]
    dome = liver_dome_reference(hu)
    share = float((lps_array(result.labels)[0] == 1)[dome].mean())
    print(f"ct-pelvis-chest-134: liver dome {int(dome.sum())} voxels, {share:.1%} labelled right lung by the model")
    assert dome.sum() > 3000 and share <= 0.2


@pytest.mark.parametrize("name", sorted(BARS))
def test_shipped_card_status_follows_its_numbers(name):
    if name not in shipped_models():
        pytest.skip(f"{name} is not installed")
    card = read_card(name)
    table = card.get("validation") or {}
    rows = table.get("rows", [])
    scored = [r["dice"] for r in rows if r.get("dice") is not None]
    if scored:
        assert table["mean_dice"] == pytest.approx(np.mean(scored), abs=1e-3)
    accept = (card.get("real_data") or {}).get("acceptance", {})
    ok = bool(scored) and table.get("complete") and table["mean_dice"] >= BARS[name] \
        and all(a["passes"] for a in accept.values())
    assert card["status"] == ("validated" if ok else "demo-only"), card.get("status_reason")
    if card["status"] == "demo-only":
        assert card["status_reason"]
    comp = card["training"]["composition"]
    assert comp["real"] >= comp["phantom"] and comp["real"] + comp["phantom"] == comp["slices"]
    assert card["training"]["synthetic"] is False and "train_default_models.sh" in card["training"]["command"]
    assert card["training"]["train_wall_seconds"] > 0
    assert card["input_range"]["body_region"] and card["known_failures"]
    assert card["weights"]["bytes"] < 5_000_000
