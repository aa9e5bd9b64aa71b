"""Shared slicer-core fixtures and helpers. slicer-core is required: a missing wheel fails the tests, never skips them."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import slicer  # noqa: F401  (fail loudly at import when slicer-core is missing)
import vtk
from vtk.util import numpy_support

from medseg.mrml.headless import HeadlessSlicer, create_headless_app

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


@pytest.fixture
def headless_app() -> HeadlessSlicer:
    """A fresh slicer-core scene with the Segmentations logic registered."""
    app = create_headless_app()
    yield app
    app.scene.Clear(True)


def ijk_to_ras(image: sitk.Image) -> np.ndarray:
    """4x4 voxel-index (x, y, z) to RAS matrix of a SimpleITK (LPS) image."""
    m = np.eye(4)
    d = np.asarray(image.GetDirection()).reshape(3, 3) * np.asarray(image.GetSpacing())
    m[:3, :3] = LPS_TO_RAS @ d
    m[:3, 3] = LPS_TO_RAS @ np.asarray(image.GetOrigin())
    return m


def vtk_matrix_to_numpy(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def oriented_image_array(image) -> np.ndarray:
    """Scalars of a vtkImageData / vtkOrientedImageData as a (z, y, x) array (a copy)."""
    e = image.GetExtent()
    shape = (e[5] - e[4] + 1, e[3] - e[2] + 1, e[1] - e[0] + 1)
    if min(shape) <= 0:
        return np.zeros((0, 0, 0), dtype=np.uint8)
    return numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(shape).copy()


def oriented_image_from_mask(mask: np.ndarray, grid: sitk.Image):
    """A vtkOrientedImageData (uint8 0/1) holding a (z, y, x) mask on the grid of ``grid``."""
    image = slicer.vtkOrientedImageData()
    image.SetDimensions(mask.shape[2], mask.shape[1], mask.shape[0])
    image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
    numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())[:] = mask.astype(np.uint8).ravel()
    matrix = vtk.vtkMatrix4x4()
    for r, row in enumerate(ijk_to_ras(grid)):
        for c, value in enumerate(row):
            matrix.SetElement(r, c, value)
    image.SetImageToWorldMatrix(matrix)
    image.Modified()
    return image
