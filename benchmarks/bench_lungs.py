"""Lung isolation speed (`medseg lungs`): target <= 5 s for 512 x 512 x 300 on 2 cores; also autolabel.

Volumes: the real ct-chest-2 (2 slices, 512²) tiled along z to 300 slices, mirrored every other
copy so the lungs run continuously (every slice holds both lungs: the worst case), and a
512² x 300 chest phantom (0.7 mm pixels, 1 mm slices) with trachea, bronchi and lung apices.
Timed from an in-memory image to the label image (no I/O): :func:`pipeline.lungs` with its own
quick body mask, and with the `clean` body mask computed first (both times counted).

``python benchmarks/bench_lungs.py --figures`` also redraws the README figures
(Resources/figures/lungs-chest2.png, lungs-roi-collapsed.png, autolabel-chest-phantom.png).
Run with `make bench`; run_all.py appends the rows to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
FIGURES = REPO / "Resources" / "figures"
CT = {"is_hu": True, "modality": "CT"}


def _image(hu: np.ndarray, spacing):
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(hu)
    image.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    return image


def volumes() -> list[tuple[str, object]]:
    """(description, SimpleITK image) of each 512² x 300 benchmark volume."""
    import SimpleITK as sitk

    from medseg.phantom import make_chest

    out = []
    chest2 = SHARED / "ct-chest-2" / "dicom"
    if chest2.exists():
        from medseg.io import load

        image, _ = load(chest2)
        block = sitk.GetArrayFromImage(image)
        tiled = np.concatenate([block if i % 2 == 0 else block[::-1] for i in range(150)])
        out.append(("ct-chest-2 tiled", _image(np.ascontiguousarray(tiled), image.GetSpacing()[::-1])))
    phantom = make_chest(shape=(300, 512, 512), spacing=(1.0, 0.7, 0.7), seed=0)
    out.append(("chest phantom", phantom.to_image()))
    return out


def best_of(fn, repeats: int = 3) -> tuple[float, float, object]:
    """(best wall s, that run's CPU s, result). The CPU time shows what a shared, loaded machine hides:
    the steps are single-threaded numpy/scipy, so on an idle machine wall time is about CPU time."""
    best, cpu, result = float("inf"), float("inf"), None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall = time.perf_counter() - t0
        if wall < best:
            best, cpu = wall, time.process_time() - c0
    return best, cpu, result


def main() -> list[str]:
    from medseg.pipeline import steps as pipeline

    rows = []
    for what, image in volumes():
        nx, ny, nz = image.GetSize()
        mvox = nx * ny * nz / 1e6
        t, c, result = best_of(lambda: pipeline.lungs(image, CT, split=True))
        rows.append(f"| lungs --split {ny}×{nx}×{nz} ({what}; own body mask; work grid ÷{result.stats['work_factor']} "
                    f"in-plane) | {t:.2f} s (CPU {c:.2f} s) | {mvox / t:.0f} Mvoxel/s |")

        def with_clean():
            body = pipeline.clean(image, CT).body_mask
            return pipeline.lungs(image, CT, split=True, body=body)

        for label, fn in ((f"clean + lungs --split {ny}×{nx}×{nz} ({what}; table-aware body)", with_clean),
                          (f"lungs --split --roi {ny}×{nx}×{nz} ({what})",
                           lambda: pipeline.lungs(image, CT, split=True, roi=True)),
                          (f"autolabel {ny}×{nx}×{nz} ({what})", lambda: pipeline.autolabel(image, CT))):
            t, c, _ = best_of(fn, repeats=1)
            rows.append(f"| {label} | {t:.2f} s (CPU {c:.2f} s) | {mvox / t:.0f} Mvoxel/s |")
    return rows


def figures() -> list[Path]:
    """Redraw the README figures of lung isolation and auto-labelling; returns their paths."""
    import SimpleITK as sitk

    from medseg.pipeline import steps as pipeline
    from medseg.report.figures import overlay_axial
    from medseg.labels import AUTO_LABELS, SPLIT_LUNG_LEFT, SPLIT_LUNG_RIGHT, Label
    from medseg.phantom import make_chest

    written = []
    chest2 = SHARED / "ct-chest-2" / "dicom"
    split = [SPLIT_LUNG_RIGHT, SPLIT_LUNG_LEFT]
    if chest2.exists():
        from medseg.io import load

        image, meta = load(chest2)
        result = pipeline.lungs(image, meta, split=True)
        counts = np.bincount(sitk.GetArrayViewFromImage(result.labels).ravel(), minlength=3)
        written.append(overlay_axial(
            image, result.labels, FIGURES / "lungs-chest2.png", slices=[0, 1], columns=2, window=(-500, 1500),
            label_table=split, title=f"ct-chest-2: right {counts[1]} voxels (model 64752), "
                                     f"left {counts[2]} (model 36536)"))
    phantom = make_chest(seed=0, collapsed="right")
    result = pipeline.lungs(phantom.to_image(), CT, split=True, roi=True)
    roi = sitk.GetArrayFromImage(result.roi).astype(np.uint8) * 3
    lab = sitk.GetArrayFromImage(result.labels)
    roi[lab > 0] = lab[lab > 0]
    both = sitk.GetImageFromArray(roi)
    both.CopyInformation(result.labels)
    table = split + [Label(3, "tumour search region", (230, 220, 70))]
    written.append(overlay_axial(phantom.to_image(), both, FIGURES / "lungs-roi-collapsed.png", slices=[6, 12, 18, 24],
                                 window=(-500, 1500), label_table=table,
                                 title="Collapsed right lung: search region = lungs + mirror about the spine, dilated"))
    phantom = make_chest(seed=0)
    result = pipeline.autolabel(phantom.to_image(), CT)
    written.append(overlay_axial(phantom.to_image(), result.labels, FIGURES / "autolabel-chest-phantom.png",
                                 slices=[4, 12, 20, 28], window=(-400, 1600), label_table=AUTO_LABELS,
                                 title="medseg autolabel on the chest phantom"))
    return written


if __name__ == "__main__":
    if "--figures" in sys.argv:
        for path in figures():
            print(path)
    else:
        for row in main():
            print(row)
    sys.exit(0)
