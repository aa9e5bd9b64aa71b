"""Segmentation quality metrics: Dice, IoU, sensitivity, precision, HD95, HD, ASSD, volume.

Masks are numpy arrays in (z, y, x) order (non-zero = inside) with ``spacing`` as
(sz, sy, sx) in mm, or ``SimpleITK.Image``s, whose spacing is used and whose grids must
match (else :class:`~medseg.errors.GeometryError`). Distances are in mm, volumes in ml.

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
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..errors import GeometryError, ParameterError

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
    """Per-label metrics for two label maps compared value by value (integer arrays in (z, y, x) or sitk images).

    Without ``labels``: every non-zero value present in either map, keyed by ``str(value)``.
    With ``labels`` (value -> name): exactly those values, keyed by name, so a named label
    absent from both maps still gets a row. Each value is :func:`compare`'s dict. To compare
    two label files whose values mean different structures, use :func:`pair_labels` and
    :func:`evaluate_pairs`.
    """
    p, r, spacing = _arrays(pred, ref, spacing)
    if labels is None:
        values = sorted(int(v) for v in np.union1d(np.unique(p), np.unique(r)) if v != 0)
        names = {v: str(v) for v in values}
    else:
        names = {int(v): str(n) for v, n in labels.items()}
    return {name: compare(p == v, r == v, spacing) for v, name in names.items()}


@dataclass
class Pair:
    """One structure compared: its name, and the label values that make it on each side."""

    name: str
    pred_values: tuple[int, ...]
    ref_values: tuple[int, ...]
    pred_name: str = ""
    ref_name: str = ""


@dataclass
class Pairing:
    """What :func:`pair_labels` decided: the pairs, how they were matched, and what was left out."""

    pairs: list[Pair]
    matched_by: str  # "name", "value", "map" or "merge"
    unmatched_pred: list[str] = field(default_factory=list)
    unmatched_ref: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _values_of(side: str, item: str, names: Mapping[int, str], present: Sequence[int]) -> tuple[int, ...]:
    """Values of ``item`` ("liver", "5", or "a+b" for a union) on one side; ParameterError if unknown."""
    out = []
    by_name: dict[str, list[int]] = {}
    for v, n in names.items():
        by_name.setdefault(n, []).append(int(v))
    for part in (x.strip() for x in item.split("+")):
        if part in by_name:
            out += by_name[part]
        elif part.isdigit() and (int(part) in names or int(part) in present):
            out.append(int(part))
        else:
            known = ", ".join(sorted(by_name)) or ", ".join(map(str, present))
            raise ParameterError(f"--map: {part!r} is not a segment of the {side} labels (they have: {known})")
    return tuple(sorted(set(out)))


def pair_labels(pred_names: Mapping[int, str], ref_names: Mapping[int, str], pred_present: Sequence[int],
                ref_present: Sequence[int], mapping: str | None = None, merge: bool = False) -> Pairing:
    """Decide which structures of a prediction and a reference to compare.

    * ``merge``: every non-zero label on each side as one structure ("foreground");
    * ``mapping`` ("pred=ref,..."; a side may be a name, a value, or a union "a+b"): exactly those pairs;
    * both sides named: the names they share (values may differ); names on one side only are listed;
    * otherwise by value, and the pairing says so.

    ``*_names`` are ``{value: name}`` as the label files carry them; ``*_present`` the values present.
    Raises :class:`ParameterError` when both sides are named and share no name (give a mapping).
    """
    if merge:
        return Pairing([Pair("foreground", tuple(pred_present), tuple(ref_present))], "merge",
                       notes=["every non-zero label on each side merged into one structure"])
    if mapping:
        pairs = []
        for item in (x.strip() for x in mapping.split(",") if x.strip()):
            if item.count("=") != 1:
                raise ParameterError(f"--map takes pred=ref pairs separated by commas, got {item!r}")
            left, right = (x.strip() for x in item.split("="))
            pairs.append(Pair(left if left == right else f"{left}={right}",
                              _values_of("prediction", left, pred_names, pred_present),
                              _values_of("reference", right, ref_names, ref_present), left, right))
        return Pairing(pairs, "map")
    if pred_names and ref_names:
        pred_by = {}
        for v, n in sorted(pred_names.items()):
            pred_by.setdefault(n, []).append(int(v))
        ref_by = {}
        for v, n in sorted(ref_names.items()):
            ref_by.setdefault(n, []).append(int(v))
        shared = [n for n in ref_by if n in pred_by]
        if not shared:
            raise ParameterError("the prediction and the reference share no segment name (prediction: "
                                 f"{', '.join(sorted(pred_by))}; reference: {', '.join(sorted(ref_by))}); "
                                 "pair them with --map pred=ref,... or compare the foreground with --merge")
        pairs = [Pair(n, tuple(pred_by[n]), tuple(ref_by[n]), n, n) for n in shared]
        return Pairing(pairs, "name", [n for n in pred_by if n not in ref_by], [n for n in ref_by if n not in pred_by])
    values = sorted(set(pred_present) | set(ref_present) | set(pred_names) | set(ref_names))
    named = {**ref_names, **pred_names}
    side = "the prediction" if not pred_names else "the reference"
    notes = [f"matched by label value: {side} carries no segment names"] if (pred_names or ref_names) else \
        ["matched by label value: neither file carries segment names"]
    return Pairing([Pair(named.get(v, str(v)), (v,), (v,)) for v in values], "value", notes=notes)


def evaluate_pairs(pred, ref, pairs: Sequence[Pair], spacing=None) -> dict:
    """:func:`compare` for each :class:`Pair`, keyed by its name; a pair empty on both sides has
    Dice and IoU NaN ("n/a": there was nothing to find), said in its note."""
    p, r, spacing = _arrays(pred, ref, spacing)
    out = {}
    for pair in pairs:
        pm, rm = np.isin(p, pair.pred_values), np.isin(r, pair.ref_values)
        row = compare(pm, rm, spacing)
        if not pm.any() and not rm.any():
            row["dice"] = row["iou"] = math.nan
            row["note"] = "both masks are empty: nothing to compare"
        row["pred_values"], row["ref_values"] = list(pair.pred_values), list(pair.ref_values)
        out[pair.name] = row
    return out


def _nan_to_none(obj):
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def to_json(result: dict, **kwargs) -> str:
    """JSON text for a metrics dict, with NaN written as null (valid JSON, unlike NaN)."""
    return json.dumps(_nan_to_none(result), allow_nan=False, **kwargs)
