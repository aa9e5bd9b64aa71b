"""Geometry and rescale values are validated: not finite, not positive, not orthonormal or not
plausible is refused (a damaged slice) or corrected with a warning; never silently wrong."""

from __future__ import annotations

import gzip
import warnings

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.errors import DicomDecodeError, InputError
from medseg.io import discover, load
from robust_corpus import cut, first_line_error, phantom_series, real_slices, run_cli, set_tags

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom's notes on the invalid values written


def _series(tmp_path, n=6):
    return phantom_series(tmp_path / "s", n=n, spacing=(10.0, 1.0, 1.0))


def _refused(tmp_path, victim, *words):
    with pytest.raises(DicomDecodeError) as err:
        load(tmp_path / "s")
    text = str(err.value)
    assert victim.name in text, text
    for w in words:
        assert w.lower() in text.lower(), text
    return text


ONE_SLICE = {
    "position NaN": (dict(ImagePositionPatient=["nan", "0", "20"]), "ImagePositionPatient", "finite"),
    "position inf": (dict(ImagePositionPatient=["0", "inf", "20"]), "ImagePositionPatient", "finite"),
    "position 1e300": (dict(ImagePositionPatient=["0", "0", "1e300"]), "ImagePositionPatient", "from the origin"),
    "position 2 values": (dict(ImagePositionPatient=["0", "0"]), "ImagePositionPatient", "2 value"),
    "orientation 3 values": (dict(ImageOrientationPatient=["1", "0", "0"]), "ImageOrientationPatient", "3 value"),
    "orientation zero": (dict(ImageOrientationPatient=["0"] * 6), "ImageOrientationPatient", "zero"),
    "orientation parallel": (dict(ImageOrientationPatient=["1", "0", "0", "1", "0", "0"]), "orthonormal", ""),
    "orientation skewed": (dict(ImageOrientationPatient=["1", "0", "0", "0.5", "0.866", "0"]), "orthonormal", ""),
    "spacing inf": (dict(PixelSpacing=["inf", "1"]), "PixelSpacing", "finite"),
    "spacing 1e30": (dict(PixelSpacing=["1e30", "1e30"]), "PixelSpacing", "plausible"),
    "spacing 1e-30": (dict(PixelSpacing=["1e-30", "1e-30"]), "PixelSpacing", "plausible"),
    "spacing 0": (dict(PixelSpacing=["0", "1"]), "PixelSpacing", "plausible"),
    "spacing negative": (dict(PixelSpacing=["-1", "1"]), "PixelSpacing", "plausible"),
    "slope inf": (dict(RescaleSlope="inf"), "RescaleSlope", "finite"),
    "slope NaN": (dict(RescaleSlope="nan"), "RescaleSlope", "finite"),
    "intercept 1e30": (dict(RescaleIntercept="1e30"), "RescaleIntercept", "plausible"),
    "bits stored 1": (dict(BitsStored=1, HighBit=0), "BitsStored 1", "plausible"),
    "rows 0": (dict(Rows=0), "Rows", "empty"),
}


@pytest.mark.parametrize("case", sorted(ONE_SLICE))
def test_impossible_value_on_one_slice_is_a_damaged_slice(case, tmp_path):
    tags, *words = ONE_SLICE[case]
    files = _series(tmp_path)
    set_tags(files[2], **tags)
    _refused(tmp_path, files[2], *[w for w in words if w])
    image, meta = load(tmp_path / "s", skip_damaged=True)
    assert image.GetSize() == (32, 32, 6) and image.GetSpacing()[2] == pytest.approx(10.0)
    assert np.isfinite(sitk.GetArrayFromImage(image)).all()
    assert meta["damaged"][0]["file"] == str(files[2])


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_position_not_finite_on_every_slice(value, tmp_path):
    files = _series(tmp_path, n=4)
    for f in files:
        set_tags(f, ImagePositionPatient=["0", "0", value])
    with pytest.raises(DicomDecodeError, match="no usable DICOM slice.*ImagePositionPatient"):
        load(tmp_path / "s")
    line = first_line_error(run_cli("convert", tmp_path / "s", "-o", tmp_path / "o.nrrd"))
    assert "ImagePositionPatient" in line and not (tmp_path / "o.nrrd").exists()


def test_slice_spacing_comes_from_the_positions(tmp_path):
    # The volume the NaN/inf cases would have made (1 mm instead of 10 mm) is never made; a good
    # series gets its 10 mm from the positions.
    _series(tmp_path, n=4)
    image, _ = load(tmp_path / "s")
    assert image.GetSpacing()[2] == pytest.approx(10.0)


def test_slightly_skewed_orientation_is_corrected_with_a_warning(tmp_path):
    files = _series(tmp_path, n=4)
    for f in files:
        set_tags(f, ImageOrientationPatient=["1", "0", "0", "0.01", "1", "0"])
    image, meta = load(tmp_path / "s")
    d = np.asarray(image.GetDirection()).reshape(3, 3)
    assert np.allclose(d.T @ d, np.eye(3), atol=1e-9)
    assert any("not orthonormal" in w and "corrected" in w for w in meta["warnings"])
    out = tmp_path / "o.nrrd"
    assert run_cli("convert", tmp_path / "s", "-o", out).returncode == 0
    assert sitk.ReadImage(str(out)).GetSize() == (32, 32, 4)  # readable back


