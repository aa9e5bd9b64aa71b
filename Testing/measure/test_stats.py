"""Segment statistics against numbers worked out by hand, and against SimpleITK's label statistics."""

from __future__ import annotations

import csv
import math
import threading

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.errors import Cancelled, GeometryError, InputError
from medseg.measure.stats import STAT_COLUMNS, segment_statistics
from medseg.io import read_label_image
from medseg.io.tables import write_rows

SPACING = (0.5, 0.75, 2.0)  # (x, y, z) mm: a voxel is 0.75 mm³
ORIGIN = (10.0, 20.0, 30.0)


def small_case(direction=None):
    """A 4 x 3 x 2 (x, y, z) image; label 1 on four voxels, label 3 on one.

    Arrays are (z, y, x):
      label 1: [0,0,1] = 10, [0,1,1] = 20, [1,0,2] = 30, [1,2,3] = -40
      label 3: [1,1,0] = 100
    """
    img = np.full((2, 3, 4), -1000, np.int16)
    lab = np.zeros((2, 3, 4), np.uint8)
    for (z, y, x), v in {(0, 0, 1): 10, (0, 1, 1): 20, (1, 0, 2): 30, (1, 2, 3): -40}.items():
        img[z, y, x] = v
        lab[z, y, x] = 1
    img[1, 1, 0] = 100
    lab[1, 1, 0] = 3
    image = sitk.GetImageFromArray(img)
    image.SetSpacing(SPACING)
    image.SetOrigin(ORIGIN)
    if direction is not None:
        image.SetDirection(direction)
    labels = sitk.GetImageFromArray(lab)
    labels.CopyInformation(image)
    return image, labels


def test_hand_computed_statistics():
    image, labels = small_case()
    rows = segment_statistics(image, labels, {1: "a", 3: "b", 7: "empty"})
    assert [list(r) for r in rows] == [list(STAT_COLUMNS)] * 3
    a, b, empty = rows
    assert (a["segment"], a["label_value"], a["voxel_count"]) == ("a", 1, 4)
    assert a["volume_mm3"] == pytest.approx(3.0)          # 4 x 0.5 x 0.75 x 2.0
    assert a["volume_ml"] == pytest.approx(0.003)
    assert a["mean"] == pytest.approx(5.0)                 # (10 + 20 + 30 - 40) / 4
    assert a["std"] == pytest.approx(math.sqrt(725.0))     # deviations 5, 15, 25, -45: 2900 / 4
    assert (a["min"], a["max"], a["median"]) == (-40.0, 30.0, 15.0)
    assert [a[f"bbox_index_min_{c}"] for c in "xyz"] == [1, 0, 0]
    assert [a[f"bbox_index_max_{c}"] for c in "xyz"] == [3, 2, 1]
    assert [a[f"bbox_min_{c}_mm"] for c in "LPS"] == pytest.approx([10.5, 20.0, 30.0])
    assert [a[f"bbox_max_{c}_mm"] for c in "LPS"] == pytest.approx([11.5, 21.5, 32.0])

    assert (b["segment"], b["voxel_count"], b["volume_mm3"]) == ("b", 1, pytest.approx(0.75))
    assert (b["mean"], b["std"], b["min"], b["max"], b["median"]) == (100.0, 0.0, 100.0, 100.0, 100.0)
    assert [b[f"bbox_min_{c}_mm"] for c in "LPS"] == [b[f"bbox_max_{c}_mm"] for c in "LPS"] == pytest.approx([10.0, 20.75, 32.0])

    # A named segment with no voxels is listed, as Slicer lists empty segments.
    assert (empty["segment"], empty["label_value"], empty["voxel_count"], empty["volume_ml"]) == ("empty", 7, 0, 0.0)
    assert empty["mean"] is None and empty["bbox_index_min_x"] is None

    # Without names: every non-zero value, unnamed.
    assert [(r["segment"], r["label_value"]) for r in segment_statistics(image, labels)] == [("label-1", 1), ("label-3", 3)]


def test_empty_label_image_lists_only_the_named_segments():
    # A model that finds nothing gives an all-zero label image: both reductions must cope.
    image, labels = small_case()
    empty = sitk.GetImageFromArray(np.zeros(sitk.GetArrayFromImage(labels).shape, np.uint8))
    empty.CopyInformation(image)
    assert segment_statistics(image, empty) == []
    (row,) = segment_statistics(image, empty, {1: "tumour"})
    assert (row["segment"], row["voxel_count"], row["mean"]) == ("tumour", 0, None)
    floats = sitk.Cast(image, sitk.sitkFloat32)
    assert segment_statistics(floats, empty) == []


