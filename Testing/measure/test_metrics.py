"""Metrics against cases worked out by hand (arrays are (z, y, x), spacing (sz, sy, sx) mm)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import SimpleITK as sitk

from medseg.measure import metrics
from medseg.errors import GeometryError

ANISO = (2.0, 1.0, 0.5)


def cube(offset=(0, 0, 0), shape=(32, 32, 32), side=10, start=8):
    m = np.zeros(shape, bool)
    z, y, x = (start + o for o in offset)
    m[z:z + side, y:y + side, x:x + side] = True
    return m


def sphere(radius, shape=(64, 64, 64)):
    zz, yy, xx = np.indices(shape)
    c = (np.array(shape) - 1) / 2
    return (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 <= radius ** 2


def test_cubes_shifted_along_x():
    a, b = cube(), cube((0, 0, 2))
    # Overlap is 10 × 10 × 8 = 800 voxels of 1000 each.
    assert metrics.dice(a, b) == pytest.approx(2 * 800 / 2000)
    assert metrics.iou(a, b) == pytest.approx(800 / 1200)
    assert metrics.jaccard(a, b) == pytest.approx(800 / 1200)
    assert metrics.sensitivity(a, b) == pytest.approx(0.8)
    assert metrics.precision(a, b) == pytest.approx(0.8)
    # The x faces are 2 voxels × 0.5 mm apart; every other surface voxel is closer.
    assert metrics.hd(a, b, ANISO) == pytest.approx(1.0)
    assert metrics.hd95(a, b, ANISO) <= 1.0
    assert 0 < metrics.assd(a, b, ANISO) < 1.0


def test_cubes_shifted_along_z():
    a, b = cube(), cube((2, 0, 0))
    assert metrics.dice(a, b) == pytest.approx(0.8)
    assert metrics.hd(a, b, ANISO) == pytest.approx(2 * 2.0)


def test_identical_masks():
    a = cube()
    r = metrics.compare(a, a, ANISO)
    assert r["dice"] == 1.0 and r["iou"] == 1.0
    assert r["hd95"] == 0.0 and r["hd"] == 0.0 and r["assd"] == 0.0
    assert r["volume_diff_ml"] == 0.0 and r["volume_diff_pct"] == 0.0
    assert r["volume_pred_ml"] == pytest.approx(1000 * 2.0 * 1.0 * 0.5 / 1000)
    assert r["note"] == ""


def test_concentric_spheres():
    r1, r2 = 20, 15
    a, b = sphere(r1), sphere(r2)
    assert metrics.hd95(a, b, (1, 1, 1)) == pytest.approx(r1 - r2, abs=1.0)
    assert metrics.hd(a, b) == pytest.approx(r1 - r2, abs=1.0)
    for r, m in ((r1, a), (r2, b)):
        assert metrics.volume_ml(m, (1, 1, 1)) == pytest.approx(4 / 3 * math.pi * r ** 3 / 1000, rel=0.03)
    dml, dpct = metrics.volume_difference(b, a)
    assert dml == pytest.approx(metrics.volume_ml(b) - metrics.volume_ml(a))
    assert dpct == pytest.approx(100 * ((r2 / r1) ** 3 - 1), abs=3)


def test_surface_is_mask_minus_6_connected_erosion():
    s = metrics.surface(cube(side=3))
    assert s.sum() == 26  # 3³ cube minus its single interior voxel


def test_both_empty():
    e = np.zeros((8, 8, 8), bool)
    r = metrics.compare(e, e)
    assert r["dice"] == 1.0 and r["iou"] == 1.0
    assert math.isnan(r["hd95"]) and math.isnan(r["hd"]) and math.isnan(r["assd"])
    assert math.isnan(r["sensitivity"]) and math.isnan(r["precision"])
    assert "hd95" in r["note"] and "both masks are empty" in r["note"]


def test_one_empty():
    e, a = np.zeros((32, 32, 32), bool), cube()
    assert metrics.dice(e, a) == 0.0 and metrics.iou(a, e) == 0.0
    assert math.isnan(metrics.hd(e, a)) and math.isnan(metrics.hd95(a, e))
    r = metrics.compare(e, a)
    assert r["sensitivity"] == 0.0 and math.isnan(r["precision"])
    assert "hd95, hd, assd: NaN because the prediction is empty" in r["note"]
    assert r["volume_diff_pct"] == -100.0
    assert "reference is empty" in metrics.compare(a, e)["note"]


def test_evaluate_label_maps_and_json():
    pred = np.zeros((32, 32, 32), np.uint8)
    ref = np.zeros_like(pred)
    pred[cube()] = 1
    ref[cube((0, 0, 2))] = 1
    ref[0:4, 0:4, 0:4] = 2  # label 2 missed entirely by the prediction
    res = metrics.evaluate(pred, ref, spacing=ANISO)
    assert list(res) == ["1", "2"]
    assert res["1"]["dice"] == pytest.approx(0.8)
    assert res["1"]["hd"] == pytest.approx(1.0)
    assert res["2"]["dice"] == 0.0 and math.isnan(res["2"]["hd95"])

    named = metrics.evaluate(pred, ref, labels={1: "liver", 2: "tumour"}, spacing=ANISO)
    assert set(named) == {"liver", "tumour"}
    assert named["liver"] == res["1"]
    text = metrics.to_json(named)
    back = json.loads(text)
    assert back["tumour"]["hd95"] is None and back["tumour"]["precision"] is None
    assert back["liver"]["dice"] == pytest.approx(0.8)
    assert all(type(v) in (float, str) for v in named["liver"].values())


def test_sitk_images_use_their_spacing():
    pred = sitk.GetImageFromArray(cube().astype(np.uint8))
    ref = sitk.GetImageFromArray(cube((0, 0, 2)).astype(np.uint8))
    for img in (pred, ref):
        img.SetSpacing(ANISO[::-1])  # sitk spacing is (x, y, z)
    assert metrics.hd(pred, ref) == pytest.approx(1.0)
    assert metrics.evaluate(pred, ref)["1"]["hd"] == pytest.approx(1.0)
    assert metrics.volume_ml(pred) == pytest.approx(1.0)


def test_geometry_mismatch_raises():
    pred = sitk.GetImageFromArray(cube().astype(np.uint8))
    ref = sitk.GetImageFromArray(cube().astype(np.uint8))
    ref.SetSpacing((1.0, 1.0, 2.0))
    with pytest.raises(GeometryError, match=r"spacing=\(1\.0, 1\.0, 1\.0\).*spacing=\(1\.0, 1\.0, 2\.0\)"):
        metrics.evaluate(pred, ref)
    with pytest.raises(GeometryError):
        metrics.dice(np.zeros((4, 4, 4)), np.zeros((4, 4, 5)))
