"""Lesions of a label image, one row each: volume (ml), greatest diameters (mm), centroid (LPS mm).

A lesion is a 26-connected component of one label value. Diameters are measured, as pyradiomics'
``Maximum3DDiameter`` and ``Maximum2DDiameterSlice`` are, between the vertices of the component's
surface mesh (marching cubes at 0.5 on the voxel grid, in mm): the 3D one over the whole
lesion, the axial one (the RECIST long axis) within one slice of the array's slice axis.

:func:`match_lesions` pairs the lesions of a prediction with those of a reference (any overlap),
for detection rates and per-lesion Dice.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError
from scipy.spatial.distance import pdist

CONNECTIVITY = np.ones((3, 3, 3), bool)


def _farthest(points: np.ndarray) -> float:
    """Largest distance between two of ``points`` (N, d), through their convex hull when it has one."""
    if len(points) < 2:
        return 0.0
    try:
        if len(points) > points.shape[1] + 1:
            points = points[ConvexHull(points).vertices]
    except QhullError:  # flat or collinear: every point is a candidate
        pass
    return float(pdist(points).max())


def _surface(mask: np.ndarray, spacing) -> np.ndarray:
    """Vertices (N, 3) in mm of the marching-cubes surface of a (z, y, x) bool mask."""
    from skimage.measure import marching_cubes

    padded = np.pad(mask.astype(np.float32), 1)
    verts, *_ = marching_cubes(padded, 0.5, spacing=tuple(float(s) for s in spacing))
    return verts - np.asarray(spacing, float)  # undo the pad


def max_diameters(mask: np.ndarray, spacing) -> tuple[float, float]:
    """(3D, axial) greatest diameters in mm of one lesion's (z, y, x) bool mask at ``spacing`` mm."""
    verts = _surface(mask, spacing)
    d3 = _farthest(verts)
    axial = 0.0
    zi = verts[:, 0] / float(spacing[0])
    in_slice = np.isclose(zi, np.rint(zi), atol=1e-4)  # vertices on in-plane edges lie in a slice's plane
    for z in np.unique(np.rint(zi[in_slice])):
        on = in_slice & (np.rint(zi) == z)
        if on.sum() >= 2:
            axial = max(axial, _farthest(verts[on][:, 1:]))
    return d3, axial


def lesion_map(labels_image: sitk.Image, values=None) -> sitk.Image:
    """A label image on ``labels_image``'s grid where lesion N has value N: the 26-connected components
    of each label value in ``values`` (default: every non-zero one), numbered largest first (ties in
    value order, then in scan order)."""
    labels = sitk.GetArrayViewFromImage(labels_image)
    values = [int(v) for v in np.unique(labels) if v] if values is None else [int(v) for v in values]
    parts = []  # (voxels, components of one value, component number)
    for value in values:
        comp, _ = ndimage.label(labels == value, structure=CONNECTIVITY)
        sizes = np.bincount(comp.ravel())
        parts += [(int(sizes[k]), comp, k) for k in range(1, len(sizes)) if sizes[k]]
    order = sorted(range(len(parts)), key=lambda i: -parts[i][0])  # stable: ties keep value, then scan order
    out = np.zeros(labels.shape, np.uint16 if len(parts) > 255 else np.uint8)
    for n, i in enumerate(order, start=1):
        out[parts[i][1] == parts[i][2]] = n
    image = sitk.GetImageFromArray(out)
    image.CopyInformation(labels_image)
    return image


def lesion_table(labels_image: sitk.Image, values=None, names: dict | None = None,
                 numbered: sitk.Image | None = None) -> list[dict]:
    """One dict per lesion of ``labels_image`` (an integer label image), largest first.

    ``values``: the label values to measure (default: every non-zero one); ``names``: {value: name};
    ``numbered``: its :func:`lesion_map` when the caller already has it.
    Keys: ``lesion`` (1, 2, ... in this order, the values of :func:`lesion_map`), ``label``, ``name``,
    ``voxels``, ``volume_ml``, ``max_diameter_mm`` (3D), ``max_axial_diameter_mm`` (within a slice),
    ``centroid_lps_mm`` (x, y, z in the image's physical space), ``slices`` [first, last] (array index z).
    """
    labels = sitk.GetArrayViewFromImage(labels_image)
    spacing = labels_image.GetSpacing()[::-1]
    voxel_ml = float(np.prod(spacing)) / 1000.0
    if numbered is None:
        numbered = lesion_map(labels_image, values)
    lesions = sitk.GetArrayViewFromImage(numbered)
    rows = []
    for n, box in enumerate(ndimage.find_objects(lesions), start=1):
        if box is None:
            continue
        mask = lesions[box] == n
        value = int(labels[box][mask][0])
        d3, axial = max_diameters(mask, spacing)
        centre = np.array([b.start for b in box], float) + np.argwhere(mask).mean(axis=0)
        lps = labels_image.TransformContinuousIndexToPhysicalPoint([float(c) for c in centre[::-1]])
        rows.append({"lesion": n, "label": value, "name": (names or {}).get(value, str(value)),
                     "voxels": int(mask.sum()), "volume_ml": round(float(mask.sum()) * voxel_ml, 3),
                     "max_diameter_mm": round(d3, 1), "max_axial_diameter_mm": round(axial, 1),
                     "centroid_lps_mm": [round(float(c), 1) for c in lps],
                     "slices": [int(box[0].start), int(box[0].stop - 1)]})
    return rows


def match_lesions(reference: np.ndarray, predicted: np.ndarray, ignore: np.ndarray | None = None) -> dict:
    """Pair reference and predicted lesions (bool (z, y, x) masks) by overlap.

    Returns ``{"lesions": [{voxels, found, dice}], "false_positives": n}``: per reference component
    whether any predicted voxel touches it and the Dice of it against the predicted components
    that overlap it; predicted components touching no reference lesion (nor ``ignore``) count as
    false positives.
    """
    reference, predicted = np.asarray(reference, bool), np.asarray(predicted, bool)
    ref, n_ref = ndimage.label(reference, structure=CONNECTIVITY)
    pred, n_pred = ndimage.label(predicted, structure=CONNECTIVITY)
    out = []
    for k, box in enumerate(ndimage.find_objects(ref), start=1):
        r = ref == k
        hits = [int(v) for v in np.unique(pred[r]) if v]
        p = np.isin(pred, hits) if hits else np.zeros_like(r)
        inter = int(np.count_nonzero(r & p))
        out.append({"voxels": int(r.sum()), "found": bool(hits),
                    "dice": round(2.0 * inter / (int(r.sum()) + int(p.sum())), 4)})
    touched = set(np.unique(pred[reference]).tolist()) | (set(np.unique(pred[ignore]).tolist()) if ignore is not None else set())
    fp = sum(1 for v in range(1, n_pred + 1) if v not in touched)
    return {"lesions": out, "false_positives": fp}
