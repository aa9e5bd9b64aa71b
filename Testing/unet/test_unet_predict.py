"""U-Net inference and export: labels on the input grid, probabilities, range warnings, parity."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import SimpleITK as sitk  # noqa: E402

from medseg.io import load, read_label_image  # noqa: E402
from medseg.unet.predict import OutOfRangeWarning, postprocess, predict, range_warnings  # noqa: E402
from unet_helpers import tiny_data, tiny_model  # noqa: E402,F401


def _same_grid(a: sitk.Image, b: sitk.Image) -> bool:
    return (a.GetSize() == b.GetSize() and a.GetOrigin() == b.GetOrigin() and a.GetSpacing() == b.GetSpacing()
            and a.GetDirection() == b.GetDirection())


@pytest.fixture(scope="module")
def study(tiny_data):
    return load(tiny_data.parent / "s0" / "dicom")


def test_prediction_geometry_equals_the_input(tiny_model, study):
    image, meta = study
    result = predict(image, tiny_model, meta, device="cpu", tta=True, batch_size=3)
    assert _same_grid(result.labels, image) and result.labels.GetPixelID() == sitk.sitkUInt8
    assert set(np.unique(sitk.GetArrayViewFromImage(result.labels))) <= {0, 1, 2}
    # Another orientation (rows and columns flipped: RAS-like) and another in-plane size: the
    # labels come back on that grid, and they are the same voxels' labels.
    flipped = sitk.Flip(image, [True, True, False])
    other = predict(flipped, tiny_model, meta, device="cpu", tta=True)
    assert _same_grid(other.labels, flipped)
    back = sitk.GetArrayFromImage(sitk.Flip(other.labels, [True, True, False]))
    assert np.array_equal(back, sitk.GetArrayFromImage(result.labels))
    cropped = image[5:40, 3:47, :]
    assert _same_grid(predict(cropped, tiny_model, meta, device="cpu").labels, cropped)


def test_probabilities_in_memory_and_memory_mapped(tiny_model, study, tmp_path):
    image, meta = study
    mem = predict(image, tiny_model, meta, device="cpu", probabilities=True)
    nz, ny, nx = sitk.GetArrayViewFromImage(image).shape
    assert mem.probabilities.shape == (3, nz, ny, nx) and mem.probabilities.dtype == np.uint8
    total = mem.probabilities.astype(int).sum(0)
    assert total.min() >= 253 and total.max() <= 257  # softmax in 0..255 with rounding
    assert np.array_equal(mem.probabilities.argmax(0) > 0, sitk.GetArrayViewFromImage(mem.labels) > 0) or \
        np.mean((mem.probabilities.argmax(0) > 0) != (sitk.GetArrayViewFromImage(mem.labels) > 0)) < 0.01
    path = tmp_path / "p.npy"
    mapped = predict(image, tiny_model, meta, device="cpu", probabilities=path)
    assert isinstance(mapped.probabilities, np.memmap)
    assert np.array_equal(np.load(path, mmap_mode="r"), mem.probabilities)


def test_predict_command_writes_named_segments(tiny_model, tiny_data, tmp_path):
    from medseg.cli import unet as commands

    out = tmp_path / "pred.seg.nrrd"
    lines, notes = commands.predict(tiny_data.parent / "s1" / "dicom", str(tiny_model), out, device="cpu",
                                    probabilities=tmp_path / "p.nrrd", largest_component=True, fill_holes=True)
    labels, names = read_label_image(out)
    assert names == {1: "lung-right", 2: "lung-left"} and "slices/s" in lines[0]
    probs = sitk.ReadImage(str(tmp_path / "p.nrrd"))
    assert probs.GetNumberOfComponentsPerPixel() == 3 and _same_grid(probs, labels)


def test_out_of_range_warning(tiny_model, study):
    image, meta = study
    assert range_warnings(json.loads((tiny_model / "model.json").read_text()), image, meta) == []
    fine = sitk.Image(image)
    fine.SetSpacing((0.5, 0.5, image.GetSpacing()[2]))  # 0.5 mm pixels: far finer than the phantoms' 7 mm
    with pytest.warns(OutOfRangeWarning) as caught:
        result = predict(fine, tiny_model, {**meta, "modality": "MR"}, device="cpu")
    assert [str(w.message) for w in caught] == result.warnings
    assert any("pixel spacing 0.5" in w for w in result.warnings)
    assert any("modality MR" in w for w in result.warnings)
    bright = sitk.Cast(image, sitk.sitkFloat32) + 1500.0
    with pytest.warns(OutOfRangeWarning) as caught:
        result = predict(bright, tiny_model, meta, device="cpu")
    assert any(w.startswith("HU p1 ") for w in result.warnings) and len(caught) == len(result.warnings)


def test_card_postprocess_defaults(tiny_model, study, tmp_path):
    import shutil

    from medseg.unet.card import update_card

    image, meta = study
    folder = tmp_path / "m"
    shutil.copytree(tiny_model, folder)
    update_card(folder, postprocess={"fill_holes": True, "largest_component": True})
    by_card = sitk.GetArrayFromImage(predict(image, folder, meta, device="cpu").labels)
    asked = sitk.GetArrayFromImage(predict(image, tiny_model, meta, device="cpu", fill_holes=True,
                                           largest_component=True).labels)
    raw = sitk.GetArrayFromImage(predict(image, folder, meta, device="cpu", fill_holes=False,
                                         largest_component=False).labels)
    assert np.array_equal(by_card, asked)
    assert np.array_equal(raw, sitk.GetArrayFromImage(predict(image, tiny_model, meta, device="cpu").labels))


def test_postprocess():
    labels = np.zeros((3, 10, 10), np.uint8)
    labels[:, 1:6, 1:6] = 1
    labels[1, 3, 3] = 0  # a hole
    labels[:, 8, 8] = 1  # a small separate piece
    out = postprocess(labels, largest_component=True, fill_holes=True)
    assert out[1, 3, 3] == 1 and out[0, 8, 8] == 0 and out[:, 1:6, 1:6].all()


def test_postprocess_keeps_a_dome_out_of_the_lung():
    # z grows to the head (LPS): the dome's island on slices 1-2 sits on tissue outside the lung on
    # slice 0; the vessel's hole on slice 2 has lung below it.
    labels = np.zeros((3, 20, 20), np.uint8)
    labels[:, 2:18, 2:18] = 1
    labels[0, 6:, 6:12] = 0  # the dome below, open to the abdomen on this slice
    labels[1, 7:11, 7:11] = 0  # its island one slice up...
    labels[2, 8:10, 8:10] = 0  # ...and its top
    labels[2, 14, 14] = 0  # a vessel
    out = postprocess(labels, fill_holes=True)
    assert not out[1, 7:11, 7:11].any() and not out[2, 8:10, 8:10].any()
    assert out[2, 14, 14] == 1


@pytest.mark.parametrize("suffix", [".pt", ".onnx"])
def test_export_parity(tiny_model, tmp_path, suffix):
    if suffix == ".onnx":
        pytest.importorskip("onnx")
        pytest.importorskip("onnxruntime")
    from medseg.unet.export import export, parity

    path = export(tiny_model, tmp_path / f"m{suffix}")
    assert path.is_file() and json.loads((tmp_path / f"m{suffix}.json").read_text())["export"]["file"] == path.name
    assert parity(tiny_model, path) < 1e-4
    assert parity(tiny_model, path, n=3, size=(32, 64)) < 1e-4  # dynamic batch, height and width


def test_export_unknown_format(tiny_model, tmp_path):
    from medseg.errors import ParameterError
    from medseg.unet.export import export

    with pytest.raises(ParameterError, match="unknown export format"):
        export(tiny_model, tmp_path / "m.h5")
