"""`medseg evaluate`: metrics per label from two label files, with grid checks."""

from __future__ import annotations

import json

import numpy as np
import SimpleITK as sitk

from medseg.io import write_label_image, write_volume
from medseg.labels import AUTO_LABELS


def _cubes(shift: int) -> sitk.Image:
    arr = np.zeros((20, 30, 30), np.uint8)
    arr[5:15, 5:15, 5 + shift:15 + shift] = 3
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.5, 1.0, 2.0))
    return img


def test_evaluate_shifted_cube_by_hand(tmp_path, cli):
    write_label_image(_cubes(2), tmp_path / "pred.seg.nrrd", segments=[AUTO_LABELS[2]])
    write_volume(_cubes(0), tmp_path / "ref.nrrd")
    res = cli("evaluate", tmp_path / "pred.seg.nrrd", tmp_path / "ref.nrrd", "--json")
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result["matched_by"] == "value" and "the reference carries no segment names" in result["notes"][0]
    m = result["labels"]["lung-right"]  # the name comes from the seg.nrrd
    assert abs(m["dice"] - 0.8) < 1e-9 and abs(m["iou"] - 800 / 1200) < 1e-9
    assert abs(m["hd"] - 1.0) < 1e-9  # 2 voxels along x at 0.5 mm
    human = cli("evaluate", tmp_path / "pred.seg.nrrd", tmp_path / "ref.nrrd")
    assert "lung-right" in human.stdout and "0.800" in human.stdout


def test_evaluate_flipped_grid_is_aligned_and_true_mismatch_needs_the_flag(tmp_path, cli):
    ref = _cubes(0)
    write_volume(ref, tmp_path / "ref.nrrd")
    write_volume(sitk.Flip(ref, [True, False, True]), tmp_path / "flipped.nrrd")
    res = cli("evaluate", tmp_path / "flipped.nrrd", tmp_path / "ref.nrrd", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["labels"]["3"]["dice"] == 1.0
    moved = sitk.Image(ref)
    moved.SetOrigin((3.0, 0.0, 0.0))
    write_volume(moved, tmp_path / "moved.nrrd")
    res = cli("evaluate", tmp_path / "moved.nrrd", tmp_path / "ref.nrrd")
    assert res.returncode == 2 and "--resample-labels" in res.stderr
    res = cli("evaluate", tmp_path / "moved.nrrd", tmp_path / "ref.nrrd", "--resample-labels", "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["labels"]["3"]["dice"] < 1.0
