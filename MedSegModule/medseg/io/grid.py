"""Put a label image onto its volume's grid, or say clearly why it cannot be.

DESIGN.md: grids that differ only by axis flips or permutations hold the same voxel centres, so
they are resampled (exactly, nearest neighbour) without asking. Grids that truly differ raise
:class:`GeometryError` showing both geometries, unless the caller asks to resample.
"""

from __future__ import annotations

import itertools

import numpy as np
import SimpleITK as sitk

from ..errors import GeometryError

TOLERANCE_MM = 1e-4


def describe(image: sitk.Image) -> str:
    """One line with an image's size, spacing (mm), origin (LPS mm) and direction."""
    d = np.round(np.asarray(image.GetDirection()), 4).tolist()
    return (f"size {list(image.GetSize())}, spacing {[round(s, 5) for s in image.GetSpacing()]}, "
            f"origin {[round(o, 4) for o in image.GetOrigin()]}, direction {d}")


def same_grid(a: sitk.Image, b: sitk.Image, tol: float = TOLERANCE_MM) -> bool:
    """True when size, spacing, origin and direction agree (spacing/origin within ``tol`` mm)."""
    return (a.GetSize() == b.GetSize()
            and np.allclose(a.GetSpacing(), b.GetSpacing(), atol=tol)
            and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=tol)
            and np.allclose(a.GetDirection(), b.GetDirection(), atol=1e-6))


def _corners(image: sitk.Image) -> np.ndarray:
    size = image.GetSize()
    idx = itertools.product(*[(0, n - 1) for n in size])
    return np.array([image.TransformContinuousIndexToPhysicalPoint([float(i) for i in c]) for c in idx])


def same_voxels(a: sitk.Image, b: sitk.Image, tol: float = TOLERANCE_MM) -> bool:
    """True when ``a`` and ``b`` sample the same voxel centres, perhaps in flipped or permuted axis order."""
    if sorted(a.GetSize()) != sorted(b.GetSize()) or not np.allclose(sorted(a.GetSpacing()), sorted(b.GetSpacing()), atol=tol):
        return False
    da = np.asarray(a.GetDirection()).reshape(3, 3)
    db = np.asarray(b.GetDirection()).reshape(3, 3)
    # Each axis of one must be parallel to some axis of the other: |Da^T Db| is a permutation matrix.
    cross = np.abs(da.T @ db)
    if not (np.allclose(np.sort(cross.ravel()), [0] * 6 + [1] * 3, atol=1e-5)
            and np.allclose(cross.sum(axis=0), 1, atol=1e-5) and np.allclose(cross.sum(axis=1), 1, atol=1e-5)):
        return False
    ca = {tuple(np.round(p / tol / 10).astype(np.int64)) for p in _corners(a)}
    cb = {tuple(np.round(p / tol / 10).astype(np.int64)) for p in _corners(b)}
    return ca == cb


def resample_nearest(labels: sitk.Image, reference: sitk.Image) -> sitk.Image:
    """Labels onto ``reference``'s grid with nearest-neighbour interpolation (outside → 0)."""
    return sitk.Resample(labels, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, labels.GetPixelID())


def align_labels(labels: sitk.Image, reference: sitk.Image, resample: bool = False,
                 what: str = "labels") -> sitk.Image:
    """Return ``labels`` on ``reference``'s grid.

    Same grid: returned as is. Same voxels in another axis order or with flips: resampled
    exactly. Otherwise resampled (nearest) only when ``resample`` is true (``--resample-labels``),
    else :class:`GeometryError` naming both geometries.
    """
    if same_grid(labels, reference):
        return labels
    if same_voxels(labels, reference) or resample:
        return resample_nearest(labels, reference)
    raise GeometryError(f"the {what} grid differs from the image grid; pass --resample-labels to resample. "
                        f"{what}: {describe(labels)}; image: {describe(reference)}")
