"""Tests for medseg.preprocess on small synthetic images with non-trivial geometry."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import SimpleITK as sitk

from medseg import preprocess as pp
from medseg.errors import Cancelled, GeometryError, ParameterError
from medseg.labels import AIR_HU

ORIGIN = (-12.3, 45.6, -78.9)
# x kept, y flipped, z flipped: a non-identity direction.
DIRECTION = (1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, -1.0)


def make_image(arr: np.ndarray, spacing=(0.7, 0.7, 2.5), origin=ORIGIN, direction=DIRECTION) -> sitk.Image:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    img.SetDirection(direction)
    return img


def box_image(dtype=np.int16) -> tuple[sitk.Image, sitk.Image]:
    """A 40x48x16 (x, y, z) volume at (0.7, 0.7, 2.5) mm with a bright cube, and its label."""
    arr = np.full((16, 48, 40), -1000, dtype=dtype)  # (z, y, x)
    arr[5:11, 14:30, 10:26] = 1000
    lab = np.zeros(arr.shape, dtype=np.uint8)
    lab[arr > 0] = 3
    lab[:3, :5, :5] = 7
    return make_image(arr), make_image(lab)


def physical_centre(img: sitk.Image, threshold: float) -> np.ndarray:
    """Mean LPS position (mm) of voxels above threshold."""
    arr = sitk.GetArrayFromImage(img)
    zyx = np.argwhere(arr > threshold)
    ijk = zyx[:, ::-1].astype(float)  # (x, y, z) index order
    spacing = np.array(img.GetSpacing())
    direction = np.array(img.GetDirection()).reshape(3, 3)
    points = np.array(img.GetOrigin()) + (ijk * spacing) @ direction.T
    return points.mean(axis=0)


def assert_same_geometry(a: sitk.Image, b: sitk.Image) -> None:
    assert a.GetSize() == b.GetSize()
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin())
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing())
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection())


def ramp_image() -> sitk.Image:
    arr = np.linspace(-2000, 3000, 8 * 9 * 10, dtype=np.float64).reshape(8, 9, 10).astype(np.int16)
    return make_image(arr, spacing=(1.0, 1.2, 2.0))


# --- window / normalise ------------------------------------------------------------------------

def test_window_clips_exactly_at_bounds():
    img = ramp_image()
    out = pp.window(img, 40, 400)
    arr = sitk.GetArrayFromImage(out)
    src = sitk.GetArrayFromImage(img).astype(np.float32)
    assert out.GetPixelID() == sitk.sitkFloat32
    assert_same_geometry(out, img)
    assert arr.min() == -160.0 and arr.max() == 240.0
    np.testing.assert_array_equal(arr, np.clip(src, -160, 240))


def test_window_presets_and_clip_hu():
    img = ramp_image()
    assert pp.WINDOWS["mediastinum"] == pp.WINDOWS["soft-tissue"] == (40, 400)
    lung = sitk.GetArrayFromImage(pp.window(img, "lung"))
    assert lung.min() == -1350.0 and lung.max() == 150.0
    clipped = sitk.GetArrayFromImage(pp.clip_hu(img, -100, 100))
    assert clipped.min() == -100.0 and clipped.max() == 100.0
    assert pp.window_bounds(400, 1800) == (-500.0, 1300.0)
    with pytest.raises(ParameterError):
        pp.window(img, "no-such-window")


def test_normalise_maps_lo_hi_and_midpoint():
    arr = np.array([[[-1200, -1000, -500, 0, 500]]], dtype=np.int16)
    img = make_image(arr, spacing=(1, 1, 1))
    out = pp.normalise(img, -1000, 0)
    vals = sitk.GetArrayFromImage(out).ravel()
    assert out.GetPixelID() == sitk.sitkFloat32
    assert_same_geometry(out, img)
    np.testing.assert_allclose(vals, [0.0, 0.0, 0.5, 1.0, 1.0])


def test_zscore_whole_and_masked():
    img = ramp_image()
    arr = sitk.GetArrayFromImage(img).astype(np.float64)
    z = sitk.GetArrayFromImage(pp.zscore(img))
    np.testing.assert_allclose(z, (arr - arr.mean()) / arr.std(), rtol=1e-5, atol=1e-5)
    mask = np.zeros(arr.shape, bool)
    mask[2:5] = True
    zm = sitk.GetArrayFromImage(pp.zscore(img, mask))
    assert abs(zm[mask].mean()) < 1e-4 and abs(zm[mask].std() - 1) < 1e-4


# --- resampling --------------------------------------------------------------------------------

def test_resample_to_iso_keeps_extent_origin_direction_and_centre():
    img, _ = box_image()
    out = pp.resample_to_spacing(img, 1.0)
    np.testing.assert_allclose(out.GetSpacing(), (1.0, 1.0, 1.0))
    old_extent = np.array(img.GetSize()) * np.array(img.GetSpacing())
    new_extent = np.array(out.GetSize()) * np.array(out.GetSpacing())
    assert np.all(np.abs(new_extent - old_extent) <= np.array(out.GetSpacing()))
    assert out.GetSize() == (28, 34, 40)
    np.testing.assert_allclose(out.GetOrigin(), img.GetOrigin())
    np.testing.assert_allclose(out.GetDirection(), img.GetDirection())
    assert out.GetPixelID() == img.GetPixelID()
    shift = np.linalg.norm(physical_centre(out, 0) - physical_centre(img, 0))
    assert shift < 0.5
    vals = sitk.GetArrayFromImage(out)
    # Interpolated values stay within the input range, plus AIR_HU where samples fall outside it.
    assert vals.min() >= AIR_HU and vals.max() <= 1000
    assert set(np.unique(vals[vals < -1000])) <= {AIR_HU}


def test_resample_outside_value_is_air_and_none_keeps_axis():
    img, _ = box_image(dtype=np.float32)
    out = pp.resample_to_spacing(img, (None, None, 0.5))
    np.testing.assert_allclose(out.GetSpacing(), (0.7, 0.7, 0.5))
    assert out.GetSize()[:2] == img.GetSize()[:2]
    # The last slices centres lie past the input's last slice centre: default value there.
    arr = sitk.GetArrayFromImage(out)
    assert arr[-1].max() == AIR_HU
    custom = sitk.GetArrayFromImage(pp.resample_to_spacing(img, (None, None, 0.5), default_value=-3000))
    assert custom[-1].max() == -3000


def test_label_resample_is_nearest_and_integer():
    _, lab = box_image()
    out = pp.resample_to_spacing(lab, (1.0, 1.0, 1.0), is_label=True)
    arr = sitk.GetArrayFromImage(out)
    assert out.GetPixelID() == sitk.sitkUInt8
    assert np.issubdtype(arr.dtype, np.integer)
    assert set(np.unique(arr)) <= {0, 3, 7}
    assert {3, 7} <= set(np.unique(arr))
    shift = np.linalg.norm(physical_centre(out, 2) - physical_centre(lab, 2))
    assert shift < 0.5
    np.testing.assert_allclose(out.GetOrigin(), lab.GetOrigin())
    np.testing.assert_allclose(out.GetDirection(), lab.GetDirection())


def test_resample_like_takes_reference_grid():
    img, lab = box_image()
    ref = make_image(np.zeros((20, 30, 25), np.int16), spacing=(1.1, 0.9, 1.7), origin=(-10.0, 40.0, -80.0),
                     direction=(0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0))
    out = pp.resample_like(img, ref)
    assert_same_geometry(out, ref)
    assert out.GetPixelID() == img.GetPixelID()
    out_lab = pp.resample_like(lab, ref, is_label=True)
    assert_same_geometry(out_lab, ref)
    assert set(np.unique(sitk.GetArrayFromImage(out_lab))) <= {0, 3, 7}


def test_resample_like_flipped_grid_round_trips():
    img, _ = box_image()
    flipped = sitk.Flip(img, [False, True, False])  # same voxels, different index order
    back = pp.resample_like(flipped, img)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(img))


def test_resample_reports_progress():
    img, _ = box_image()
    seen = []
    pp.resample_to_spacing(img, 1.0, progress=lambda f, m: seen.append(f))
    assert seen and seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)


# --- histogram / summary -----------------------------------------------------------------------

def test_histogram_counts_sum_to_voxels():
    img, lab = box_image()
    counts, edges = pp.hu_histogram(img, bins=64)
    assert counts.sum() == np.prod(img.GetSize())
    assert len(edges) == 65 and edges[0] == -1024 and edges[-1] == 3071
    mask = sitk.GetArrayFromImage(lab) == 3
    counts_m, _ = pp.hu_histogram(img, mask=mask, bins=64)
    assert counts_m.sum() == mask.sum()
    counts_l, _ = pp.hu_histogram(img, mask=lab)  # label image: non-zero is inside
    assert counts_l.sum() == (sitk.GetArrayFromImage(lab) > 0).sum()
    # Values outside the range land in the end bins.
    wide = make_image(np.array([[[-3000, 5000, 0]]], np.int16), spacing=(1, 1, 1))
    c, _ = pp.hu_histogram(wide, bins=4)
    assert c[0] == 1 and c[-1] == 1 and c.sum() == 3


def test_hu_summary_matches_numpy():
    img = ramp_image()
    arr = sitk.GetArrayFromImage(img).astype(np.float64)
    s = pp.hu_summary(img)
    assert set(s) == {"min", "max", "mean", "std", "p1", "p50", "p99"}
    assert all(type(v) is float for v in s.values())
    assert s["min"] == arr.min() and s["max"] == arr.max()
    assert s["mean"] == pytest.approx(arr.mean()) and s["std"] == pytest.approx(arr.std())
    for key, q in (("p1", 1), ("p50", 50), ("p99", 99)):
        assert s[key] == pytest.approx(np.percentile(arr, q))
    mask = arr > 0
    sm = pp.hu_summary(img, mask)
    assert sm["min"] == arr[mask].min() and sm["mean"] == pytest.approx(arr[mask].mean())


# --- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda img: pp.window(img, 40, 0),
    lambda img: pp.window(img, 40, -10),
    lambda img: pp.clip_hu(img, 100, 100),
    lambda img: pp.normalise(img, 500, -500),
    lambda img: pp.resample_to_spacing(img, 0.0),
    lambda img: pp.resample_to_spacing(img, (1.0, -1.0, 1.0)),
    lambda img: pp.resample_to_spacing(img, (1.0, 1.0)),
    lambda img: pp.resample_to_spacing(img, "big"),
    lambda img: pp.hu_histogram(img, bins=0),
    lambda img: pp.hu_histogram(img, range=(100, -100)),
    lambda img: pp.hu_summary(img, np.zeros(sitk.GetArrayFromImage(img).shape, bool)),
])
def test_bad_parameters_raise(call):
    img = ramp_image()
    with pytest.raises(ParameterError):
        call(img)


def test_mask_shape_mismatch_is_geometry_error():
    img = ramp_image()
    with pytest.raises(GeometryError):
        pp.hu_summary(img, np.ones((2, 2, 2), bool))


def test_cancel_event_raises_cancelled():
    img, lab = box_image()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        pp.resample_to_spacing(img, 1.0, cancel=cancel)
    with pytest.raises(Cancelled):
        pp.resample_like(lab, img, is_label=True, cancel=cancel)


def test_cancel_during_resample_aborts():
    img, _ = box_image()
    cancel = threading.Event()

    def progress(fraction, message):
        if 0 < fraction < 1:
            cancel.set()

    with pytest.raises(Cancelled):
        pp.resample_to_spacing(img, 0.25, progress=progress, cancel=cancel)


def test_reoriented_back_is_exact():
    arr = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.7, 0.8, 2.5))
    img.SetOrigin((10.0, -3.0, 7.0))
    img.SetDirection((-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0))  # RAS-like: rows and columns flipped
    o = pp.Reoriented.of(img)
    assert o.orientation == "RAS"
    lps = sitk.GetArrayFromImage(o.image)
    assert np.array_equal(lps, arr[:, ::-1, ::-1])
    out = o.back(lps)
    assert np.array_equal(sitk.GetArrayFromImage(out), arr)
    assert out.GetOrigin() == img.GetOrigin() and out.GetDirection() == img.GetDirection()
