"""`medseg mesh`: surfaces per segment from a label file, with measured area and volume."""

from __future__ import annotations

import json

import numpy as np
import SimpleITK as sitk

from medseg.io import write_label_image
from medseg.labels import BONE, LUNG_RIGHT


def _two_spheres(tmp_path):
    z, y, x = np.mgrid[:40, :40, :40]
    arr = np.zeros((40, 40, 40), np.uint8)
    arr[(z - 20) ** 2 + (y - 12) ** 2 + (x - 12) ** 2 <= 64] = LUNG_RIGHT.value
    arr[(z - 20) ** 2 + (y - 28) ** 2 + (x - 28) ** 2 <= 36] = BONE.value
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((1.0, 1.0, 1.0))
    path = tmp_path / "labels.seg.nrrd"
    write_label_image(img, path, segments=[LUNG_RIGHT, BONE])
    return path, arr


def test_mesh_command_writes_one_surface_per_segment(tmp_path, cli):
    labels, arr = _two_spheres(tmp_path)
    out = tmp_path / "meshes"
    res = cli("mesh", labels, "-o", out, "--format", "obj", "--json", "--png", tmp_path / "m.png")
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert set(rows) == {"lung-right", "bone"}
    assert {p.name for p in out.iterdir()} == {"lung-right.obj", "bone.obj"}
    for name, value in (("lung-right", LUNG_RIGHT.value), ("bone", BONE.value)):
        voxel_ml = (arr == value).sum() / 1000.0
        assert rows[name]["watertight"] is True
        assert abs(rows[name]["volume_ml"] - voxel_ml) / voxel_ml < 0.02
    assert (tmp_path / "m.png").stat().st_size > 10_000


def test_mesh_command_bad_options(tmp_path, cli):
    labels, _ = _two_spheres(tmp_path)
    res = cli("mesh", labels, "-o", tmp_path / "m", "--decimate", "1.5")
    assert res.returncode == 2 and "--decimate" in res.stderr
