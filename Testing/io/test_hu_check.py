"""HU sanity: stored values that cannot be HU are found from the histogram, corrected once with a
warning, overridable; values that look like HU are never touched; the CT gate is robust."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from conftest import shared

from medseg.autolabel.checks import looks_like_hu
from medseg.io import discover, load
from medseg.io.hu_check import inspect_values
from medseg.io.loader import series_hu_check

REAL = ("ct-abdomen-20", "ct-chest-2", "ct-chest-141", "ct-pelvis-chest-134", "ct-head-tilt-28")


@pytest.fixture(scope="module")
def head93():
    folder = shared("ct-head-93", "dicom")
    image, meta = load(folder)
    return folder, sitk.GetArrayFromImage(image), meta


def test_head93_is_corrected_to_hu(head93):
    _, hu, meta = head93
    check = meta["hu_check"]
    assert check["verdict"] == "offset" and check["corrected"] and check["shift_hu"] == -1024
    assert meta["is_hu"] is True
    assert np.percentile(hu, 5) < -900  # air near -1000
    # Brain: the soft-tissue peak of a head, the densest 10 HU bin in -100..200 HU.
    counts, edges = np.histogram(hu, bins=np.arange(-100, 201, 10))
    brain = edges[np.argmax(counts)] + 5
    print(f"ct-head-93: 5th percentile {np.percentile(hu, 5):.0f} HU, brain peak {brain:.0f} HU; {check['evidence']}")
    assert 0 <= brain <= 80
    notes = [w for w in meta["warnings"] if "cannot be HU" in w]
    assert len(notes) == 1 and "-1024" in notes[0] and "air peak" in notes[0]
    assert check["percentiles"]["p1"] >= 0  # the percentiles are of the stored values, before correction


def test_rescale_intercept_0_reproduces_the_stored_values(head93, tmp_path, cli):
    folder, hu, meta = head93
    out = tmp_path / "raw.nrrd"
    res = cli("convert", folder, "-o", out, "--rescale-intercept", "0")
    assert res.returncode == 0, res.stderr
    assert "rescale set by the user" in res.stderr and "corrected by" not in res.stderr
    raw = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    for k in (0, len(meta["files"]) // 2, len(meta["files"]) - 1):  # the image's slices follow meta["files"]
        ds = pydicom.dcmread(meta["files"][k])
        np.testing.assert_array_equal(raw[k], ds.pixel_array.astype(raw.dtype))
    np.testing.assert_array_equal(raw.astype(np.int32) - 1024, hu.astype(np.int32))
    # Kept as given, the values go to the CT gate, which refuses them without --force.
    res = cli("clean", folder, "-o", tmp_path / "clean.nrrd", "--rescale-intercept", "0")
    assert res.returncode == 2 and "do not look like HU" in res.stderr
    # The stored values written to a volume file get the same check as the DICOM: corrected, once.
    res = cli("clean", out, "-o", tmp_path / "clean.nrrd")
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("corrected by -1024") == 1


def test_info_shows_the_finding_for_dicom_and_for_volume_files(head93, tmp_path, cli):
    folder, _, _ = head93
    res = cli("info", folder, "--json")
    assert res.returncode == 0, res.stderr
    series = json.loads(res.stdout)["series"][0]
    assert series["hu_check"]["verdict"] == "offset" and series["hu_check"]["slices_sampled"] == 12
    res = cli("info", folder)
    assert "HU check: values cannot be HU; convert corrects them by -1024" in res.stdout
    out = tmp_path / "head.nrrd"
    assert cli("convert", folder, "-o", out).returncode == 0
    res = cli("info", out, "--json")
    assert res.returncode == 0, res.stderr
    volume = json.loads(res.stdout)["volume"]
    assert volume["size"] == [64, 64, 93] and volume["hu_check"]["verdict"] == "hu"
    assert "volume file" in cli("info", out).stdout


def test_offset_volume_file_gets_the_same_check(head93, tmp_path):
    _, hu, meta = head93
    stored = sitk.GetImageFromArray((hu.astype(np.int32) + 1024).astype(np.int16))
    path = tmp_path / "stored.nii.gz"
    sitk.WriteImage(stored, str(path))
    image, vmeta = load(path)
    assert vmeta["hu_check"]["verdict"] == "offset" and vmeta["hu_check"]["corrected"]
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), hu)
    assert sum("cannot be HU" in w for w in vmeta["warnings"]) == 1


@pytest.mark.parametrize("name", REAL)
def test_real_series_in_hu_are_never_corrected(name):
    found = discover(shared(name, "dicom"))
    check = series_hu_check(found.series[0])
    assert check["verdict"] == "hu" and not check["corrected"], check["evidence"]


def test_values_without_air_are_never_shifted():
    rng = np.random.default_rng(0)
    brain_crop = np.concatenate([rng.normal(35, 8, 90_000), rng.uniform(300, 2000, 10_000)])  # HU, no air
    assert inspect_values(brain_crop).verdict == "unclear"
    mr = rng.gamma(2.0, 300.0, 100_000)  # MR intensities >= 0
    assert inspect_values(mr).verdict != "hu"
    offset = np.concatenate([rng.normal(24, 10, 40_000), rng.normal(1060, 15, 50_000), rng.uniform(1300, 2500, 10_000)])
    assert inspect_values(offset).verdict == "offset"
    assert inspect_values(offset - 1024).verdict == "hu"


def test_the_ct_gate_takes_air_below_minus_1100_hu(chest_dicom, tmp_path, cli):
    """Some scanners put part of the air at -1200 HU and lower: the gate must not refuse them."""
    image, _ = load(chest_dicom)
    hu = sitk.GetArrayFromImage(image).astype(np.int16)
    air = np.flatnonzero(hu.ravel() <= -950)
    rng = np.random.default_rng(7)
    moved = rng.choice(air, size=int(0.04 * air.size), replace=False)  # 4 % of the air
    flat = hu.ravel()
    flat[moved] = rng.integers(-1250, -1199, size=moved.size)
    assert hu.min() <= -1200
    shifted = sitk.GetImageFromArray(hu)
    shifted.CopyInformation(image)
    path = tmp_path / "air-1200.nrrd"
    sitk.WriteImage(shifted, str(path))
    assert looks_like_hu(hu)
    for command in ("clean", "lungs", "autolabel"):
        res = cli(command, path, "-o", tmp_path / f"{command}.nrrd")
        assert res.returncode == 0, (command, res.stderr)
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "lungs.nrrd")))
    assert labels.sum() > 50_000  # and the lungs are found as on the original
