"""``write_phantom_study``'s test options, each written in one call and loaded back:
noise and shuffled names, gantry tilt, missing slices and uneven spacing, a compressed transfer
syntax, multi-frame output, and a folder mixing a localizer, a second series and a DICOMDIR."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit, UID
from scipy import ndimage

from medseg.errors import DependencyError, ParameterError
from medseg.io import choose_series, discover, load
from medseg.phantom import OPTION_NAMES, write_phantom_study
from medseg.phantom import study_options
from medseg.phantom.dicom_codecs import encoder_missing

SHAPE = (12, 64, 64)
LUNGS_AND_AIRWAY = (3, 4, 5)  # lung-right, lung-left, airway


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """The reference: the same phantom (seed 1) written as a plain single-frame series."""
    result = write_phantom_study(tmp_path_factory.mktemp("plain"), seed=1, shape=SHAPE)
    return result, load(result["dicom"])


def _dice(a, b) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    return float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))


def _lungs(hu: np.ndarray) -> np.ndarray:
    """HU < -500 inside the body (the largest non-air component of each slice, holes filled)."""
    out = np.zeros(hu.shape, bool)
    for k, sl in enumerate(hu):
        lab, n = ndimage.label(sl > -500)
        if n:
            body = ndimage.binary_fill_holes(lab == 1 + int(np.argmax(ndimage.sum(sl > -500, lab, range(1, n + 1)))))
            out[k] = body & (sl < -500)
    return out


def _truth_on(result: dict, image: sitk.Image) -> np.ndarray:
    labels = sitk.ReadImage(str(result["labels"]))
    return sitk.GetArrayFromImage(sitk.Resample(labels, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0))


def _same(a: sitk.Image, b: sitk.Image) -> None:
    assert a.GetSize() == b.GetSize()
    assert np.allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-4)
    assert np.allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-6)
    assert np.allclose(a.GetDirection(), b.GetDirection(), atol=1e-6)
    assert np.array_equal(sitk.GetArrayViewFromImage(a), sitk.GetArrayViewFromImage(b))


def test_option_names():
    assert set(OPTION_NAMES) == {"tilt_deg", "missing_slices", "uneven", "multiframe", "localizer",
                                 "second_series", "dicomdir"}


def test_noise_and_shuffled_names(plain, tmp_path):
    quiet = write_phantom_study(tmp_path / "quiet", seed=1, shape=SHAPE, noise_hu=0, jitter=0)
    noisy = write_phantom_study(tmp_path / "noisy", seed=1, shape=SHAPE, noise_hu=30, jitter=0,
                                shuffle_names=True, instance_numbers="random")
    muscle = quiet["phantom"].tissues["muscle"]
    assert np.array_equal(quiet["phantom"].labels, noisy["phantom"].labels)
    assert 25 < (noisy["phantom"].hu.astype(float) - quiet["phantom"].hu)[muscle].std() < 35  # noise_hu=30
    assert not any(f.name.startswith("IM") for f in noisy["files"])
    image, meta = load(noisy["dicom"])
    assert np.array_equal(sitk.GetArrayViewFromImage(image), noisy["phantom"].hu) and not meta["warnings"]
    assert "acquisition" not in json.loads(plain[0]["labels_json"].read_text())


@pytest.mark.parametrize("tilt", [15.0, -20.0])
def test_tilt_is_resampled_and_lungs_match_the_truth(tilt, tmp_path):
    result = write_phantom_study(tmp_path, seed=1, shape=SHAPE, tilt_deg=tilt)
    p = result["phantom"]
    dz = p.spacing[0]
    shear = result["positions"][:, 1] - p.origin[1]
    assert np.allclose(shear, np.arange(SHAPE[0]) * dz * np.tan(np.radians(tilt)))
    labels = sitk.ReadImage(str(result["labels"]))  # the ground truth stays the regular grid
    assert labels.GetSize() == SHAPE[::-1] and np.allclose(labels.GetOrigin(), p.origin)
    assert np.array_equal(sitk.GetArrayFromImage(labels), p.labels)
    scores = {}
    for resample in (True, False):
        image, meta = load(result["dicom"], resample=resample)
        truth = np.isin(_truth_on(result, image), LUNGS_AND_AIRWAY)
        scores[resample] = _dice(_lungs(sitk.GetArrayFromImage(image)), truth)
        if resample:
            assert meta["regularized"]["reason"] == "tilt"
            assert meta["regularized"]["tilt_deg"] == pytest.approx(abs(tilt), abs=0.05)
            assert any(f"gantry tilt of {abs(tilt):.1f} degrees" in w for w in meta["warnings"])
            assert image.GetSize()[1] > SHAPE[1]  # the in-plane grid grew to hold the shifted slices
    assert scores[True] >= 0.9, scores
    assert scores[False] < scores[True] - 0.1, scores  # the check can fail: unresampled, the lungs are off
    info = json.loads(result["labels_json"].read_text())["acquisition"]
    assert info["tilt_deg"] == tilt and len(info["positions_lps_mm"]) == SHAPE[0] and "regular" in info["note"]


def test_missing_slices_are_resampled_back(tmp_path):
    result = write_phantom_study(tmp_path, seed=1, shape=SHAPE, missing_slices=[4, 5])
    p = result["phantom"]
    assert len(result["files"]) == SHAPE[0] - 2
    image, meta = load(result["dicom"])
    assert image.GetSize() == SHAPE[::-1]
    assert image.GetSpacing()[2] == pytest.approx(p.spacing[0]) and np.allclose(image.GetOrigin(), p.origin)
    assert meta["regularized"]["reason"] == "uneven" and meta["regularized"]["missing_slices"] == 2
    assert any("2 missing slice(s)" in w for w in meta["warnings"])
    kept = [k for k in range(SHAPE[0]) if k not in (4, 5)]
    assert np.array_equal(sitk.GetArrayViewFromImage(image)[kept], p.hu[kept])  # written slices land exactly
    kept_image, kept_meta = load(result["dicom"], resample=False)
    assert kept_image.GetSize()[2] == SHAPE[0] - 2
    assert any("uneven slice spacing kept" in w for w in kept_meta["warnings"])


def test_uneven_spacing_is_resampled_and_labels_align(tmp_path):
    result = write_phantom_study(tmp_path, seed=1, shape=SHAPE, uneven=True, missing_slices=[9],
                                 rescale_slope=np.linspace(0.5, 1.0, SHAPE[0]), shuffle_names=True)
    p, dz = result["phantom"], result["phantom"].spacing[0]
    offsets = (result["positions"][:, 2] - p.origin[2]) / dz - [k for k in range(SHAPE[0]) if k != 9]
    moved = np.flatnonzero(np.abs(offsets) > 1e-6)
    assert moved.size >= 2 and (np.abs(offsets[moved]) >= 0.2 - 1e-6).all() and (np.abs(offsets) <= 0.4 + 1e-6).all()
    # Per-slice rescale given for the full grid follows the slices that were written.
    slopes = [float(pydicom.dcmread(f, stop_before_pixels=True).RescaleSlope) for f in result["files"]]
    assert slopes == pytest.approx(np.delete(np.linspace(0.5, 1.0, SHAPE[0]), 9), abs=1e-8)
    image, meta = load(result["dicom"])
    assert image.GetSize() == SHAPE[::-1] and meta["regularized"]["reason"] == "uneven"
    assert any("1 missing slice(s)" in w for w in meta["warnings"])
    truth = np.isin(_truth_on(result, image), LUNGS_AND_AIRWAY)
    assert _dice(_lungs(sitk.GetArrayFromImage(image)), truth) >= 0.9
    with pytest.raises(ParameterError, match="uneven"):
        write_phantom_study(tmp_path / "bad", seed=1, shape=SHAPE, uneven={3: 0.6 * dz})


@pytest.mark.parametrize("kw", [{}, {"tilt_deg": 10.0, "missing_slices": [3]}], ids=["regular", "tilted-missing"])
def test_multiframe_equals_single_frame(kw, plain, tmp_path):
    single = write_phantom_study(tmp_path / "single", seed=1, shape=SHAPE, **kw)
    multi = write_phantom_study(tmp_path / "multi", seed=1, shape=SHAPE, multiframe=True, instance_numbers="random",
                                **kw)
    assert len(multi["files"]) == 1
    ds = pydicom.dcmread(multi["files"][0], stop_before_pixels=True)
    assert ds.SOPClassUID == pydicom.uid.EnhancedCTImageStorage
    assert int(ds.NumberOfFrames) == SHAPE[0] - len(kw.get("missing_slices", []))
    (a, meta_a), (b, meta_b) = load(single["dicom"]), load(multi["dicom"])
    _same(a, b)
    assert meta_b["multiframe"] and not meta_a["multiframe"]
    assert (meta_a["regularized"] is None) == (meta_b["regularized"] is None) == (not kw)
    if not kw:
        _same(b, plain[1][0])


def test_mixed_folder_localizer_second_series_dicomdir(plain, tmp_path):
    result = write_phantom_study(tmp_path, seed=1, shape=SHAPE, localizer=True, second_series=True, dicomdir=True,
                                 shuffle_names=True)
    root = result["dicom"]
    assert result["dicomdir"] == root / "DICOMDIR" and result["dicomdir"].is_file()
    for path in [*result["files"], result["localizer"], *result["second_series_files"]]:
        assert path.is_file() and root in path.parents and path.parent != root  # inside the File-set tree
    assert not any(p.name.startswith(".phantom-stage") for p in tmp_path.iterdir())
    main = pydicom.dcmread(result["files"][0], stop_before_pixels=True)
    second = pydicom.dcmread(result["second_series_files"][0], stop_before_pixels=True)
    scout = pydicom.dcmread(result["localizer"], stop_before_pixels=True)
    assert second.SeriesInstanceUID != main.SeriesInstanceUID and second.StudyInstanceUID == main.StudyInstanceUID
    assert second.FrameOfReferenceUID == main.FrameOfReferenceUID and "LOCALIZER" in scout.ImageType
    assert scout.StudyInstanceUID == main.StudyInstanceUID

    found = discover(root)
    assert sorted(len(s.slices) for s in found.series) == [len(result["second_series_files"]), SHAPE[0]]
    assert len(result["second_series_files"]) < SHAPE[0]
    chosen, note = choose_series(found)
    assert chosen.uid == main.SeriesInstanceUID and len(chosen.slices) == SHAPE[0]
    assert "2 series found" in note and "largest CT series" in note and chosen.uid in note
    reasons = " | ".join(r for _, r in found.skipped)
    assert "localizer/scout" in reasons and "DICOMDIR" in reasons
    image, meta = load(root)
    _same(image, plain[1][0])
    text = " | ".join(meta["warnings"])
    assert "2 series found" in text and "localizer" in text
    second_image, _ = load(root, series=second.SeriesInstanceUID)
    assert second_image.GetSize()[2] == len(result["second_series_files"])
    factor = SHAPE[0] // second_image.GetSize()[2]  # a thick-slice reformat: slices averaged in groups
    assert factor >= 2 and second_image.GetSpacing()[2] == pytest.approx(image.GetSpacing()[2] * factor)
    centre = image.TransformContinuousIndexToPhysicalPoint((0, 0, (factor - 1) / 2))
    assert np.allclose(second_image.GetOrigin(), centre, atol=1e-3)
    info = json.loads(result["labels_json"].read_text())["acquisition"]
    assert info == {"localizer": True, "second_series": True, "dicomdir": True}


def test_multiframe_with_a_localizer_in_the_folder(plain, tmp_path):
    result = write_phantom_study(tmp_path, seed=1, shape=SHAPE, multiframe=True, localizer=True)
    assert pydicom.dcmread(result["localizer"], stop_before_pixels=True).get("NumberOfFrames") is None
    image, meta = load(result["dicom"])
    _same(image, plain[1][0])
    assert any("localizer" in w for w in meta["warnings"])


def test_jpeg2000_lossless_is_bit_exact(plain, tmp_path):
    reason = encoder_missing(JPEG2000Lossless)
    if reason:
        pytest.skip(f"{UID(JPEG2000Lossless).name} cannot be encoded here: {reason}")
    result = write_phantom_study(tmp_path, seed=1, shape=SHAPE, transfer_syntax=JPEG2000Lossless,
                                 fov_diameter_mm=330.0)  # out-of-field padding: signed stored values
    reference = write_phantom_study(tmp_path / "ref", seed=1, shape=SHAPE, fov_diameter_mm=330.0)
    for f, g in zip(result["files"], reference["files"]):
        ds, ref = pydicom.dcmread(f), pydicom.dcmread(g)
        assert ds.file_meta.TransferSyntaxUID == JPEG2000Lossless
        assert np.array_equal(ds.pixel_array, ref.pixel_array)
    (a, meta), (b, _) = load(result["dicom"]), load(reference["dicom"])
    _same(a, b)
    assert meta["transfer_syntax"] == JPEG2000Lossless
    assert json.loads(result["labels_json"].read_text())["acquisition"]["transfer_syntax"] == JPEG2000Lossless


def test_a_syntax_that_cannot_be_encoded_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(study_options, "encoder_missing", lambda syntax, bits=16: "no plugin installed (test)")
    with pytest.raises(DependencyError, match="cannot write transfer_syntax JPEG 2000.*no plugin installed"):
        write_phantom_study(tmp_path / "s", seed=1, shape=SHAPE, transfer_syntax=JPEG2000Lossless)
    assert not (tmp_path / "s" / "dicom").exists()  # nothing was written
    monkeypatch.undo()
    with pytest.raises((ParameterError, DependencyError), match="cannot write transfer_syntax JPEG Baseline"):
        write_phantom_study(tmp_path / "b", seed=1, shape=SHAPE, transfer_syntax=JPEGBaseline8Bit)  # 16-bit


def test_bad_options_fail_before_writing(tmp_path):
    with pytest.raises(ParameterError, match="need a CT phantom"):
        write_phantom_study(tmp_path / "mr", seed=1, kind="cardiac-mr", shape=(8, 64, 64), tilt_deg=5.0)
    with pytest.raises(ParameterError, match="missing_slices"):
        write_phantom_study(tmp_path / "m", seed=1, shape=SHAPE, missing_slices=[12])
    with pytest.raises(ParameterError, match="cannot be used with multiframe"):
        write_phantom_study(tmp_path / "k", seed=1, shape=SHAPE, multiframe=True, kvp=100.0)
    (tmp_path / "full" / "dicom").mkdir(parents=True)
    (tmp_path / "full" / "dicom" / "old.dcm").write_bytes(b"x")
    with pytest.raises(ParameterError, match="not empty"):
        write_phantom_study(tmp_path / "full", seed=1, shape=SHAPE, dicomdir=True)
