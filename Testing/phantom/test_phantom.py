"""The chest phantom (anatomy, labels, determinism) and its DICOM CT series writer."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from scipy import ndimage

from medseg.labels import BODY, BONE, LUNG_LEFT, LUNG_RIGHT, TABLE_HEADREST
from medseg.phantom import make_chest, write_ct_series, write_phantom_study

SMALL = (12, 64, 64)


@pytest.fixture(scope="module")
def chest():
    return make_chest(seed=0)


@pytest.fixture(scope="module")
def small():
    return make_chest(SMALL, seed=3)


def test_determinism():
    a, b, c = make_chest(SMALL, seed=5), make_chest(SMALL, seed=5), make_chest(SMALL, seed=6)
    assert np.array_equal(a.hu, b.hu) and np.array_equal(a.labels, b.labels)
    assert a.hu.dtype == np.int16 and a.labels.dtype == np.uint8 and a.hu.shape == SMALL
    assert not np.array_equal(a.hu, c.hu)
    # Noise only: with the anatomy fixed, two seeds differ by noise of about the asked size.
    n1 = make_chest(SMALL, seed=1, jitter=0)
    n2 = make_chest(SMALL, seed=2, jitter=0)
    assert np.array_equal(n1.labels, n2.labels)
    diff = (n1.hu.astype(float) - n2.hu)[n1.tissues["muscle"]]
    assert 10.0 < diff.std() < 18.0  # sqrt(2) * 10 HU
    quiet = make_chest(SMALL, seed=1, noise_hu=0, jitter=0)
    assert np.array_equal(quiet.labels, n1.labels)


def test_default_geometry(chest):
    assert chest.hu.shape == (32, 128, 128)
    assert chest.spacing == pytest.approx((5.0, 350 / 128, 350 / 128))
    fov = 128 * chest.spacing[2]
    assert 340 <= fov <= 360
    # Isocentre in the middle of the slice.
    assert chest.origin[0] + 127 * chest.spacing[2] / 2 == pytest.approx(0.0)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_tissue_hu(seed):
    p = make_chest(seed=seed)
    hu, lab, t = p.hu.astype(float), p.labels, p.tissues
    lungs = (lab == LUNG_RIGHT.value) | (lab == LUNG_LEFT.value)
    assert -900 <= hu[lungs].mean() <= -750
    assert -870 <= hu[t["lung_parenchyma"]].mean() <= -830
    assert -130 <= hu[t["fat"]].mean() <= -70
    assert 20 <= hu[t["muscle"]].mean() <= 70
    assert hu[lab == BONE.value].mean() > 150
    assert np.percentile(hu[lab == BONE.value], 1) > 150
    outside = ~p.masks["body"] & ~p.masks["table-headrest"]
    assert -1030 <= hu[outside].mean() <= -970
    assert p.hu.min() >= -1024
    # Table: shells dense, foam light, both outside the body.
    assert hu[t["table_shell"]].mean() > 150 and -950 < hu[t["table_foam"]].mean() < -500


def test_labels(chest):
    lab = chest.labels
    assert set(np.unique(lab)) <= set(range(7))
    for label in (BODY, TABLE_HEADREST, LUNG_RIGHT, LUNG_LEFT, BONE):
        assert (lab == label.value).sum() > 100, label.name
    # Body lies under the other patient labels; the table is outside it.
    body = chest.masks["body"]
    for name in ("lung-right", "lung-left", "bone", "airway"):
        assert not (chest.masks[name] & ~body).any(), name
    table = lab == TABLE_HEADREST.value
    assert table.any() and not (table & body).any()
    # Air gap: no table voxel touches the body, even diagonally.
    grown = ndimage.binary_dilation(body, structure=np.ones((3, 3, 3), bool))
    assert not (grown & table).any()
    # Table is posterior (high row index) and spans every slice.
    rows = np.arange(lab.shape[1])[None, :, None]
    both = table.any(axis=1) & body.any(axis=1)  # (z, x) columns holding both
    assert both.sum() > 100
    top_of_table = np.where(table, rows, 10**6).min(axis=1)
    back_of_body = np.where(body, rows, -1).max(axis=1)
    assert (top_of_table[both] > back_of_body[both] + 1).all()
    assert table.any(axis=(1, 2)).all()


def test_lung_sides_and_taper(chest):
    lab = chest.labels
    cols = np.arange(lab.shape[2])
    right_x = cols[np.nonzero(lab == LUNG_RIGHT.value)[2]].mean()
    left_x = cols[np.nonzero(lab == LUNG_LEFT.value)[2]].mean()
    assert right_x < lab.shape[2] / 2 < left_x  # patient right = low column = image left
    # Physical x of the right lung is negative in LPS (+x = patient left).
    assert chest.origin[0] + right_x * chest.spacing[2] < 0
    area = ((lab == LUNG_RIGHT.value) | (lab == LUNG_LEFT.value)).sum(axis=(1, 2))
    nz = lab.shape[0]
    assert area[int(0.9 * nz)] < 0.5 * area[int(0.4 * nz)]  # apex (top, high z) is small
    assert area[-1] == 0 or area[-1] < area[int(0.8 * nz)]


def test_images(chest):
    img, lab = chest.to_image(), chest.labels_image()
    assert img.GetSize() == (128, 128, 32) and lab.GetSize() == img.GetSize()
    assert img.GetSpacing() == pytest.approx(chest.spacing[::-1])
    assert img.GetOrigin() == pytest.approx(chest.origin) and lab.GetOrigin() == img.GetOrigin()
    assert img.GetDirection() == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
    assert np.array_equal(sitk.GetArrayFromImage(img), chest.hu)
    assert lab.GetPixelID() == sitk.sitkUInt8


def _read_series(folder):
    names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder))
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(names)
    return reader.Execute()


REQUIRED = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID",
            "Modality", "PatientName", "PatientID", "StudyDate", "SeriesNumber", "InstanceNumber",
            "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness", "Rows",
            "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "RescaleIntercept",
            "RescaleSlope", "RescaleType", "PhotometricInterpretation", "SamplesPerPixel", "ImageType", "KVP",
            "ConvolutionKernel", "WindowCenter", "WindowWidth", "PixelData")


def test_dicom_series_roundtrip(small, tmp_path):
    files = write_ct_series(small.hu, small.spacing, small.origin, tmp_path, seed=3)
    assert [f.name for f in files] == [f"IM{k:04d}.dcm" for k in range(SMALL[0])]
    normal = np.array([0.0, 0.0, 1.0])
    uids = set()
    for k, f in enumerate(files):
        ds = pydicom.dcmread(f)
        for tag in REQUIRED:
            assert tag in ds, tag
        assert ds.file_meta.MediaStorageSOPClassUID == pydicom.uid.CTImageStorage == ds.SOPClassUID
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert ds.Modality == "CT" and ds.RescaleType == "HU" and list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
        assert ds.InstanceNumber == k + 1
        expect = np.array(small.origin) + k * small.spacing[0] * normal
        assert np.allclose([float(v) for v in ds.ImagePositionPatient], expect, atol=1e-4)
        assert [float(v) for v in ds.PixelSpacing] == pytest.approx(small.spacing[1:])
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert (ds.Rows, ds.Columns) == SMALL[1:]
        values = ds.pixel_array.astype(float) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        assert np.array_equal(values, small.hu[k])
        uids.add(ds.SOPInstanceUID)
    assert len(uids) == len(files)
    assert all(len(u) <= 64 and pydicom.uid.UID(u).is_valid for u in uids | {ds.SeriesInstanceUID, ds.StudyInstanceUID})
    # Same call, same bytes (UIDs from the seed).
    again = write_ct_series(small.hu, small.spacing, small.origin, tmp_path / "again", seed=3)
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(files, again))
    image = _read_series(tmp_path)
    assert image.GetOrigin() == pytest.approx(small.origin, abs=1e-4)
    assert image.GetSpacing() == pytest.approx(small.spacing[::-1], abs=1e-4)
    assert np.array_equal(sitk.GetArrayFromImage(image), small.hu)


@pytest.mark.parametrize("order", ["reversed", "random"])
def test_dicom_shuffled_names_and_wrong_instance_numbers(small, tmp_path, order):
    files = write_ct_series(small.hu, small.spacing, small.origin, tmp_path, seed=4, shuffle_names=True,
                            instance_numbers=order)
    assert not any(f.name.startswith("IM") for f in files)
    numbers = [pydicom.dcmread(f, stop_before_pixels=True).InstanceNumber for f in files]
    assert sorted(numbers) == list(range(1, SMALL[0] + 1))
    assert numbers != sorted(numbers)
    image = _read_series(tmp_path)
    assert image.GetOrigin() == pytest.approx(small.origin, abs=1e-4)
    assert np.array_equal(sitk.GetArrayFromImage(image), small.hu)


def test_dicom_options(small, tmp_path):
    # 12 bits stored, implicit VR, padding with a signed stored value, a permuted direction.
    pad = np.zeros(SMALL, bool)
    pad[:, :3, :] = True
    files = write_ct_series(small.hu, small.spacing, small.origin, tmp_path / "a", bits_stored=12,
                            transfer_syntax=pydicom.uid.ImplicitVRLittleEndian)
    ds = pydicom.dcmread(files[0])
    assert ds.BitsStored == 12 and ds.HighBit == 11 and ds.PixelRepresentation == 0
    assert np.array_equal(ds.pixel_array.astype(int) - 1024, small.hu[0])
    files = write_ct_series(small.hu, small.spacing, small.origin, tmp_path / "b", pixel_padding_value=-2000,
                            padding_mask=pad)
    ds = pydicom.dcmread(files[1])
    assert ds.PixelRepresentation == 1 and ds.PixelPaddingValue == -2000
    arr = ds.pixel_array
    assert (arr[:3] == -2000).all() and np.array_equal(arr[3:].astype(int) - 1024, small.hu[1, 3:])
    with pytest.raises(ValueError):
        write_ct_series(small.hu + 4000, small.spacing, small.origin, tmp_path / "c", bits_stored=12)
    # A non-identity direction: slices step along the normal (third column).
    d = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], float)  # columns: row dir, column dir, normal
    files = write_ct_series(small.hu[:3], small.spacing, small.origin, tmp_path / "d", direction=d)
    ipps = [np.array([float(v) for v in pydicom.dcmread(f).ImagePositionPatient]) for f in files]
    assert np.allclose(ipps[1] - ipps[0], small.spacing[0] * d[:, 2])


def test_rle_transfer_syntax(small, tmp_path):
    files = write_ct_series(small.hu[:2], small.spacing, small.origin, tmp_path,
                            transfer_syntax=pydicom.uid.RLELossless)
    ds = pydicom.dcmread(files[1])
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.RLELossless
    assert np.array_equal(ds.pixel_array.astype(int) - 1024, small.hu[1])


def test_write_phantom_study(tmp_path):
    paths = write_phantom_study(tmp_path, seed=2, shape=SMALL, shuffle_names=True, instance_numbers="random")
    phantom = paths["phantom"]
    assert paths["dicom"].is_dir() and len(paths["files"]) == SMALL[0]
    labels = sitk.ReadImage(str(paths["labels"]))
    series = _read_series(paths["dicom"])
    assert labels.GetSize() == series.GetSize()
    assert labels.GetOrigin() == pytest.approx(series.GetOrigin(), abs=1e-4)
    assert labels.GetSpacing() == pytest.approx(series.GetSpacing(), abs=1e-4)
    assert labels.GetDirection() == pytest.approx(series.GetDirection())
    assert np.array_equal(sitk.GetArrayFromImage(labels), phantom.labels)
    assert np.array_equal(sitk.GetArrayFromImage(series), phantom.hu)
    info = json.loads(paths["labels_json"].read_text())
    assert {d["value"]: d["name"] for d in info["labels"]}[LUNG_RIGHT.value] == "lung-right"
    assert info["seed"] == 2 and info["shape_zyx"] == list(SMALL)


def test_out_of_field_padding(tmp_path):
    paths = write_phantom_study(tmp_path, seed=0, shape=SMALL, fov_diameter_mm=330)
    p = paths["phantom"]
    assert p.padding_mask is not None and p.padding_mask[:, 0, 0].all() and not p.padding_mask[:, 32, 32].any()
    assert (p.hu[p.padding_mask] == -1024).all() and (p.labels[p.padding_mask] == 0).all()
    ds = pydicom.dcmread(paths["files"][0])
    assert ds.PixelPaddingValue == -2000 and ds.pixel_array[0, 0] == -2000
