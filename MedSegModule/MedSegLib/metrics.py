"""Segmentation quality metrics: Dice, IoU, sensitivity, precision, HD95, HD, ASSD, volume.

Masks are numpy arrays in (z, y, x) order (non-zero = inside) with ``spacing`` as
(sz, sy, sx) in mm, or ``SimpleITK.Image``s, whose spacing is used and whose grids must
match (else :class:`~MedSegLib.errors.GeometryError`). Distances are in mm, volumes in ml.

Conventions for empty masks (documented here because papers disagree):

- Dice / IoU: both empty -> 1.0 (perfect agreement); exactly one empty -> 0.0.
- Sensitivity (recall): NaN when the reference is empty (no positives to find).
- Precision: NaN when the prediction is empty (no positive calls to judge).
- HD95 / HD / ASSD: NaN when either mask is empty (no surface to measure from);
  :func:`compare` and :func:`evaluate` say why in the result's ``"note"``.
- Volume difference %: NaN when the reference is empty.

The surface of a mask is the mask minus its binary erosion by the 3D 6-neighbourhood
(connectivity 1), so a surface voxel is an inside voxel with a face-neighbour outside.
Voxels on the array border count as surface (outside the array is outside the mask).
"""

from __future__ import annotations

import json
import math
from typing import Mapping

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from .errors import GeometryError, ParameterError

_TOL = 1e-4


def _geometry(img: sitk.Image) -> str:
    return (f"size={img.GetSize()} origin={tuple(round(v, 4) for v in img.GetOrigin())} "
            f"spacing={tuple(round(v, 4) for v in img.GetSpacing())} "
            f"direction={tuple(round(v, 4) for v in img.GetDirection())}")


def check_same_grid(a: sitk.Image, b: sitk.Image) -> None:
    """Raise GeometryError unless size, origin, spacing and direction agree within 1e-4."""
    same = (a.GetSize() == b.GetSize() and a.GetDimension() == b.GetDimension()
            and all(np.allclose(f(a), f(b), atol=_TOL, rtol=0) for f in
                    (sitk.Image.GetOrigin, sitk.Image.GetSpacing, sitk.Image.GetDirection)))
    if not same:
        raise GeometryError(f"prediction and reference grids differ: prediction {_geometry(a)}; "
                            f"reference {_geometry(b)}; resample one onto the other")


def _arrays(pred, ref, spacing):
    """Turn arrays or sitk images into ((z, y, x) arrays, spacing (sz, sy, sx))."""
    if isinstance(pred, sitk.Image) or isinstance(ref, sitk.Image):
        if not (isinstance(pred, sitk.Image) and isinstance(ref, sitk.Image)):
            raise ParameterError("give both prediction and reference as SimpleITK images, or both as arrays")
        if spacing is not None:
            raise ParameterError("spacing comes from the images; do not pass it as well")
        check_same_grid(pred, ref)
        spacing = pred.GetSpacing()[::-1]  # sitk is (x, y, z); arrays are (z, y, x)
        pred, ref = sitk.GetArrayViewFromImage(pred), sitk.GetArrayViewFromImage(ref)
    pred, ref = np.asarray(pred), np.asarray(ref)
    if pred.shape != ref.shape:
        raise GeometryError(f"prediction shape {pred.shape} differs from reference shape {ref.shape}")
    spacing = (1.0,) * pred.ndim if spacing is None else tuple(float(s) for s in spacing)
    if len(spacing) != pred.ndim:
        raise ParameterError(f"spacing {spacing} has {len(spacing)} values for a {pred.ndim}-D array")
    return pred, ref, spacing


def _masks(pred, ref, spacing=None):
    p, r, spacing = _arrays(pred, ref, spacing)
    return p != 0, r != 0, spacing


def _counts(pred, ref):
    p, r, _ = _masks(pred, ref)
    tp = int(np.count_nonzero(p & r))
    return tp, int(np.count_nonzero(p)), int(np.count_nonzero(r))


def dice(pred, ref) -> float:
    """Dice = 2|P∩R| / (|P|+|R|); 1.0 when both are empty. Arrays in (z, y, x)."""
    tp, np_, nr = _counts(pred, ref)
    return 1.0 if np_ + nr == 0 else 2.0 * tp / (np_ + nr)


def iou(pred, ref) -> float:
    """IoU (Jaccard) = |P∩R| / |P∪R|; 1.0 when both are empty."""
    tp, np_, nr = _counts(pred, ref)
    return 1.0 if np_ + nr == 0 else tp / (np_ + nr - tp)


jaccard = iou


def sensitivity(pred, ref) -> float:
    """Sensitivity (recall) = |P∩R| / |R|; NaN when the reference is empty."""
    tp, _, nr = _counts(pred, ref)
    return math.nan if nr == 0 else tp / nr


recall = sensitivity


def precision(pred, ref) -> float:
    """Precision = |P∩R| / |P|; NaN when the prediction is empty."""
    tp, np_, _ = _counts(pred, ref)
    return math.nan if np_ == 0 else tp / np_


def surface(mask: np.ndarray) -> np.ndarray:
    """Surface voxels: mask minus its erosion by the 6-neighbourhood (connectivity 1)."""
    mask = np.asarray(mask) != 0
    return mask & ~ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(mask.ndim, 1))