def test_physical_box_follows_the_direction():
    flip_x = (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    image, labels = small_case(flip_x)
    a = segment_statistics(image, labels)[0]
    assert [a[f"bbox_index_min_{c}"] for c in "xyz"] == [1, 0, 0]
    # x runs towards -L now: indices 1..3 are L = 10 - 0.5 .. 10 - 1.5.
    assert (a["bbox_min_L_mm"], a["bbox_max_L_mm"]) == pytest.approx((8.5, 9.5))
    assert a["volume_mm3"] == pytest.approx(3.0)


def phantom(seed=0):
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:24, :40, :48]
    arr = rng.normal(0, 30, z.shape) - 900
    lab = np.zeros(z.shape, np.uint16)
    organs = [((20, 20, 12), 9, 40, 1), ((32, 14, 10), 6, 180, 2), ((12, 30, 14), 5, -600, 300)]
    for (cx, cy, cz), r, hu, value in organs:
        m = (x - cx) ** 2 + (y - cy) ** 2 + ((z - cz) * 2) ** 2 < r ** 2
        arr[m] += 900 + hu
        lab[m] = value
    image = sitk.GetImageFromArray(arr.astype(np.float32))
    image.SetSpacing((0.7, 0.7, 1.4))
    image.SetOrigin((-5.0, 3.0, -100.0))
    labels = sitk.GetImageFromArray(lab)
    labels.CopyInformation(image)
    return image, labels


def test_agrees_with_simpleitk_label_statistics():
    image, labels = phantom()
    rows = segment_statistics(image, labels)
    assert [r["label_value"] for r in rows] == [1, 2, 300]
    f = sitk.LabelIntensityStatisticsImageFilter()
    f.Execute(labels, image)
    arr, lab = sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(labels)
    for r in rows:
        v = r["label_value"]
        assert r["voxel_count"] == f.GetNumberOfPixels(v)
        assert r["mean"] == pytest.approx(f.GetMean(v), rel=1e-9)
        assert r["min"] == pytest.approx(f.GetMinimum(v))
        assert r["max"] == pytest.approx(f.GetMaximum(v))
        assert r["volume_mm3"] == pytest.approx(f.GetPhysicalSize(v))
        n = r["voxel_count"]
        assert r["std"] * math.sqrt(n / (n - 1)) == pytest.approx(f.GetStandardDeviation(v), rel=1e-9)  # ITK: n - 1
        values = arr[lab == v].astype(np.float64)
        assert r["median"] == pytest.approx(float(np.median(values)))
        assert r["std"] == pytest.approx(float(values.std()))


def test_geometry_mismatch_and_resample():
    image, labels = phantom()
    other = sitk.Image(labels)
    other.SetSpacing((0.7, 0.7, 1.5))
    with pytest.raises(GeometryError, match="spacing \\[0.7, 0.7, 1.5\\].*spacing \\[0.7, 0.7, 1.4\\]"):
        segment_statistics(image, other)
    rows = segment_statistics(image, other, resample_labels=True)
    assert [r["label_value"] for r in rows] == [1, 2, 300]


def test_float_labels_are_refused_and_cancel_works():
    image, labels = phantom()
    with pytest.raises(InputError, match="integer labels"):
        segment_statistics(image, sitk.Cast(labels, sitk.sitkFloat32))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        segment_statistics(image, labels, cancel=cancel)
    seen = []
    segment_statistics(image, labels, progress=lambda f, m: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)


def test_write_stats_csv(tmp_path):
    image, labels = small_case()
    rows = segment_statistics(image, labels, {1: "a", 3: "b"})
    path = write_rows(rows, tmp_path / "stats.csv")
    with open(path, newline="") as f:
        read = list(csv.DictReader(f))
    assert list(read[0]) == list(STAT_COLUMNS)
    assert read[0]["segment"] == "a" and float(read[0]["volume_ml"]) == pytest.approx(0.003)


@pytest.mark.realdata
def test_abdomen_reference_statistics(abdomen_dicom, abdomen_reference):
    from medseg import io

    image, _meta = io.load(abdomen_dicom)
    labels, names = read_label_image(abdomen_reference)
    rows = {r["segment"]: r for r in segment_statistics(image, labels, names)}
    assert len(rows) == len(names)
    f = sitk.LabelIntensityStatisticsImageFilter()
    f.Execute(labels, image)
    for organ in ("liver", "spleen"):
        r = rows[organ]
        assert r["voxel_count"] == f.GetNumberOfPixels(r["label_value"])
        assert r["mean"] == pytest.approx(f.GetMean(r["label_value"]))
        assert r["volume_ml"] == pytest.approx(r["voxel_count"] * np.prod(image.GetSpacing()) / 1000)
        assert 40 < r["median"] < 150  # contrast-enhanced soft tissue, HU
