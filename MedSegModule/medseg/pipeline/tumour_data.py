"""Training data for the lung-tumour U-Net: real chest CT with synthetic lesions inserted in its lungs.

No real tumour labels ship with MedSeg, so the labels are exact by construction: each real series
is copied several times, each copy gets its own lesions (:mod:`medseg.phantom.lesions`: solid,
part-solid or ground-glass, free or on the pleura, 5-60 mm, HU and texture of the measured
ct-chest-141 nodule) inside the classical lung mask (:func:`.steps.lungs`), and the lesion masks
are the labels. What the model sees is what it will see in prediction: the HU volume with every
voxel outside the tumour search region (``lungs --roi``, made on the series before insertion) set
to air, cropped to the region's box (:mod:`medseg.unet.roi`); slices of the region without a
lesion are the negatives.

Slices a caller excludes (``exclude_z``: a real, unlabelled nodule) are left out of every copy
and no lesion is put there, so a real tumour is never taught as background.

Arrays are (z, y, x) in each series' own array order; spacing (z, y, x) mm.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from ..io.atomic import atomic_output
from ..labels import AIR_HU, LUNG_TUMOUR
from ..progress import CancelEvent, Progress, check_cancel, report

#: Lesions per copy: (fewest, most), drawn uniformly.
LESIONS_PER_COPY = (2, 5)


def series_name(path: str | os.PathLike) -> str:
    """``ct-chest-141`` for ``.../ct-chest-141/dicom``, else the file or folder name."""
    p = Path(path)
    return p.parent.name if p.name == "dicom" else p.name.split(".")[0]


class LungSeries:
    """One real series prepared for insertion: its image, lung mask and search region (on its grid),
    cropped to the region's box. ``excluded``: bool per slice of the crop (no lesions, not used)."""

    def __init__(self, path: str | os.PathLike, exclude_z: tuple[int, int] | None = None,
                 cancel: CancelEvent = None) -> None:
        from ..io import load
        from ..unet.data import hu_stats
        from ..unet.roi import roi_box
        from .steps import lungs

        self.path, self.name = str(path), series_name(path)
        image, self.meta = load(path)
        found = lungs(image, self.meta, roi=True, cancel=cancel)
        roi = sitk.GetArrayFromImage(found.roi) > 0
        box = roi_box(roi)
        if box is None:
            raise InputError(f"{path}: no lungs found, so no place for lesions")
        self.box, self.full = box, image
        z, y, x = box
        self.image = image[x.start:x.stop, y.start:y.stop, z.start:z.stop]  # keeps the physical geometry
        self.hu = sitk.GetArrayFromImage(self.image).astype(np.float32)
        self.lung = sitk.GetArrayFromImage(found.labels)[box] > 0
        self.roi = roi[box]
        self.spacing = tuple(float(s) for s in image.GetSpacing()[::-1])
        self.hu_stats = hu_stats(sitk.GetArrayViewFromImage(image))  # of the whole series: what predict sees
        self.excluded = np.zeros(len(self.hu), bool)
        if exclude_z is not None:
            lo, hi = (int(v) - z.start for v in exclude_z)
            self.excluded[max(0, lo):max(0, hi + 1)] = True

    def copy(self, rng: np.random.Generator, count: int):
        """(HU with ``count`` lesions, their mask, the lesions) on the crop; outside the region: air."""
        from ..phantom.lesions import insert_lesions

        lung = self.lung & ~self.excluded[:, None, None]
        hu, mask, lesions = insert_lesions(self.hu, lung, self.spacing, count=count, rng=rng)
        hu[~self.roi] = AIR_HU
        return hu, mask & self.roi, lesions

    def full_copy(self, rng: np.random.Generator, count: int):
        """(image of the whole series with ``count`` lesions, their mask on its grid, the lesions): an
        input as a scanner gives it (nothing masked), with its exact truth."""
        from ..phantom.lesions import insert_lesions

        lung = self.lung & ~self.excluded[:, None, None]
        hu, mask, lesions = insert_lesions(self.hu, lung, self.spacing, count=count, rng=rng)
        whole = sitk.GetArrayFromImage(self.full)
        truth = np.zeros(whole.shape, np.uint8)
        whole[self.box] = np.clip(np.rint(hu), -1024, 3071).astype(whole.dtype)
        truth[self.box] = mask
        out, lab = sitk.GetImageFromArray(whole), sitk.GetImageFromArray(truth)
        out.CopyInformation(self.full)
        lab.CopyInformation(self.full)
        return out, lab, lesions

    def runs(self) -> list[tuple[int, int]]:
        """(first, stop) of each run of consecutive usable slices of the crop."""
        ok = ~self.excluded
        edges = np.flatnonzero(np.diff(np.r_[0, ok.astype(np.int8), 0]))
        return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]

    def as_image(self, array: np.ndarray, a: int = 0, b: int | None = None) -> sitk.Image:
        """Slices ``a:b`` of a crop-shaped array as an image with the crop's geometry."""
        b = len(array) if b is None else b
        out = sitk.GetImageFromArray(np.ascontiguousarray(array[a:b]))
        ref = self.image[:, :, a:b]
        out.CopyInformation(ref)
        return out


