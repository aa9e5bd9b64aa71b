"""Enhanced / multi-frame CT: a multi-frame CT made from a phantom converts
equal to the single-frame version, values and geometry; per-frame position, orientation and
rescale are read from the functional groups; each file is decoded once."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import JPEG2000Lossless, RLELossless, UID

from medseg.errors import DicomDecodeError
from medseg.io import discover, load
from medseg.io.dicom import pixels as dicom_pixels
from medseg.phantom import make_chest
from medseg.phantom.dicom_codecs import encoder_missing
from medseg.phantom.dicom_enhanced import write_enhanced_ct
from medseg.phantom.dicom_variants import tilted_positions
from medseg.phantom.dicom_writer import write_ct_series

OBLIQUE = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # sagittal-ish stack: columns i, j, normal


@pytest.fixture(scope="module")
def phantom():
    return make_chest((10, 64, 64), seed=6, fov_diameter_mm=320.0)


@pytest.fixture(scope="module")
def single(phantom, tmp_path_factory):
    folder = tmp_path_factory.mktemp("single")
    write_ct_series(phantom.hu, phantom.spacing, phantom.origin, folder, pixel_padding_value=-2000,
                    padding_mask=phantom.padding_mask)
    return load(folder)


def _same(a: sitk.Image, b: sitk.Image) -> None:
    assert a.GetSize() == b.GetSize() and a.GetPixelID() == b.GetPixelID()
    assert np.allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-4)
    assert np.allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-6)
    assert np.allclose(a.GetDirection(), b.GetDirection(), atol=1e-6)
    assert np.array_equal(sitk.GetArrayViewFromImage(a), sitk.GetArrayViewFromImage(b))


@pytest.mark.parametrize("options", [
    {},
    {"frame_order": "random", "per_frame_orientation": True},
    {"frame_order": "reversed", "per_frame_rescale": True},
    {"transfer_syntax": RLELossless, "frame_order": "random"},
    {"transfer_syntax": JPEG2000Lossless},
], ids=["shared-groups", "per-frame-orientation-shuffled", "per-frame-rescale", "rle", "j2k"])
def test_enhanced_ct_equals_single_frame(options, phantom, single, tmp_path):
    syntax = options.get("transfer_syntax")
    if syntax and encoder_missing(syntax):
        pytest.skip(f"{UID(syntax).name} cannot be encoded here: {encoder_missing(syntax)}")
    path = write_enhanced_ct(phantom.hu, phantom.spacing, phantom.origin, tmp_path / "enhanced.dcm",
                             pixel_padding_value=-2000, padding_mask=phantom.padding_mask, **options)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert ds.SOPClassUID == pydicom.uid.EnhancedCTImageStorage and int(ds.NumberOfFrames) == 10
    image, meta = load(path)
    _same(image, single[0])
    assert meta["multiframe"] and meta["slices"] == 10 and meta["files"] == [str(path)]
    assert meta["regularized"] is None and not meta["warnings"]
    listing = discover(tmp_path).series[0].summary()
    assert listing["slices"] == 10 and listing["files"] == 1


def test_per_frame_rescale_values(phantom, tmp_path):
    slopes = np.array([1.0, 0.5, 0.25, 1.0, 0.5, 0.25, 1.0, 0.5, 0.25, 1.0])
    intercepts = np.array([-1024.0, -1024.5, -1000.25] * 3 + [-1024.0])
    path = write_enhanced_ct(phantom.hu, phantom.spacing, phantom.origin, tmp_path / "r.dcm", rescale_slope=slopes,
                             rescale_intercept=intercepts, frame_order="random")
    image, meta = load(path)
    assert image.GetPixelID() == sitk.sitkFloat32
    assert np.array_equal(sitk.GetArrayViewFromImage(image), phantom.hu.astype(np.float32))
    assert any("vary across slices" in w for w in meta["warnings"])


def test_oblique_and_tilted_multiframe(phantom, tmp_path):
    # Oblique orientation: the same geometry as single-frame files with that direction.
    path = write_enhanced_ct(phantom.hu, phantom.spacing, phantom.origin, tmp_path / "o" / "o.dcm", direction=OBLIQUE,
                             frame_order="random")
    write_ct_series(phantom.hu, phantom.spacing, phantom.origin, tmp_path / "os", direction=OBLIQUE)
    _same(load(path)[0], load(tmp_path / "os")[0])
    # Tilted per-frame positions go through the same regularisation as single-frame tilt.
    positions = tilted_positions(phantom.origin, phantom.spacing[0], 10, 12.0)
    path = write_enhanced_ct(phantom.hu, phantom.spacing, phantom.origin, tmp_path / "t" / "t.dcm", positions=positions)
    write_ct_series(phantom.hu, phantom.spacing, phantom.origin, tmp_path / "ts", positions=positions)
    (mf, meta), (sf, _) = load(path), load(tmp_path / "ts")
    _same(mf, sf)
    assert meta["regularized"]["reason"] == "tilt" and abs(meta["regularized"]["tilt_deg"] - 12.0) < 0.05


def test_each_file_is_decoded_once(phantom, tmp_path, monkeypatch):
    path = write_enhanced_ct(phantom.hu, phantom.spacing, phantom.origin, tmp_path / "e.dcm")
    calls = []
    real = dicom_pixels._stored_values  # the one place pixel data are decoded
    monkeypatch.setattr(dicom_pixels, "_stored_values", lambda ds: calls.append(ds.filename) or real(ds))
    image, _ = load(path)
    assert calls == [str(path)] and image.GetSize()[2] == 10


def test_highdicom_legacy_converted_enhanced_ct(phantom, single, tmp_path):
    """An independent writer: highdicom's Legacy Converted Enhanced CT of the single-frame series."""
    hd = pytest.importorskip("highdicom", reason="highdicom (the dicomseg extra) is not installed")
    files = write_ct_series(phantom.hu, phantom.spacing, phantom.origin, tmp_path / "src", pixel_padding_value=-2000,
                            padding_mask=phantom.padding_mask, instance_numbers="random")
    legacy = hd.legacy.LegacyConvertedEnhancedCTImage([pydicom.dcmread(f) for f in files],
                                                      series_instance_uid=hd.UID(), series_number=9,
                                                      sop_instance_uid=hd.UID(), instance_number=1)
    (tmp_path / "lc").mkdir()
    legacy.save_as(tmp_path / "lc" / "legacy.dcm")
    _same(load(tmp_path / "lc")[0], single[0])


def test_broken_multiframe_files(phantom, tmp_path):
    path = write_enhanced_ct(phantom.hu, phantom.spacing, phantom.origin, tmp_path / "a" / "e.dcm")
    ds = pydicom.dcmread(path)
    del ds.PerFrameFunctionalGroupsSequence[3].PlanePositionSequence
    ds.save_as(tmp_path / "a" / "e.dcm")
    with pytest.raises(DicomDecodeError, match="frame 4 has no position"):  # a damaged slice, not a non-image
        load(tmp_path / "a")
    path = write_enhanced_ct(phantom.hu, phantom.spacing, phantom.origin, tmp_path / "b" / "e.dcm")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 3000])  # the last frames are cut off
    with pytest.raises(DicomDecodeError, match="e.dcm"):
        load(tmp_path / "b")
