"""Generated training data for the volume classifier: ``normal/`` and ``abnormal/`` folders.

Two sources, each giving pairs of one volume without and one with inserted lung lesions
(:mod:`medseg.phantom.lesions`), named ``<patient>__normal`` / ``<patient>__abnormal`` so a pair
stays on one side of the split (:mod:`medseg.classify.data`) and only the lesion tells them apart:

- chest phantoms (:func:`medseg.phantom.make_chest` without its nodule), a seed each;
- real CT series: slabs of consecutive slices drawn from each series, in its lungs as
  :func:`medseg.pipeline.steps.lungs` finds them; slices a caller marks (``exclude_z``, e.g. a real
  nodule) are never used, so a "normal" slab holds no known lesion. Slabs are averaged 2x2 in-plane
  before writing (the classifier resizes to 128² or less anyway) to keep the folders small.

Volumes are written as NRRD (HU, int16) with a ``lesions.json`` listing every inserted lesion.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import SimpleITK as sitk

from ..io import write_volume
from ..io.atomic import atomic_output
from ..progress import CancelEvent, Progress, check_cancel, report


def _image(hu: np.ndarray, spacing_zyx, origin=(0.0, 0.0, 0.0), direction=None) -> sitk.Image:
    image = sitk.GetImageFromArray(np.clip(np.rint(hu), -1024, 3071).astype(np.int16))
    image.SetSpacing(tuple(float(s) for s in spacing_zyx[::-1]))
    image.SetOrigin(tuple(float(o) for o in origin))
    if direction is not None:
        image.SetDirection(direction)
    return image


def _pair(out: Path, patient: str, hu, lung, spacing, rng, lesions_per_volume, diameters_mm, kinds,
          attached_fraction, origin=(0.0, 0.0, 0.0), direction=None) -> list[dict]:
    from ..phantom.lesions import insert_lesions

    count = int(rng.integers(lesions_per_volume[0], lesions_per_volume[1] + 1))
    sick, _mask, found = insert_lesions(hu, lung, spacing, count=count, rng=rng, kinds=kinds, diameters_mm=diameters_mm,
                                    attached_fraction=attached_fraction)
    write_volume(_image(hu, spacing, origin, direction), out / "normal" / f"{patient}__normal.nrrd")
    write_volume(_image(sick, spacing, origin, direction), out / "abnormal" / f"{patient}__abnormal.nrrd")
    return [{"volume": f"abnormal/{patient}__abnormal.nrrd", **les.to_dict()} for les in found]


def write_classify_data(out_dir: str | os.PathLike, phantoms: int = 0, real: Sequence[str | os.PathLike] = (),
                        slabs_per_series: int = 4, slab_slices: int = 32, exclude_z: dict | None = None,
                        phantom_shape=(32, 128, 128), lesions_per_volume=(1, 2), diameters_mm=(10.0, 40.0),
                        kinds=("solid", "part-solid", "ground-glass"), attached_fraction: float = 0.5, seed: int = 0,
                        progress: Progress | None = None, cancel: CancelEvent = None) -> dict:
    """Write ``out_dir/normal`` and ``out_dir/abnormal`` (see the module's docstring); returns a summary.

    ``phantoms``: how many phantom pairs. ``real``: DICOM folders or volume files (HU CT with lungs).
    ``exclude_z``: {series path: (first, last) slice index} never used. ``diameters_mm``: the lesions'
    range (log-uniform); ``kinds``: which of the lesion kinds; ``attached_fraction``: the share on the
    pleura. ``seed`` fixes everything.
    """
    from ..io import load
    from ..phantom import make_chest
    from .steps import lungs

    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    lesions: list[dict] = []
    total = phantoms + len(real)
    done = 0
    for k in range(phantoms):
        check_cancel(cancel)
        phantom = make_chest(shape=phantom_shape, seed=seed * 1000 + k, nodule=None)
        lung = phantom.masks["lung-right"] | phantom.masks["lung-left"]
        lesions += _pair(out, f"phantom{k:03d}", phantom.hu.astype(np.float32), lung, phantom.spacing, rng,
                         lesions_per_volume, diameters_mm, kinds, attached_fraction, phantom.origin, phantom.direction)
        done += 1
        report(progress, done / max(total, 1), f"phantom {k + 1}/{phantoms}")
    for path in real:
        check_cancel(cancel)
        image, meta = load(path)
        lung = sitk.GetArrayFromImage(lungs(image, meta).labels) > 0
        hu = sitk.GetArrayFromImage(image).astype(np.float32)
        spacing = image.GetSpacing()[::-1]
        skip = (exclude_z or {}).get(str(path))
        usable = np.flatnonzero(lung.reshape(len(lung), -1).sum(1) > 0.02 * lung[0].size)
        if skip is not None:
            usable = usable[(usable < skip[0]) | (usable > skip[1])]
        starts = [int(s) for s in usable if s + slab_slices <= len(hu) and np.all(np.isin(range(s, s + slab_slices),
                                                                                          usable))]
        if not starts:
            continue
        ny, nx = (hu.shape[1] // 2) * 2, (hu.shape[2] // 2) * 2
        name = Path(path).parent.name if Path(path).name == "dicom" else Path(path).stem
        for j, s in enumerate(sorted(rng.choice(starts, size=min(slabs_per_series, len(starts)), replace=False))):
            check_cancel(cancel)
            slab = hu[s:s + slab_slices, :ny, :nx].reshape(slab_slices, ny // 2, 2, nx // 2, 2).mean((2, 4))
            slab_lung = lung[s:s + slab_slices, :ny, :nx].reshape(slab_slices, ny // 2, 2, nx // 2, 2).mean((2, 4)) > 0.5
            slab_spacing = (spacing[0], spacing[1] * 2, spacing[2] * 2)
            origin = image.TransformContinuousIndexToPhysicalPoint((0.5, 0.5, float(s)))  # the first 2x2 block's centre
            lesions += _pair(out, f"{name}-slab{j}", slab, slab_lung, slab_spacing, rng, lesions_per_volume,
                             diameters_mm, kinds, attached_fraction, origin, image.GetDirection())
        done += 1
        report(progress, done / max(total, 1), f"{name}: slabs")
    with atomic_output(out / "lesions.json") as tmp:
        tmp.write_text(json.dumps(lesions, indent=1) + "\n")
    counts = {c: len(list((out / c).glob("*.nrrd"))) for c in ("normal", "abnormal")}
    return {"out": str(out), **counts, "lesions": len(lesions)}
