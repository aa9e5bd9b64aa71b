"""The lung-tumour model: lesion training folders from real CT, input masked to the lung search
region, the shipped model through `medseg predict`, and the per-lesion table."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import SimpleITK as sitk  # noqa: E402
from scipy import ndimage  # noqa: E402

from conftest import shared  # noqa: E402
from medseg.labels import AIR_HU  # noqa: E402
from medseg.measure.lesions import lesion_table, match_lesions  # noqa: E402
from medseg.phantom.lesions import DIAMETER_RANGE_MM, KINDS  # noqa: E402


@pytest.fixture(scope="module")
def chest2():
    from medseg.pipeline.tumour_data import LungSeries

    return LungSeries(shared("ct-chest-2", "dicom"))


@pytest.fixture(scope="module")
def lesion_folder(tmp_path_factory, chest2):
    from medseg.pipeline.dataset import build_dataset

    out = tmp_path_factory.mktemp("tumour") / "ds"
    info = build_dataset([shared("ct-chest-2", "dicom")], out, task="lung-tumour", seed=5)
    return out, info


def test_copies_put_lesions_in_the_lungs_and_air_outside_the_region(chest2):
    hu, mask, lesions = chest2.copy(np.random.default_rng(1), 4)
    assert len(lesions) == 4 and mask.any()
    assert not np.any(mask & ~chest2.lung), "a lesion label outside the classical lung mask"
    assert np.all(hu[~chest2.roi] == AIR_HU), "the model must see nothing outside the search region"
    changed = np.abs(hu - chest2.hu) > 0.5
    near = ndimage.binary_dilation(mask, iterations=6)
    assert not np.any(changed & chest2.roi & ~near), "HU changed away from the lesions"
    for les in lesions:
        assert les.kind in KINDS and DIAMETER_RANGE_MM[0] <= les.diameter_mm <= DIAMETER_RANGE_MM[1]
    solid = [les for les in lesions if les.kind == "solid"]
    for les in solid:
        assert -150 < les.mean_hu < 150  # drawn around the measured 5.6 HU


def test_whole_series_copy_keeps_the_grid_and_the_outside(chest2):
    image, truth, lesions = chest2.full_copy(np.random.default_rng(2), 2)
    assert image.GetSize() == chest2.full.GetSize() and image.GetOrigin() == chest2.full.GetOrigin()
    a, b = sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(chest2.full)
    t = sitk.GetArrayFromImage(truth) > 0
    assert t.any() and len(lesions) == 2
    far = ~ndimage.binary_dilation(t, iterations=8)
    np.testing.assert_array_equal(a[far], b[far])  # nothing masked: an input as the scanner gives it


def test_excluded_slices_get_no_lesion_and_are_left_out(tmp_path):
    from medseg.phantom import write_phantom_study
    from medseg.pipeline.tumour_data import LungSeries

    write_phantom_study(tmp_path / "s", seed=4, kind="chest", shape=(24, 160, 160), spacing=(4.0, 2.5, 2.5),
                        nodule=None)
    s = LungSeries(tmp_path / "s" / "dicom", exclude_z=(8, 11))
    first = s.box[0].start
    skip = slice(8 - first, 12 - first)
    assert s.excluded[skip].all() and s.excluded.sum() == 4
    assert s.runs() == [(0, 8 - first), (12 - first, len(s.hu))]
    for seed in range(3):
        _, mask, _ = s.copy(np.random.default_rng(seed), 3)
        assert mask.any() and not mask[skip].any()


def test_lesion_dataset_records_series_source_and_lesions(lesion_folder):
    out, info = lesion_folder
    saved = json.loads((out / "dataset.json").read_text())
    assert saved["task"] == "lung-tumour" and saved["preprocessing"]["roi"] == "lungs"
    assert saved["head"] == "sigmoid" and [c["name"] for c in saved["classes"]] == ["background", "lung-tumour"]
    assert saved["split"]["val"] and saved["split"]["train"]
    assert not set(saved["split"]["val"]) & set(saved["split"]["train"])
    for f in saved["files"]:
        assert f["series"] == "ct-chest-2" and f["source"] == "real" and f["label_origin"] == "inserted"
        assert f["lesions"] and all(les["kind"] in KINDS for les in f["lesions"])
    assert saved["lesions_inserted"] == sum(len(f["lesions"]) for f in saved["files"])
    # the range check compares whole series: the card must not learn the masked crop's HU
    assert saved["input_range"]["hu_p99"][0] > 300
    image = np.load(out / saved["files"][0]["image"])
    mask = np.load(out / saved["files"][0]["mask"])
    assert mask.any() and image.shape == (2, 176, 240)
    assert image[mask > 0].mean() > image[image > 0].mean() - 0.05  # lesions are denser than the parenchyma


def _always_tumour(folder, roi: str | None = "lungs"):
    """A tiny model whose output is tumour everywhere (large positive bias): what the region lets through."""
    from medseg.unet.card import save_model
    from medseg.unet.model import Architecture, build

    arch = Architecture(depth=2, base=4, head="sigmoid", n_classes=1)
    net = build(arch)
    with torch.no_grad():
        net.out.weight.zero_()
        net.out.bias.fill_(10.0)
    pre = {"window": [-1000.0, 300.0], "spacing_mm": 1.5, "size": [176, 240], "orientation": "LPS"}
    if roi:
        pre["roi"] = roi
    card = {"name": "always", "architecture": arch.to_dict(), "preprocessing": pre,
            "classes": [{"value": 0, "name": "background", "color": [0, 0, 0]},
                        {"value": 1, "name": "lung-tumour", "color": [230, 60, 60]}]}
    return save_model(net, card, folder)


def test_predictions_outside_the_region_are_zero(tmp_path):
    from medseg.errors import ParameterError
    from medseg.io import load
    from medseg.pipeline.steps import lungs, predict as pipeline_predict
    from medseg.unet.predict import predict

    model = _always_tumour(tmp_path / "m")
    image, meta = load(shared("ct-chest-2", "dicom"))
    roi = lungs(image, meta, roi=True).roi
    region = sitk.GetArrayFromImage(roi) > 0
    r = predict(image, model, meta, device="cpu", roi=roi, probabilities=True)
    labels = sitk.GetArrayFromImage(r.labels)
    np.testing.assert_array_equal(labels > 0, region)  # tumour everywhere it may be, nowhere else
    assert np.all(r.probabilities[1][~region] == 0) and np.all(r.probabilities[0][~region] == 255)
    # the pipeline's step makes the region itself for a card that declares it
    again = sitk.GetArrayFromImage(pipeline_predict(image, model, meta, device="cpu").labels)
    np.testing.assert_array_equal(again, labels)
    with pytest.raises(ParameterError, match="region"):
        predict(image, model, meta, device="cpu")


def test_what_lies_outside_the_region_does_not_change_the_output(tmp_path):
    from medseg.io import load
    from medseg.pipeline.steps import lungs
    from medseg.unet.predict import predict

    image, meta = load(shared("ct-chest-2", "dicom"))
    roi = lungs(image, meta, roi=True).roi
    region = sitk.GetArrayFromImage(roi) > 0
    torch.manual_seed(0)
    from medseg.unet.model import Architecture, build

    net = build(Architecture(depth=2, base=4, head="sigmoid", n_classes=1)).eval()
    card = json.loads((_always_tumour(tmp_path / "m") / "model.json").read_text())
    a = predict(image, (net, card), meta, device="cpu", roi=roi, probabilities=True).probabilities
    hu = sitk.GetArrayFromImage(image)
    hu[~region] = 1500  # metal outside the lungs' region
    other = sitk.GetImageFromArray(hu)
    other.CopyInformation(image)
    b = predict(other, (net, card), meta, device="cpu", roi=roi, probabilities=True).probabilities
    np.testing.assert_array_equal(a, b)


def test_two_tiny_epochs_on_lesion_slices(lesion_folder, tmp_path):
    from medseg.unet.train import TrainConfig, train

    out, _ = lesion_folder
    cfg = TrainConfig.from_dict({"epochs": 2, "batch_size": 4, "lr": 1e-2, "arch": {"depth": 3, "base": 4},
                                 "seed": 0, "device": "cpu", "montage": False, "neg_fraction": 0.3})
    result = train(out, tmp_path / "model", cfg)
    card = json.loads((tmp_path / "model" / "model.json").read_text())
    assert result["epochs"] == 2 and card["preprocessing"]["roi"] == "lungs"
    assert 0.0 <= result["best"]["val_dice"] <= 1.0


def test_shipped_model_through_the_cli(tmp_path, cli):
    from medseg.io import load, read_label_image
    from medseg.pipeline.steps import lungs
    from medseg.unet.card import read_card, shipped_models

    if "lung-tumour" not in shipped_models():
        pytest.fail("the lung-tumour model is not shipped in medseg/resources/models")
    card = read_card("lung-tumour")
    assert card["preprocessing"]["roi"] == "lungs" and card["status"] in ("ok", "demo-only")
    assert card["validation"]["folds"] and "known_failures" in card
    out = tmp_path / "tumour.seg.nrrd"
    r = cli("predict", shared("ct-chest-2", "dicom"), "--model", "lung-tumour", "-o", out)
    assert r.returncode == 0, r.stderr
    assert "lung-tumour" in r.stdout and ("lesion 1" in r.stdout or "no lesions found" in r.stdout)
    labels, names = read_label_image(out)
    image, meta = load(shared("ct-chest-2", "dicom"))
    region = sitk.GetArrayFromImage(lungs(image, meta, roi=True).roi) > 0
    assert not np.any(sitk.GetArrayFromImage(labels)[~region])
    assert "lung-tumour" in names.values()


def test_lesion_table_volumes_and_diameters():
    spacing = (2.0, 0.8, 0.8)
    z, y, x = np.ogrid[:40, :100, :100]
    ball = ((z - 20) * spacing[0]) ** 2 + ((y - 50) * spacing[1]) ** 2 + ((x - 30) * spacing[2]) ** 2 <= 15 ** 2
    box = np.zeros_like(ball)
    box[5:10, 10:20, 70:90] = True  # 10 x 8 x 16 mm
    image = sitk.GetImageFromArray((ball | box).astype(np.uint8))
    image.SetSpacing(spacing[::-1])
    rows = lesion_table(image, names={1: "lung-tumour"})
    assert [r["lesion"] for r in rows] == [1, 2] and rows[0]["name"] == "lung-tumour"
    big, small = rows  # a 30 mm ball drawn in voxels: its staircase surface reaches a little past 30 mm
    assert big["volume_ml"] == pytest.approx(4 / 3 * np.pi * 15 ** 3 / 1000, rel=0.02)
    assert 29.0 <= big["max_diameter_mm"] <= 32.5 and 28.5 <= big["max_axial_diameter_mm"] <= 31.0
    assert small["volume_ml"] == pytest.approx(1.28) and small["slices"] == [5, 9]
    # the mesh cuts the box's corners: a little under the corner-to-corner 20.5 / 17.9 mm
    assert 18.5 <= small["max_diameter_mm"] <= 20.5 and 16.5 <= small["max_axial_diameter_mm"] <= 17.9
    assert big["centroid_lps_mm"] == pytest.approx([24.0, 40.0, 40.0], abs=0.1)
    m = match_lesions(ball, ball | box)
    assert m["lesions"] == [{"voxels": int(ball.sum()), "found": True, "dice": 1.0}] and m["false_positives"] == 1
