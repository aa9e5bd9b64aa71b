"""DICOM to HU on the real CTs in ../shared/data."""

from __future__ import annotations

import json

import numpy as np
import SimpleITK as sitk

from medseg.io import load
from medseg.labels import AIR_HU


def test_info_lists_one_ct_series_of_20_slices(abdomen_dicom, cli):
    res = cli("info", abdomen_dicom, "--json")
    assert res.returncode == 0, res.stderr
    listing = json.loads(res.stdout)
    assert len(listing["series"]) == 1
    s = listing["series"][0]
    assert s["modality"] == "CT"
    assert s["slices"] == 20
    assert s["size"] == [512, 512, 20]
    assert np.allclose(s["spacing"], [0.9765625, 0.9765625, 2.0], atol=1e-6)
    # The trap: 3 mm thickness at 2 mm spacing means overlap, which we say, not a gap.
    assert any("overlapping" in w for w in s["warnings"])


def test_info_human_output(abdomen_dicom, cli):
    res = cli("info", abdomen_dicom)
    assert res.returncode == 0, res.stderr
    assert "20 slices" in res.stdout and "512x512x20" in res.stdout


def test_convert_equals_simpleitk_series_reader(abdomen_dicom, tmp_path, cli):
    out = tmp_path / "abdomen.nrrd"
    res = cli("convert", abdomen_dicom, "-o", out)
    assert res.returncode == 0, res.stderr
    ours = sitk.ReadImage(str(out))
    reader = sitk.ImageSeriesReader()
    uid = reader.GetGDCMSeriesIDs(str(abdomen_dicom))[0]
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(abdomen_dicom), uid))
    ref = reader.Execute()
    assert ours.GetSize() == ref.GetSize()
    assert np.allclose(ours.GetOrigin(), ref.GetOrigin(), atol=1e-4)
    assert np.allclose(ours.GetSpacing(), ref.GetSpacing(), atol=1e-4)
    assert np.allclose(ours.GetDirection(), ref.GetDirection(), atol=1e-6)
    assert np.array_equal(sitk.GetArrayViewFromImage(ours), sitk.GetArrayViewFromImage(ref))
    assert ours.GetPixelID() == sitk.sitkInt16


def test_reference_labels_lie_on_the_series_grid(abdomen_dicom, abdomen_reference):
    image, _ = load(abdomen_dicom)
    labels = sitk.ReadImage(str(abdomen_reference))
    assert labels.GetSize() == image.GetSize()
    assert np.allclose(labels.GetOrigin(), image.GetOrigin(), atol=1e-4)
    assert np.allclose(labels.GetSpacing(), image.GetSpacing(), atol=1e-4)
    assert np.allclose(labels.GetDirection(), image.GetDirection(), atol=1e-6)
    # And the labels sit on anatomy: the liver (5) is soft tissue, not air or table.
    hu = sitk.GetArrayViewFromImage(image)
    liver = sitk.GetArrayViewFromImage(labels) == 5
    assert liver.sum() > 1000
    assert 0 < float(np.median(hu[liver])) < 200


def test_abdomen_metadata_has_no_patient_data(abdomen_dicom):
    _, meta = load(abdomen_dicom)
    assert meta["modality"] == "CT" and meta["is_hu"] is True
    assert meta["kvp"] == 120.0 and meta["slice_thickness"] == 3.0
    assert meta["transfer_syntax"] == "1.2.840.10008.1.2.4.90"  # JPEG 2000 lossless, decoded
    text = json.dumps({k: v for k, v in meta.items() if k != "files"})
    for key in ("PatientName", "PatientID", "BirthDate", "patient"):
        assert key not in text


def test_chest_without_modality_converts_to_hu(chest_dicom):
    image, meta = load(chest_dicom)
    assert image.GetSize() == (512, 512, 2)
    assert meta["modality"] == "CT" and meta["is_hu"] is True
    assert any("Modality tag missing" in w for w in meta["warnings"])
    hu = sitk.GetArrayViewFromImage(image)
    # -2048 outside the reconstruction circle becomes air.
    assert hu.min() >= -1100
    assert hu[0, 0, 0] == AIR_HU and hu[1, 5, 5] == AIR_HU


def test_chest_lung_voxel_reads_lung_hu(chest_dicom):
    import pydicom

    image, meta = load(chest_dicom)
    hu = sitk.GetArrayViewFromImage(image)
    raw = pydicom.dcmread(meta["files"][0]).pixel_array
    inside = raw > -2000
    assert (hu[0][~inside] == AIR_HU).all()
    # Lung parenchyma: the median of voxels in (-1000, -500) inside the field of view, well away
    # from the edge of the field, lies in the lung range.
    centre = hu[0, 150:360, 100:420]
    lung = centre[(centre > -1000) & (centre < -500)]
    assert lung.size > 5000
    assert -1000 <= float(np.median(lung)) <= -700
