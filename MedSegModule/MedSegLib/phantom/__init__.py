"""Seeded, deterministic CT phantoms with exact ground truth, written as real DICOM CT series.

``make_chest(...)`` builds a :class:`Phantom` (HU + labels on one LPS grid); ``write_ct_series``
writes any HU volume as a CT series; ``write_phantom_study`` writes both a series and its
ground-truth labels. New phantom kinds (head, abdomen, cardiac) register in :data:`PHANTOMS`.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..io.atomic import atomic_output
from ..io.volume_files import write_volume
from ..labels import AUTO_LABELS
from .chest import Phantom, make_chest
from .dicom_writer import write_ct_series

__all__ = ["PHANTOMS", "Phantom", "make_chest", "make_phantom", "write_ct_series", "write_phantom_study"]

#: Phantom makers by kind; each is ``maker(shape=..., spacing=..., seed=..., noise_hu=..., ...) -> Phantom``.
PHANTOMS: dict[str, Callable[..., Phantom]] = {"chest": make_chest}


def make_phantom(kind: str = "chest", **kw) -> Phantom:
    """Build a phantom of ``kind`` (a key of :data:`PHANTOMS`) with the maker's keyword arguments."""
    try:
        maker = PHANTOMS[kind]
    except KeyError:
        raise ValueError(f"unknown phantom kind {kind!r}; known: {sorted(PHANTOMS)}") from None
    return maker(**kw)


def write_phantom_study(out_dir: str | os.PathLike, seed: int = 0, *, kind: str = "chest",
                        phantom: Phantom | None = None, **kw) -> dict:
    """Write ``<out>/dicom/`` (the CT series), ``<out>/labels.nrrd`` and ``<out>/labels.json``.

    Keyword arguments the phantom maker accepts (shape, spacing, noise_hu, ...) build the phantom;
    the rest go to :func:`write_ct_series` (shuffle_names, instance_numbers, transfer_syntax, ...).
    A phantom with out-of-field voxels gets them written as stored -2000 (PixelPaddingValue)
    unless ``pixel_padding_value`` says otherwise. Returns a dict of paths: ``dicom`` (folder),
    ``files`` (the slice files in position order), ``labels``, ``labels_json``, and ``phantom``.
    """
    out = Path(out_dir)
    if phantom is None:
        maker = PHANTOMS.get(kind)
        if maker is None:
            raise ValueError(f"unknown phantom kind {kind!r}; known: {sorted(PHANTOMS)}")
        names = set(inspect.signature(maker).parameters)
        phantom = maker(seed=seed, **{k: v for k, v in kw.items() if k in names})
        kw = {k: v for k, v in kw.items() if k not in names}
    writer_kw = dict(seed=seed, body_part=phantom.body_part,
                     series_description=f"MedSeg {phantom.name} phantom (seed {seed})")
    if phantom.padding_mask is not None and phantom.padding_mask.any():
        writer_kw.update(pixel_padding_value=kw.pop("pixel_padding_value", -2000), padding_mask=phantom.padding_mask)
    writer_kw.update(kw)
    files = write_ct_series(phantom.hu, phantom.spacing, phantom.origin, out / "dicom",
                            direction=phantom.direction, **writer_kw)
    labels_path = write_volume(phantom.labels_image(), out / "labels.nrrd")
    present = {int(v) for v in np.unique(phantom.labels)}
    info = {
        "phantom": phantom.name,
        "seed": seed,
        "shape_zyx": list(phantom.hu.shape),
        "spacing_zyx_mm": list(phantom.spacing),
        "origin_xyz_lps_mm": list(phantom.origin),
        "labels": [{"value": lab.value, "name": lab.name, "color": list(lab.color),
                    "present": lab.value in present} for lab in AUTO_LABELS],
    }
    json_path = out / "labels.json"
    with atomic_output(json_path) as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n")
    return {"dicom": out / "dicom", "files": files, "labels": labels_path, "labels_json": json_path,
            "phantom": phantom}
