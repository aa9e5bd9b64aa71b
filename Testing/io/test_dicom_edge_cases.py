"""DICOM edge cases: mixed folders, localizers, DICOMDIR, derived
images, duplicate positions, per-slice rescale, gantry tilt, uneven spacing and missing slices."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from scipy import ndimage

from medseg.io import choose_series, discover, load
from medseg.io.dicom.compat import save_as
from medseg.phantom import make_chest
from medseg.phantom.dicom_variants import (
    grid_positions, sample_function, sample_image, sphere, tilted_positions,
    write_derived_series, write_dicomdir, write_localizer, write_secondary_capture,
)
from medseg.phantom.dicom_writer import write_ct_series


@pytest.fixture(scope="module")
def small():
    return make_chest((12, 64, 64), seed=4)


def _write(p, folder, **kw):
    return write_ct_series(p.hu, p.spacing, p.origin, folder, **kw)


# --- several series, localizers, DICOMDIR, derived images ------------------------------------------

@pytest.fixture(scope="module")
def mixed(small, tmp_path_factory):
    """Two CT series, a LOCALIZER, a lone coronal slice inside the big series, a secondary capture
    and a larger DERIVED\\SECONDARY copy, all indexed by a DICOMDIR (as on a CD)."""
    stage = tmp_path_factory.mktemp("stage")
    big = _write(small, stage / "big", seed=1, series_description="Chest 12")
    second = write_ct_series(small.hu[:5], small.spacing, small.origin, stage / "second", seed=1,
                             series_description="Chest 5", series_number=2)
    extra = [write_localizer(big[0], stage / "scout.dcm"),
             write_localizer(big[0], stage / "lone.dcm", same_series=True, image_type=("ORIGINAL", "PRIMARY", "AXIAL")),
             write_secondary_capture(big[3], stage / "sc.dcm")]
    # A 16-slice derived copy: larger than "big", so picking it would show it was not skipped.
    source16 = write_ct_series(np.concatenate([small.hu, small.hu[:4]]), small.spacing, small.origin,
                               stage / "not-in-cd", seed=9)
    derived = write_derived_series(source16, stage / "derived")
    root = tmp_path_factory.mktemp("mixed") / "cd"
    write_dicomdir([*big, *second, *extra, *derived], root)
    return {"root": root, "big": big, "second": second}


def test_mixed_folder_lists_both_series_and_picks_the_larger(mixed, small):
    found = discover(mixed["root"])
    assert sorted(len(s.slices) for s in found.series) == [5, 12]
    chosen, note = choose_series(found)
    assert len(chosen.slices) == 12 and chosen.description == "Chest 12"
    assert "2 series found" in note and "largest CT series" in note and chosen.uid in note
    reasons = " | ".join(r for _, r in found.skipped)
    for word in ("DICOMDIR", "localizer/scout", "lone slice with a different orientation", "secondary capture",
                 "derived secondary"):
        assert word in reasons, (word, reasons)
    image, meta = load(mixed["root"])
    assert np.array_equal(sitk.GetArrayViewFromImage(image), small.hu)
    text = " | ".join(meta["warnings"])
    assert "2 series found" in text and "localizer" in text and "DICOMDIR" in text
    assert meta["series_found"] == [s.uid for s in found.series]
    other, meta2 = load(mixed["root"], series=found.series[1].uid)
    assert other.GetSize()[2] == 5 and meta2["series_uid"] == found.series[1].uid


def test_mixed_folder_info_cli(mixed, cli):
    res = cli("info", mixed["root"], "--json")
    assert res.returncode == 0, res.stderr
    listing = json.loads(res.stdout)
    assert [s["slices"] for s in listing["series"]] == [12, 5]
    assert listing["chosen"] == listing["series"][0]["series_uid"]
    assert any("localizer" in s["reason"] for s in listing["skipped"])
    human = cli("info", mixed["root"])
    assert "2 series" in human.stdout and "DICOMDIR" in human.stdout


def test_only_derived_images_are_used_with_a_warning(small, tmp_path):
    src = _write(small, tmp_path / "src")
    derived = write_derived_series(src, tmp_path / "derived")
    image, meta = load(derived[0].parent)
    assert np.array_equal(sitk.GetArrayViewFromImage(image), small.hu)
    assert any("only images skipped by default" in w and "DERIVED\\SECONDARY" in w for w in meta["warnings"])


def test_derived_primary_is_kept(small, tmp_path):
    # DERIVED\PRIMARY (e.g. a reformat or a lossy copy) is a real volume: never skipped.
    src = _write(small, tmp_path / "src", image_type=("DERIVED", "PRIMARY", "AXIAL"))
    found = discover(src[0].parent)
    assert len(found.series) == 1 and not found.skipped


# --- duplicate positions ---------------------------------------------------------------------------

def _duplicate(src, dst, instance_number, change_pixels=False):
    ds = pydicom.dcmread(src)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[str(dst)])
    ds.InstanceNumber = instance_number
    if change_pixels:
        arr = ds.pixel_array.copy()
        arr[:8, :8] = 2000
        ds.PixelData = arr.tobytes()
    save_as(ds, dst)


def test_identical_duplicates_are_dropped_with_a_warning(small, tmp_path):
    files = _write(small, tmp_path / "s")
    _duplicate(files[4], tmp_path / "s" / "copy4.dcm", 100)
    _duplicate(files[7], tmp_path / "s" / "copy7.dcm", 101)
    image, meta = load(tmp_path / "s")
    assert np.array_equal(sitk.GetArrayViewFromImage(image), small.hu)
    text = " | ".join(meta["warnings"])
    assert "2 duplicate slice position(s)" in text and "identical pixel data" in text
    assert meta["regularized"] is None and "slice_positions" not in meta


def test_differing_duplicate_keeps_the_first_by_instance_number(small, tmp_path):
    files = _write(small, tmp_path / "s")
    _duplicate(files[5], tmp_path / "s" / "early.dcm", 0, change_pixels=True)  # InstanceNumber 0: first
    image, meta = load(tmp_path / "s")
    hu = sitk.GetArrayViewFromImage(image)
    assert (hu[5, :8, :8] == 2000 + (-1024)).all()  # the kept slice is the changed copy
    assert np.array_equal(np.delete(hu, 5, axis=0), np.delete(small.hu, 5, axis=0))
    assert any("hold different pixel data" in w for w in meta["warnings"])
    assert str(tmp_path / "s" / files[5].name) in meta["duplicate_files"]


# --- per-slice rescale -----------------------------------------------------------------------------

def test_per_slice_rescale_converts_to_the_original_hu(small, tmp_path):
    # Slopes 1, 0.5, 0.25 and fractional intercepts chosen so that every HU is stored exactly.
    n = small.hu.shape[0]
    slopes = np.array([1.0, 0.5, 0.25] * (n // 3 + 1))[:n]
    intercepts = np.array([-1024.0, -1024.5, -1000.25] * (n // 3 + 1))[:n]
    files = _write(small, tmp_path / "r", rescale_slope=slopes, rescale_intercept=intercepts, shuffle_names=True)
    assert {float(pydicom.dcmread(f).RescaleSlope) for f in files} == {1.0, 0.5, 0.25}
    image, meta = load(tmp_path / "r")
    assert image.GetPixelID() == sitk.sitkFloat32  # non-integer slopes: float output
    assert np.array_equal(sitk.GetArrayViewFromImage(image), small.hu.astype(np.float32))
    assert any("vary across slices" in w for w in meta["warnings"])


# --- gantry tilt -----------------------------------------------------------------------------------

SHAPE, SPACING, ORIGIN = (24, 64, 64), (3.0, 2.0, 2.0), (-63.0, -63.0, -400.0)
CENTRE = np.array([4.0, 6.0, -358.0])


def _sphere_centre(image: sitk.Image, threshold: float = -450.0) -> np.ndarray:
    """World (LPS mm) centre of the voxels above ``threshold``: the mean of their physical points."""
    idx = np.argwhere(sitk.GetArrayViewFromImage(image) > threshold)[:, ::-1].astype(float)
    d = np.asarray(image.GetDirection()).reshape(3, 3)
    pts = np.asarray(image.GetOrigin()) + (idx * np.asarray(image.GetSpacing())) @ d.T
    return pts.mean(axis=0)


def _tilted_sphere(folder, tilt_deg, direction=(1, 0, 0, 0, 1, 0, 0, 0, 1), positions=None, drop=()):
    if positions is None:
        positions = tilted_positions(ORIGIN, SPACING[0], SHAPE[0], tilt_deg, direction)
    keep = [k for k in range(len(positions)) if k not in drop]
    positions = positions[keep]
    hu = sample_function(sphere(CENTRE, 15.0, edge_mm=2.0), positions, SHAPE[1:], SPACING[1:], direction)
    return write_ct_series(np.rint(hu).astype(np.int16), SPACING, ORIGIN, folder, direction=direction,
                           positions=positions, shuffle_names=True)


def _oblique_case(tilt_deg):
    """Tilted image plane (IOP about x) with the table moving along z, as scanners write tilt."""
    a = np.radians(tilt_deg)
    direction = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    step_z = SPACING[0] / np.cos(a)  # table travel per slice, so that slices lie SPACING[0] apart
    positions = np.asarray(ORIGIN) + np.arange(SHAPE[0])[:, None] * np.array([0.0, 0.0, step_z])
    return direction, positions


@pytest.mark.parametrize("case", ["ipp-shear-15", "ipp-shear-minus-20", "oblique-iop-15", "shear-15-missing-slice"])
def test_tilt_is_resampled_and_world_centre_kept(case, tmp_path):
    direction, positions, drop = (1, 0, 0, 0, 1, 0, 0, 0, 1), None, ()
    tilt = {"ipp-shear-15": 15.0, "ipp-shear-minus-20": -20.0, "oblique-iop-15": 15.0, "shear-15-missing-slice": 15.0}[case]
    if case.startswith("oblique"):
        direction, positions = _oblique_case(tilt)
    if case.endswith("missing-slice"):
        drop = (9,)
    files = _tilted_sphere(tmp_path / "t", tilt, direction, positions, drop)
    image, meta = load(files[0].parent)
    spacing = np.asarray(image.GetSpacing())
    error_vox = np.abs(_sphere_centre(image) - CENTRE) / spacing
    assert error_vox.max() < 0.5, error_vox
    reg = meta["regularized"]
    assert reg["reason"] == ("tilt+uneven" if drop else "tilt")
    assert abs(reg["tilt_deg"] - abs(tilt)) < 0.05
    assert len(reg["original_positions"]) == SHAPE[0] - len(drop)
    assert np.allclose(np.asarray(image.GetDirection()).reshape(3, 3).T @ np.asarray(image.GetDirection()).reshape(3, 3),
                       np.eye(3), atol=1e-6)
    assert any(f"gantry tilt of {abs(tilt):.1f} degrees" in w for w in meta["warnings"])
    # The check can fail: without resampling the sphere lands several voxels off.
    kept, meta_kept = load(files[0].parent, resample=False)
    assert (np.abs(_sphere_centre(kept) - CENTRE) / spacing).max() > 2.0
    assert meta_kept["regularized"] is None and any("gantry tilt kept" in w for w in meta_kept["warnings"])


def test_tilt_shown_by_info(tmp_path, cli):
    files = _tilted_sphere(tmp_path / "t", 15.0)
    res = cli("info", files[0].parent, "--json")
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout)["series"][0]
    assert abs(s["tilt_deg"] - 15.0) < 0.05 and any("gantry tilt" in w for w in s["warnings"])
    assert s["resampled_size"][1] > s["size"][1]  # the in-plane grid grows to hold every shifted slice


def test_rounding_noise_is_not_uneven(small, tmp_path):
    # Positions written to 0.01 mm: 0.625 mm steps read as 0.62 / 0.63. That is not uneven spacing.
    z = np.round(np.arange(12) * 0.625, 2)
    positions = np.column_stack([np.full(12, small.origin[0]), np.full(12, small.origin[1]), small.origin[2] + z])
    files = write_ct_series(small.hu, (0.625, *small.spacing[1:]), small.origin, tmp_path / "s", positions=positions)
    image, meta = load(files[0].parent)
    assert meta["regularized"] is None and not meta["warnings"]
    assert image.GetSpacing()[2] == pytest.approx(0.625, abs=0.006)


# --- uneven spacing and missing slices -------------------------------------------------------------

def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


def _air_inside_body(hu: np.ndarray) -> np.ndarray:
    """Lungs and airways by threshold: HU < -500 inside the largest non-air component, per slice."""
    out = np.zeros(hu.shape, bool)
    for k, sl in enumerate(hu):
        lab, n = ndimage.label(sl > -500)
        if n:
            body = ndimage.binary_fill_holes(lab == 1 + int(np.argmax(ndimage.sum(sl > -500, lab, range(1, n + 1)))))
            out[k] = body & (sl < -500)
    return out


def test_uneven_spacing_labels_align_after_resampling(tmp_path):
    """A fine regular phantom, acquired with 4 slices missing (one double gap) and 3 slices off the
    grid by 0.5-0.8 mm, is resampled back onto the modal 2.5 mm grid; thresholded lungs+airways
    then match the ground-truth labels resampled (nearest) onto the output grid."""
    p = make_chest((32, 96, 96), spacing=(2.5, 350 / 96, 350 / 96), seed=2)
    drop, perturb_mm = {5, 12, 13, 20}, {8: 0.6, 16: -0.5, 25: 0.8}
    index = np.array([k + perturb_mm.get(k, 0.0) / p.spacing[0] for k in range(32) if k not in drop])
    positions = grid_positions(p.origin, p.spacing[0], index)
    hu = np.rint(sample_image(p.to_image(), positions, p.hu.shape[1:], p.spacing[1:])).astype(np.int16)
    files = write_ct_series(hu, p.spacing, p.origin, tmp_path / "u", positions=positions, shuffle_names=True,
                            instance_numbers="random")
    scores = {}
    for resample in (True, False):
        image, meta = load(files[0].parent, resample=resample)
        truth = sitk.GetArrayFromImage(sitk.Resample(p.labels_image(), image, sitk.Transform(),
                                                     sitk.sitkNearestNeighbor, 0))
        air = np.isin(truth, (3, 4, 5))  # lung-right, lung-left, airway
        scores[resample] = _dice(_air_inside_body(sitk.GetArrayFromImage(image)), air)
        if resample:
            assert image.GetSize()[2] == 32 and image.GetSpacing()[2] == pytest.approx(2.5)
            assert np.allclose(image.GetOrigin(), p.origin)
            reg = meta["regularized"]
            assert reg["reason"] == "uneven" and reg["missing_slices"] == 4 and reg["step_mm"] == pytest.approx(2.5)
            assert len(reg["original_positions"]) == len(index)
            assert any("4 missing slice(s)" in w for w in meta["warnings"])
        else:
            assert image.GetSize()[2] == len(index) and meta["regularized"] is None
            assert meta["slice_positions"] == pytest.approx(list(positions[:, 2]), abs=1e-4)
            assert any("uneven slice spacing kept" in w for w in meta["warnings"])
    assert scores[True] >= 0.98, scores
    assert scores[False] < scores[True] - 0.05, scores  # without resampling the labels do not line up


def test_regular_series_is_not_resampled(small, tmp_path):
    files = _write(small, tmp_path / "s")
    image, meta = load(files[0].parent)
    assert meta["regularized"] is None and "slice_positions" not in meta
    assert np.array_equal(sitk.GetArrayViewFromImage(image), small.hu)


def test_folder_is_left_untouched(small, tmp_path):
    uneven = [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12]  # one missing slice: the loader resamples
    files = _write(small, tmp_path / "s", positions=grid_positions(small.origin, small.spacing[0], uneven))
    before = {f: f.read_bytes() for f in files}
    shutil.copytree(tmp_path / "s", tmp_path / "copy")
    load(tmp_path / "s")
    assert all(f.read_bytes() == b for f, b in before.items())
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == sorted(p.name for p in (tmp_path / "copy").iterdir())