def write_tumour_dataset(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *, copies: int = 8,
                         val_copies: int = 1, exclude_z: dict | None = None, copies_per_series: dict | None = None,
                         lesions_per_copy=LESIONS_PER_COPY, seed: int = 0, description: str = "",
                         progress: Progress | None = None, cancel: CancelEvent = None) -> dict:
    """Write a ``lung-tumour`` training folder from real chest series; returns the dataset.json dict.

    ``copies``: lesion copies per series (``copies_per_series``: {series name: n} overrides it);
    the first ``val_copies`` of each series are the validation split (same backgrounds, other
    lesions: the held-out test is a series left out of ``inputs``). ``exclude_z``: {series name:
    (first, last) slice index of the series}. The manifest records per study its series, the
    source (``real``), the label origin (``inserted``) and every lesion.
    """
    from ..unet.dataset import Study, write_dataset
    from ..unet.presets import task as task_preset

    preset = task_preset("lung-tumour")
    names = {1: LUNG_TUMOUR.name}
    studies, extra, stats = [], [], []
    for i, path in enumerate(inputs):
        check_cancel(cancel)
        report(progress, 0.7 * i / len(inputs), f"lungs of {series_name(path)}")
        series = LungSeries(path, (exclude_z or {}).get(series_name(path)), cancel)
        n = int((copies_per_series or {}).get(series.name, copies))
        for c in range(n):
            check_cancel(cancel)
            rng = np.random.default_rng([seed, i, c])
            count = int(rng.integers(lesions_per_copy[0], lesions_per_copy[1] + 1))
            hu, mask, lesions = series.copy(rng, count)
            hu_i16 = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)
            for a, b in series.runs():
                tag = f"{series.name}#copy{c}" + ("" if (a, b) == (0, len(hu)) else f":z{a}-{b}")
                studies.append(Study(tag, series.as_image(hu_i16, a, b), series.meta,
                                     series.as_image(mask.astype(np.uint8), a, b), names, "inserted"))
                z0 = series.box[0].start
                stats.append(series.hu_stats)
                extra.append({"series": series.name, "source": "real", "label_origin": "inserted",
                              "copy": c, "split": "val" if c < val_copies else "train",
                              "slices_of_series": [z0 + a, z0 + b - 1],
                              "lesions": [dict(les.to_dict(), centre_zyx=[int(les.centre_zyx[0]) + z0,
                                                                          int(les.centre_zyx[1]) + series.box[1].start,
                                                                          int(les.centre_zyx[2]) + series.box[2].start])
                                          for les in lesions
                                          if a <= les.centre_zyx[0] < b]})
    if not studies:
        raise InputError("no series gave lesion copies")
    info = write_dataset(studies, out_dir, classes=preset["classes"], window=tuple(preset["window"]),
                         spacing_mm=preset["spacing_mm"], size=tuple(preset["size"]), head=preset["head"],
                         task="lung-tumour", seed=seed, description=description, cancel=cancel)
    from ..unet.dataset import input_range

    for f, e, h in zip(info["files"], extra, stats):
        f.update(e, hu=h)  # the range check compares whole series, not the masked crops
    info["input_range"] = input_range(info["files"])
    info["split"] = {k: [f["id"] for f in info["files"] if f["split"] == k] for k in ("train", "val")}
    if not info["split"]["val"]:
        info["split"]["val"] = list(info["split"]["train"])
        info["notes"] = ["no validation copies: validation uses the training copies"]
    else:
        info["notes"] = []
    info["preprocessing"]["roi"] = preset["roi"]
    info["lesions_inserted"] = sum(len(f["lesions"]) for f in info["files"])
    info["series"] = sorted({f["series"] for f in info["files"]})
    info.pop("_folder", None)
    with atomic_output(Path(out_dir) / "dataset.json") as tmp:
        tmp.write_text(json.dumps(info, indent=2), encoding="utf-8")
    report(progress, 1.0, f"{len(studies)} studies, {info['lesions_inserted']} lesions")
    return info
