"""Offscreen pictures of Slicer's views (medseg.mrml.render) under slicer-core: the overlay sits on the anatomy."""

from __future__ import annotations

import numpy as np
import pytest
import slicer  # noqa: F401  (slicer-core is required: fail, never skip)
import vtk
from slicer_fixtures import headless_app  # noqa: F401
from vtk.util import numpy_support

from medseg import labels as L
from medseg.mrml import scene as S, render as R
from medseg.phantom import make_chest


@pytest.fixture
def chest_scene(headless_app):
    phantom = make_chest(seed=0)
    volume = S.image_to_volume_node(headless_app.scene, phantom.to_image(), "ct", window=(40, 400))
    S.labels_to_segmentation_node(headless_app.scene, phantom.labels_image(), L.AUTO_LABELS, reference_volume=volume)
    return headless_app, volume


def _tinted(rgb: np.ndarray, colour) -> np.ndarray:
    """Pixels whose hue leans the way the segment colour does (fill is the colour at half opacity over CT)."""
    rgb = rgb.astype(int)
    c = np.asarray(colour, dtype=int)
    dominant = int(np.argmax(c - c.mean()))  # the channel that stands out in the segment colour
    others = [i for i in range(3) if i != dominant]
    return rgb[..., dominant] - rgb[..., others].max(axis=-1) > 10


def test_red_view_puts_the_right_lung_on_the_image_left(chest_scene):
    app, volume = chest_scene
    nodes_before = app.scene.GetNumberOfNodes()
    ras = [0.0, 0.0, -400.0 + 5 * 16]  # mid chest
    rgb = R.render_slice_view(app.scene, volume, "Red", (256, 256), ras, app.app_logic, hide_fill=["body"])
    assert rgb.shape == (256, 256, 3) and rgb.dtype == np.uint8
    left, right = rgb[:, :128], rgb[:, 128:]
    # radiological convention: patient right (lung-right, green) on the image left, lung-left (blue) on the right
    assert _tinted(left, L.LUNG_RIGHT.color).sum() > 2000
    assert _tinted(right, L.LUNG_RIGHT.color).sum() < _tinted(left, L.LUNG_RIGHT.color).sum() / 10
    assert _tinted(right, L.LUNG_LEFT.color).sum() > 2000
    assert _tinted(left, L.LUNG_LEFT.color).sum() < _tinted(right, L.LUNG_LEFT.color).sum() / 10
    # anterior up: the table (posterior, below the patient) fills the bottom rows, not the top ones
    assert rgb[-60:].mean() > rgb[:40].mean()
    assert app.scene.GetNumberOfNodes() == nodes_before  # every helper node removed again


def test_views_and_3d_render_and_png_round_trip(chest_scene, tmp_path):
    app, volume = chest_scene
    views = [R.render_slice_view(app.scene, volume, v, (128, 96), None, app.app_logic) for v in R.VIEWS]
    three = R.render_3d_view(app.scene, (128, 96), app.app_logic, hide=["body", "table-headrest"])
    assert all(v.shape == (96, 128, 3) for v in views) and three.shape == (96, 128, 3)
    assert three.std() > 5  # surfaces drawn over the gradient background
    row = R.side_by_side([*views, three])
    path = R.write_png(row, tmp_path / "views.png")
    reader = vtk.vtkPNGReader()
    reader.SetFileName(str(path))
    reader.Update()
    image = reader.GetOutput()
    w, h, _ = image.GetDimensions()
    back = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(h, w, -1)[::-1]
    np.testing.assert_array_equal(back[..., :3], row)


def test_segmentations_can_be_left_out(chest_scene):
    app, volume = chest_scene
    with_seg = R.render_slice_view(app.scene, volume, "Red", (128, 128), None, app.app_logic)
    without = R.render_slice_view(app.scene, volume, "Red", (128, 128), None, app.app_logic, segmentations=False)
    assert np.abs(with_seg.astype(int) - without.astype(int)).sum() > 0
    # greyscale only: the CT's window level, no segment colour
    assert np.abs(without[..., 0].astype(int) - without[..., 1]).max() <= 1
