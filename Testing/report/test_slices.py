"""Report slice pictures: which planes a label gets, by the depth of the stack."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from medseg.labels import label_table
from medseg.report.slices import MIN_STACK_MM, label_planes


def _volume(slices: int, slice_mm: float) -> tuple[sitk.Image, sitk.Image]:
    hu = np.full((slices, 64, 64), -1000, np.int16)
    hu[:, 16:48, 16:48] = 40
    lab = np.zeros(hu.shape, np.uint8)
    lab[:, 24:40, 20:30] = 1
    image, labels = sitk.GetImageFromArray(hu), sitk.GetImageFromArray(lab)
    for im in (image, labels):
        im.SetSpacing((2.0, 2.0, slice_mm))
    return image, labels


def test_a_thin_stack_is_shown_axially_only():
    image, labels = _volume(2, 1.0)  # 2 mm deep, as ct-chest-2
    pic = label_planes(image, labels, label_table([1], {1: "lung-right"}))
    assert [t.split(": ")[1].split()[0] for t in pic.positions] == ["axial"]
    assert pic.planes == ("axial",) and "axial only: the stack is 2 mm deep" in pic.caption


def test_a_deep_stack_gets_three_planes():
    image, labels = _volume(int(MIN_STACK_MM // 2) + 1, 2.0)
    pic = label_planes(image, labels, label_table([1], {1: "lung-right"}))
    assert sorted(t.split(": ")[1].split()[0] for t in pic.positions) == ["axial", "coronal", "sagittal"]
    assert set(pic.planes) == {"axial", "coronal", "sagittal"} and "axial only" not in pic.caption
