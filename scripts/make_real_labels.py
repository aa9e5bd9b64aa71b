"""Pseudo-labels on the six real CT series for U-Net training, with review montages.

For each series in ``../shared/data`` this runs the classical steps (``clean`` for the body and
the table/couch/headrest, then ``lungs --split`` given that body) and writes, under ``--out``
(default ``out/real-ct``)::

    <series>/labels.nrrd     body 1, table-headrest 2, lung-right 3, lung-left 4 (the DESIGN values)
    <series>/slices.json     per LPS slice (z = 0 the most inferior): voxels of each label
    <series>/montage-NN.png  the slices with the labels drawn over them, for review by eye

The review's outcome (slices dropped or edited, and why) goes in
``scripts/data/real_ct_manifest.json``; :mod:`scripts.build_real_datasets` reads both.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
SERIES = ("ct-abdomen-20", "ct-chest-2", "ct-chest-141", "ct-pelvis-chest-134", "ct-head-tilt-28", "ct-head-93")


def pseudo_labels(series: str, out: Path) -> dict:
    import SimpleITK as sitk

    from medseg.io import write_label_image
    from medseg.labels import BODY, LUNG_LEFT, LUNG_RIGHT, TABLE_HEADREST, compose
    from medseg.pipeline.steps import clean, convert, lungs
    from medseg.preprocess import lps_array

    t0 = time.perf_counter()
    loaded = convert(DATA / series / "dicom")
    cleaned = clean(loaded.image, loaded.meta)
    lung = lungs(loaded.image, loaded.meta, split=True, body=cleaned.body_mask)
    body = sitk.GetArrayViewFromImage(cleaned.body_mask) != 0
    objects = sitk.GetArrayViewFromImage(cleaned.object_mask) != 0
    split = sitk.GetArrayViewFromImage(lung.labels)
    labels = compose({"body": body, "table-headrest": objects & ~body, "lung-right": split == 1,
                      "lung-left": split == 2})
    image = sitk.GetImageFromArray(labels)
    image.CopyInformation(loaded.image)
    folder = out / series
    folder.mkdir(parents=True, exist_ok=True)
    write_label_image(image, folder / "labels.nrrd", segments=[BODY, TABLE_HEADREST, LUNG_RIGHT, LUNG_LEFT])
    hu, spacing, _ = lps_array(loaded.image)
    lab = lps_array(image)[0]
    per_slice = [{"z": z, **{name: int(np.count_nonzero(lab[z] == v))
                             for name, v in (("body", 1), ("table-headrest", 2), ("lung-right", 3), ("lung-left", 4))}}
                 for z in range(lab.shape[0])]
    info = {"series": series, "shape_zyx": list(hu.shape), "spacing_zyx_mm": [float(s) for s in spacing],
            "warnings": loaded.meta.get("warnings", []), "seconds": round(time.perf_counter() - t0, 1),
            "slices": per_slice}
    (folder / "slices.json").write_text(json.dumps(info, indent=1))
    montages(hu, lab, folder, series)
    return info


def montages(hu: np.ndarray, lab: np.ndarray, folder: Path, series: str, per_page: int = 36) -> None:
    """Slices (LPS: anterior up, patient's left on the right of the picture) with label outlines."""
    from matplotlib.figure import Figure
    from scipy import ndimage

    colours = {1: (0.9, 0.6, 0.4), 2: (1.0, 1.0, 0.0), 3: (0.2, 1.0, 0.2), 4: (0.2, 0.6, 1.0)}
    n = hu.shape[0]
    step = max(1, hu.shape[1] // 160)  # ~160 px per tile
    for page, start in enumerate(range(0, n, per_page)):
        zs = list(range(start, min(n, start + per_page)))
        cols = 6
        rows = int(np.ceil(len(zs) / cols))
        fig = Figure(figsize=(cols * 2.2, rows * 2.3), dpi=80)
        for i, z in enumerate(zs):
            ax = fig.add_subplot(rows, cols, i + 1)
            img = np.clip((hu[z, ::step, ::step].astype(np.float32) + 1000) / 1400.0, 0, 1)
            rgb = np.stack([img] * 3, -1)
            l = lab[z, ::step, ::step]
            for v, c in colours.items():
                m = l == v
                edge = m & ~ndimage.binary_erosion(m)
                if v in (3, 4):
                    rgb[m] = 0.6 * rgb[m] + 0.4 * np.array(c)
                rgb[edge] = c
            ax.imshow(rgb, interpolation="nearest")
            ax.set_title(f"z {z}", fontsize=8)
            ax.axis("off")
        fig.suptitle(f"{series}: body (orange) table-headrest (yellow) right lung (green) left lung (blue); "
                     "image left = patient right", fontsize=9)
        fig.tight_layout()
        fig.savefig(folder / f"montage-{page:02d}.png")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("series", nargs="*", default=list(SERIES))
    p.add_argument("--out", default=str(REPO / "out" / "real-ct"))
    args = p.parse_args(argv)
    for s in args.series:
        info = pseudo_labels(s, Path(args.out))
        sums = {k: sum(sl[k] for sl in info["slices"]) for k in ("body", "table-headrest", "lung-right", "lung-left")}
        print(s, info["shape_zyx"], info["seconds"], "s", sums, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