def _surface_distances(p, r, spacing):
    """Directed surface distances in mm (pred->ref, ref->pred), or None if either is empty."""
    if not p.any() or not r.any():
        return None
    # Crop to the union's box plus one voxel: erosion and EDT then give the same answer
    # as on the full grid (every surface voxel is inside), at a fraction of the cost on CT.
    idx = np.argwhere(p | r)
    box = tuple(slice(max(lo - 1, 0), hi + 2) for lo, hi in zip(idx.min(0), idx.max(0)))
    sp, sr = surface(p[box]), surface(r[box])
    d_to_r = ndimage.distance_transform_edt(~sr, sampling=spacing)
    d_to_p = ndimage.distance_transform_edt(~sp, sampling=spacing)
    return d_to_r[sp], d_to_p[sr]


def _hd_values(p, r, spacing):
    d = _surface_distances(p, r, spacing)
    if d is None:
        return math.nan, math.nan, math.nan
    a, b = d
    # HD95 as in MedPy / MONAI: the larger of the two directed 95th percentiles.
    hd95_ = max(np.percentile(a, 95), np.percentile(b, 95))
    return float(hd95_), float(max(a.max(), b.max())), float((a.sum() + b.sum()) / (a.size + b.size))


def hd95(pred, ref, spacing=None) -> float:
    """95th-percentile symmetric Hausdorff distance in mm (max of both directed 95th
    percentiles over surface voxels); NaN when either mask is empty. spacing (sz, sy, sx) mm."""
    return _hd_values(*_masks(pred, ref, spacing))[0]


def hd(pred, ref, spacing=None) -> float:
    """Symmetric Hausdorff distance (max surface distance) in mm; NaN if either mask is empty."""
    return _hd_values(*_masks(pred, ref, spacing))[1]


def assd(pred, ref, spacing=None) -> float:
    """Average symmetric surface distance in mm (mean over both surfaces' voxels); NaN if either is empty."""
    return _hd_values(*_masks(pred, ref, spacing))[2]


def volume_ml(mask, spacing=None) -> float:
    """Volume in ml: voxel count × voxel volume (mm³) / 1000. Array (z, y, x), spacing (sz, sy, sx) mm."""
    if isinstance(mask, sitk.Image):
        spacing, mask = mask.GetSpacing(), sitk.GetArrayViewFromImage(mask)
    spacing = (1.0,) * np.ndim(mask) if spacing is None else spacing
    return float(np.count_nonzero(mask) * np.prod(spacing) / 1000.0)


def volume_difference(pred, ref, spacing=None) -> tuple[float, float]:
    """(pred − ref in ml, the same as % of ref); the % is NaN when the reference is empty."""
    p, r, spacing = _masks(pred, ref, spacing)
    vp, vr = volume_ml(p, spacing), volume_ml(r, spacing)
    return vp - vr, (math.nan if vr == 0 else 100.0 * (vp - vr) / vr)


def compare(pred, ref, spacing=None) -> dict:
    """All metrics for one pair of binary masks, as plain floats, plus a ``"note"`` string
    explaining any NaN ("" when there is none). Distances in mm, volumes in ml."""
    p, r, spacing = _masks(pred, ref, spacing)
    h95, h, asd = _hd_values(p, r, spacing)
    dv_ml, dv_pct = volume_difference(p, r, spacing)
    notes = []
    empty = [n for n, m in (("prediction", p), ("reference", r)) if not m.any()]
    if empty:
        which = "both masks are" if len(empty) == 2 else f"the {empty[0]} is"
        notes.append(f"hd95, hd, assd: NaN because {which} empty")
    if not r.any():
        notes.append("sensitivity, volume_diff_pct: NaN because the reference is empty")
    if not p.any():
        notes.append("precision: NaN because the prediction is empty")
    return {"dice": dice(p, r), "iou": iou(p, r), "sensitivity": sensitivity(p, r),
            "precision": precision(p, r), "hd95": h95, "hd": h, "assd": asd,
            "volume_pred_ml": volume_ml(p, spacing), "volume_ref_ml": volume_ml(r, spacing),
            "volume_diff_ml": dv_ml, "volume_diff_pct": dv_pct, "note": "; ".join(notes)}


def evaluate(pred, ref, labels: Mapping[int, str] | None = None, spacing=None) -> dict:
    """Per-label metrics for two label maps (integer arrays in (z, y, x) or sitk images).

    Without ``labels``: every non-zero value present in either map, keyed by ``str(value)``.
    With ``labels`` (value -> name): exactly those values, keyed by name, so a named label
    absent from both maps still gets a row. Each value is :func:`compare`'s dict.
    """
    p, r, spacing = _arrays(pred, ref, spacing)
    if labels is None:
        values = sorted(int(v) for v in np.union1d(np.unique(p), np.unique(r)) if v != 0)
        names = {v: str(v) for v in values}
    else:
        names = {int(v): str(n) for v, n in labels.items()}
    return {name: compare(p == v, r == v, spacing) for v, name in names.items()}


def _nan_to_none(obj):
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def to_json(result: dict, **kwargs) -> str:
    """JSON text for a metrics dict, with NaN written as null (valid JSON, unlike NaN)."""
    return json.dumps(_nan_to_none(result), allow_nan=False, **kwargs)