def test_rounding_noise_in_orientation_is_silent(tmp_path):
    files = _series(tmp_path, n=3)
    for f in files:
        set_tags(f, ImageOrientationPatient=["0.99999", "0", "0", "0", "1.00001", "0"])
    _, meta = load(tmp_path / "s")
    assert not any("orthonormal" in w for w in meta["warnings"])


def test_intercept_missing_on_every_slice_is_said(tmp_path):
    files = phantom_series(tmp_path / "s", n=4, rescale_intercept=0)
    for f in files:
        set_tags(f, RescaleIntercept=None, RescaleSlope=None)
    _, meta = load(tmp_path / "s")
    assert any("RescaleIntercept and RescaleSlope missing" in w and "may not be HU" in w for w in meta["warnings"])
    res = run_cli("convert", tmp_path / "s", "-o", tmp_path / "o.nrrd")
    assert res.returncode == 0 and "RescaleIntercept and RescaleSlope missing" in res.stderr


def test_one_slice_moved_far_is_a_broken_series_not_a_bigger_grid(tmp_path):
    files = _series(tmp_path, n=6)
    set_tags(files[5], ImagePositionPatient=["0", "0", "10050"])  # +10 m: an outlier, not a gap to fill
    found = discover(tmp_path / "s")
    assert found.series[0].geometry.size == (32, 32, 5)  # the listing never plans a 1000-slice grid
    text = _refused(tmp_path, files[5], "from the other 5 slices", "broken position")
    assert "--skip-damaged" in text
    image, meta = load(tmp_path / "s", skip_damaged=True)
    assert image.GetSize() == (32, 32, 5)


def test_real_series_with_a_slice_moved_by_a_million_mm(tmp_path):
    # A 512 x 512 series: growing the grid to the moved slice would take ~50 GB; refused at once.
    files = real_slices("ct-abdomen-20", 4, tmp_path / "s")
    set_tags(files[1], ImagePositionPatient=["0", "0", "1000000"])
    _refused(tmp_path, files[1], "ImagePositionPatient")
    res = run_cli("info", tmp_path / "s")
    assert res.returncode == 0 and "damaged" in res.stdout
    image, _ = load(tmp_path / "s", skip_damaged=True)
    assert image.GetSize()[:2] == (512, 512) and image.GetSize()[2] <= 4


def test_unknown_vr_after_a_bit_flip(tmp_path):
    files = _series(tmp_path, n=4)
    data = bytearray(files[1].read_bytes())
    at = data.find(b"\x18\x00\x50\x00DS")  # SliceThickness (0018,0050), explicit VR
    assert at > 0
    data[at + 4:at + 6] = b"HS"  # not a VR: pydicom raises NotImplementedError when it reads it
    files[1].write_bytes(bytes(data))
    _refused(tmp_path, files[1], "does not parse")
    first_line_error(run_cli("info", tmp_path / "s" / files[1].name))


def test_unknown_vr_in_a_private_element_is_dropped(tmp_path):
    files = _series(tmp_path, n=3)
    for f in files:
        set_tags(f)
    import pydicom

    ds = pydicom.dcmread(files[0])
    ds.add_new(0x00091010, "DS", "1.5")  # a private element
    ds.save_as(files[0])
    data = bytearray(files[0].read_bytes())
    at = data.find(b"\x09\x00\x10\x10DS")
    data[at + 4:at + 6] = b"HS"
    files[0].write_bytes(bytes(data))
    image, _ = load(tmp_path / "s")
    assert image.GetSize()[2] == 3


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_truncated_volume_file_is_refused(suffix, tmp_path):
    _series(tmp_path, n=6)
    whole = tmp_path / f"ct{suffix}"
    assert run_cli("convert", tmp_path / "s", "-o", whole).returncode == 0
    cut(whole, 0.8)
    with pytest.raises(InputError, match="truncated|corrupt|cut short|cannot be read"):
        load(whole)
    line = first_line_error(run_cli("convert", whole, "-o", tmp_path / "o.nrrd"))
    assert whole.name in line


def test_nii_gz_cut_inside_the_voxels_is_not_zero_filled(tmp_path):
    # Real-sized: ITK fills the missing part with zeros and says nothing.
    real_slices("ct-chest-2", 2, tmp_path / "s")
    whole = tmp_path / "chest.nii.gz"
    assert run_cli("convert", tmp_path / "s", "-o", whole).returncode == 0
    data = whole.read_bytes()
    whole.write_bytes(data[: int(len(data) * 0.9)])
    with gzip.open(whole) as f, pytest.raises(EOFError):
        f.read()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InputError, match="chest.nii.gz"):
            load(whole)
