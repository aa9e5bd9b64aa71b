"""U-Net training folders: loaded studies with labels -> cached model-grid slices + ``dataset.json``.

:mod:`medseg.pipeline.dataset` finds the studies and their labels (files or auto-labels) and
hands them here as :class:`Study` records. Layout of the folder written::

    dataset.json                 classes, preprocessing, files, split by patient, input range, and
                                 per slice its series, source (real/phantom) and label origin
    cache/<id>.image.npy         (z, H, W) float16 slices in [0, 1] (HU window), read as memmaps
    cache/<id>.mask.npy          (z, H, W) uint8 class indices (0 = background)

Label values become classes by name: each class lists the label names it takes ("sources").

Label origins: ``classical`` (the classical steps, not looked at), ``reviewed`` (classical labels
checked by eye slice by slice and kept), ``edited`` (changed by hand or by a recorded rule), and
``truth`` (a phantom's exact labels). A review's outcome is a manifest (:func:`read_manifest`):
per series and task the slices dropped or edited and why, by z index of the LPS-ordered volume
(0 = the most inferior slice).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import SimpleITK as sitk

from ..errors import InputError, ParameterError
from ..io.atomic import atomic_output
from ..limits import check_allocation
from ..labels import AUTO_LABELS
from ..progress import CancelEvent, Progress, check_cancel, report
from ..preprocess import Reoriented
from .data import SliceGrid, hu_stats, volume_to_model

FORMAT = "medseg-dataset/1"
MANIFEST_FORMAT = "medseg-review-manifest/1"
ORIGINS = ("classical", "reviewed", "edited", "truth")
SOURCES = ("real", "phantom")
LABEL_NAMES = ("labels.seg.nrrd", "labels.nrrd", "labels.nii.gz", "labels.mha")


@dataclass
class Study:
    """One study of a training set: its image (HU), metadata, labels on its grid with their names,
    and where the labels came from (a file path or ``auto:<kind>``).

    ``series`` names it in the records; ``kind`` is ``real`` or ``phantom``; ``origin`` the labels'
    origin (:data:`ORIGINS`); ``drop`` {z: reason} leaves slices out and ``edited`` {z: what} marks
    slices whose labels were changed (z of the LPS-ordered volume, 0 = most inferior).
    """

    input: str
    image: sitk.Image
    meta: dict
    labels: sitk.Image
    names: dict[int, str]
    source: str
    series: str = ""
    kind: str = "real"
    origin: str = "classical"
    drop: dict = field(default_factory=dict)
    edited: dict = field(default_factory=dict)


def _patient_id(meta: dict, study: Path) -> str:
    """A pseudonym for the study's patient: a hash of the DICOM PatientID, else of the study path.

    Only the hash goes into dataset.json (no patient data), and it is all the split needs.
    """
    import hashlib

    key = f"study:{study.resolve()}"
    files = meta.get("files") or []
    if files:
        try:
            import pydicom

            pid = str(pydicom.dcmread(files[0], stop_before_pixels=True).get("PatientID", "") or "")
            if pid:
                key = f"patient:{pid}"
        except Exception:  # an unreadable header only costs the patient grouping
            pass
    return "p-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def class_table(classes: Sequence[dict] | Sequence[str] | None, names_seen: set[str]) -> list[dict]:
    """Classes as [{value, name, color, sources}] with background first.

    ``classes`` entries are dicts (name, color, sources) or plain names (sources = [name]); None
    takes every label name seen, in DESIGN-table order where it applies.
    """
    from ..labels import by_name

    if not classes:
        order = [lab.name for lab in AUTO_LABELS]
        classes = sorted(names_seen, key=lambda n: (order.index(n) if n in order else len(order), n))
    table = [{"value": 0, "name": "background", "color": [0, 0, 0], "sources": []}]
    for i, c in enumerate(classes, start=1):
        c = {"name": c} if isinstance(c, str) else dict(c)
        try:
            default_colour = list(by_name(c["name"]).color)
        except KeyError:
            default_colour = [int(v) for v in np.random.default_rng(i).integers(60, 255, 3)]
        table.append({"value": i, "name": c["name"], "color": list(c.get("color", default_colour)),
                      "sources": list(c.get("sources", [c["name"]]))})
    if len(table) < 2:
        raise ParameterError("no classes to train: the labels hold no named structures")
    return table


def map_to_classes(labels: np.ndarray, names: dict[int, str], table: list[dict]) -> np.ndarray:
    """(z, y, x) label values -> class indices of ``table`` by name; unlisted values are background."""
    lut = np.zeros(max(int(labels.max(initial=0)), max(names, default=0)) + 1, dtype=np.uint8)
    for cls in table[1:]:
        for value, name in names.items():
            if name in cls["sources"]:
                lut[value] = cls["value"]
    return lut[labels]


def split_by_patient(patients: Sequence[str], val_fraction: float, seed: int) -> tuple[set[str], set[str]]:
    """(train, val) patient sets; at least one of each when there are two or more patients."""
    unique = sorted(set(patients))
    order = list(np.random.default_rng(seed).permutation(len(unique)))
    n_val = min(len(unique) - 1, max(1, math.ceil(val_fraction * len(unique)))) if len(unique) > 1 else 0
    val = {unique[i] for i in order[:n_val]}
    return set(unique) - val, val


def write_dataset(studies: Sequence[Study], out_dir: str | os.PathLike, *, classes: Sequence | None = None,
                  window: tuple[float, float] = (-1024.0, 1024.0), spacing_mm: float | None = None,
                  size: tuple[int, int] = (256, 256), head: str | None = None, task: str | None = None,
                  val_fraction: float = 0.2, seed: int = 0, description: str = "",
                  progress: Progress | None = None, cancel: CancelEvent = None) -> dict:
    """Preprocess loaded studies into ``out_dir`` (see the module docstring); returns the dataset.json dict.

    ``window`` is (lo, hi) HU, ``spacing_mm`` the in-plane spacing slices are resampled to (None:
    keep), ``size`` (H, W) the crop/pad; ``classes`` as :func:`class_table` takes them.
    """
    if not studies:
        raise ParameterError("no input studies")
    out = Path(out_dir)
    (out / "cache").mkdir(parents=True, exist_ok=True)
    names_seen = set()
    for st in studies:
        present = {int(v) for v in np.unique(sitk.GetArrayViewFromImage(st.labels))} - {0}
        names_seen |= {st.names[v] for v in present if v in st.names}
    table = class_table(classes, names_seen)

    files, patients = [], []
    for i, st in enumerate(studies):
        check_cancel(cancel)
        report(progress, i / len(studies), f"preprocessing {Path(st.input).name}")
        oriented = Reoriented.of(st.image)
        hu = sitk.GetArrayViewFromImage(oriented.image)
        lab = sitk.GetArrayFromImage(Reoriented.of(st.labels).image)  # a copy: the oriented image is a temporary
        grid = SliceGrid.make(hu.shape[1:], oriented.spacing[1:], size, spacing_mm)
        check_allocation(f"the training slices of {Path(st.input).name} (--size {size[0]}x{size[1]})",
                         (hu.shape[0], *size), np.float32)
        x, y = volume_to_model(hu, grid, window, map_to_classes(lab, st.names, table))
        if st.kind not in SOURCES or st.origin not in ORIGINS:
            raise ParameterError(f"{st.input}: source {st.kind!r} / label origin {st.origin!r} unknown")
        keep = [z for z in range(x.shape[0]) if z not in st.drop]
        x, y = x[keep], y[keep]
        sid = f"{i:04d}-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(st.input).name or "study")[:40]
        for path, array in ((out / "cache" / f"{sid}.image.npy", x.astype(np.float16)),
                            (out / "cache" / f"{sid}.mask.npy", y)):
            with atomic_output(path) as tmp:
                np.save(tmp, array)
        patient = _patient_id(st.meta, Path(st.input))
        patients.append(patient)
        files.append({
            "id": sid, "patient": patient, "input": st.input, "labels": st.source,
            "image": f"cache/{sid}.image.npy", "mask": f"cache/{sid}.mask.npy", "slices": int(x.shape[0]),
            "positive_slices": int(np.count_nonzero(y.reshape(len(y), -1).any(axis=1))),
            "class_voxels": [int(np.count_nonzero(y == c["value"])) for c in table],
            "modality": st.meta.get("modality", "unknown"), "spacing_xyz_mm": list(st.image.GetSpacing()),
            "slice_spacing_mm": float(oriented.spacing[0]),  # along the cached stack (LPS z), for 2.5D models
            "hu": hu_stats(hu),
            "series": st.series or Path(st.input).name, "source": st.kind, "origin": st.origin,
            "slice_z": keep, "slice_origin": ["edited" if z in st.edited else st.origin for z in keep],
            "dropped": [{"z": int(z), "reason": str(r)} for z, r in sorted(st.drop.items())],
            "edited": [{"z": int(z), "what": str(w)} for z, w in sorted(st.edited.items())],
        })
    train_p, val_p = split_by_patient(patients, val_fraction, seed)
    split = {"train": [f["id"] for f in files if f["patient"] in train_p],
             "val": [f["id"] for f in files if f["patient"] in val_p]}
    if not split["val"]:
        split["val"] = list(split["train"])  # one patient: validate on it (said in the notes)
    info = {
        "format": FORMAT, "task": task, "description": description,
        "classes": [{k: c[k] for k in ("value", "name", "color", "sources")} for c in table],
        "head": head or ("softmax" if len(table) > 2 else "sigmoid"),
        "preprocessing": {"window": list(window), "spacing_mm": spacing_mm, "size": list(size), "orientation": "LPS"},
        "files": files, "split": split, "seed": seed, "input_range": input_range(files),
        "composition": composition(files),
        "notes": [] if val_p else ["only one patient: validation uses the training studies"],
    }
    if info["composition"]["phantom"] > info["composition"]["real"]:
        info["notes"].append("more phantom slices than real ones")
    with atomic_output(out / "dataset.json") as tmp:
        tmp.write_text(json.dumps(info, indent=2), encoding="utf-8")
    report(progress, 1.0, f"{len(files)} studies, {sum(f['slices'] for f in files)} slices")
    return info


def composition(files: list[dict]) -> dict:
    """Slices by source (real/phantom), by label origin and by series, of ``files`` (dataset.json's)."""
    out = {"slices": 0, "real": 0, "phantom": 0, "by_origin": {}, "by_series": {}, "dropped": 0}
    for f in files:
        origins = f.get("slice_origin") or [f.get("origin", "classical")] * f["slices"]
        out["slices"] += f["slices"]
        out[f.get("source", "real")] += f["slices"]
        for o in origins:
            out["by_origin"][o] = out["by_origin"].get(o, 0) + 1
        s = f.get("series", f["id"])
        out["by_series"][s] = out["by_series"].get(s, 0) + f["slices"]
        out["dropped"] += len(f.get("dropped", []))
    return out


def read_manifest(path: str | os.PathLike) -> dict:
    """A review manifest: ``{"format": ..., "series": {name: {"source", "origin", "region",
    "tasks": {task: {"drop": {z: reason}, "edited": {z: what}}}}}}``; :class:`InputError` if bad."""
    try:
        m = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable review manifest ({exc.__class__.__name__})") from None
    if not isinstance(m, dict) or m.get("format") != MANIFEST_FORMAT or not isinstance(m.get("series"), dict):
        raise InputError(f"{path}: not a review manifest (format {MANIFEST_FORMAT})")
    return m


def manifest_entry(manifest: dict, series: str, task: str | None) -> dict:
    """{series, kind, origin, drop, edited} for one series and task (empty drop/edit when not listed)."""
    entry = manifest["series"].get(series)
    if entry is None:
        return {}
    t = (entry.get("tasks") or {}).get(task or "", {})
    as_z = lambda d: {int(z): str(v) for z, v in (d or {}).items()}  # noqa: E731
    return {"series": series, "kind": entry.get("source", "real"), "origin": entry.get("origin", "reviewed"),
            "drop": as_z(t.get("drop")), "edited": as_z(t.get("edited"))}


def input_range(files: list[dict]) -> dict:
    """The range of inputs a model trained on ``files`` has seen: modality, HU percentiles, spacing."""
    def span(values):
        return [float(min(values)), float(max(values))]

    return {
        "modality": sorted({f["modality"] for f in files}),
        "hu_p1": span([f["hu"]["p1"] for f in files]), "hu_p50": span([f["hu"]["p50"] for f in files]),
        "hu_p99": span([f["hu"]["p99"] for f in files]),
        "spacing_xy_mm": span([min(f["spacing_xyz_mm"][:2]) for f in files] + [max(f["spacing_xyz_mm"][:2]) for f in files]),
        "spacing_z_mm": span([f["spacing_xyz_mm"][2] for f in files]),
    }


def read_dataset(folder: str | os.PathLike) -> dict:
    """dataset.json of a training folder, with ``_folder`` set; :class:`InputError` if missing/bad."""
    path = Path(folder) / "dataset.json"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{folder}: not a training folder ({exc.__class__.__name__}); build one with "
                         "`medseg dataset INPUTS... -o DIR`") from None
    if info.get("format") != FORMAT:
        raise InputError(f"{path}: not a MedSeg dataset (format {info.get('format')!r})")
    info["_folder"] = str(Path(folder))
    return info
