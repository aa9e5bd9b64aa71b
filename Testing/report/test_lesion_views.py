"""The lesion picture: each lesion on the axial slice where it is largest, drawn radiologically."""

from __future__ import annotations

import io

import numpy as np
import SimpleITK as sitk

from medseg.measure.lesions import lesion_map, lesion_table
from medseg.preprocess import Reoriented
from medseg.report.lesion_views import CLOSE_UP_HALF_MM, lesion_view, lesion_views
from medseg.report.slices import position_text


def _ras_volume():
    """A volume stored RAS-first (high x index = patient's right, high y = anterior), two lesions."""
    size = (60, 50, 12)  # x, y, z
    hu = np.full(size[::-1], -850, np.int16)
    lab = np.zeros(size[::-1], np.uint8)
    lab[3:8, 30:38, 44:52] = 1  # the patient's right and anterior: 5 slices, largest in slice 5
    lab[5, 29:39, 43:53] = 1
    lab[9:11, 10:13, 5:8] = 1  # a small one on the left, posterior
    hu[lab > 0] = 20
    image, labels = sitk.GetImageFromArray(hu), sitk.GetImageFromArray(lab)
    for im in (image, labels):
        im.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
        im.SetSpacing((0.8, 0.8, 2.5))
        im.SetOrigin((30.0, 40.0, -20.0))
    return image, labels


def test_the_lesion_is_on_the_image_left_and_top_when_it_is_right_and_anterior():
    image, labels = _ras_volume()
    numbered = lesion_map(labels)
    lps = Reoriented.of(image).image
    lab = sitk.GetArrayFromImage(Reoriented.of(numbered).image)
    view = lesion_view(lps, lab, 1)
    ny, nx = lab.shape[1:]
    assert view.z == 5  # the slice where lesion 1 has the most voxels (z is not flipped: S stays S)
    # patient's right on the image's left, anterior at the top
    assert (view.cols.start + view.cols.stop) / 2 < nx / 2 and (view.rows.start + view.rows.stop) / 2 < ny / 2
    inside = lab[view.z] == 1
    assert inside[view.rows, view.cols].sum() == inside.sum()  # the close-up holds the whole lesion
    width_mm = (view.cols.stop - view.cols.start) * lps.GetSpacing()[0]
    assert width_mm <= 2 * CLOSE_UP_HALF_MM[1] + lps.GetSpacing()[0]
    z_mm = image.TransformIndexToPhysicalPoint((0, 0, 5))[2]
    assert view.position == position_text(z_mm, 2)


def test_picture_names_each_lesion_and_its_slice():
    import matplotlib.image

    image, labels = _ras_volume()
    numbered = lesion_map(labels)
    rows = lesion_table(labels)
    picture = lesion_views(image, numbered, rows)
    assert len(rows) == 2 and [p.split(":")[0] for p in picture.positions] == ["lesion-1", "lesion-2"]
    assert picture.positions[1].endswith(position_text(image.TransformIndexToPhysicalPoint((0, 0, 9))[2], 2))
    assert matplotlib.image.imread(io.BytesIO(picture.png)).shape[2] in (3, 4)
    one = lesion_views(image, numbered, rows, most=1)
    assert len(one.positions) == 1 and "the 1 largest of 2 lesions" in one.caption
    assert lesion_views(image, numbered, []) is None
