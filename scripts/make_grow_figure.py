"""README figure: grow from seeds on the real ct-chest-141 right-upper-lobe nodule.

Seeds are the tests' (Testing/grow_helpers.py): a 7 mm ball inside the nodule and a shell around it;
the grown nodule is filled, the seeds outlined. The title gives the nodule's volume and how much it
changes when both seeds move 2 voxels along each axis (the test allows 10 %).

    PYTHONPATH=MedSegModule python scripts/make_grow_figure.py [Resources/figures/grow-ct-chest-141.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Testing"))


def main(out: Path) -> Path:
    from grow_helpers import nodule_seeds
    from medseg.autolabel.grow import grow_from_seeds
    from medseg.autolabel.grow_engine import itk_grow_cut
    from medseg.io import load
    from medseg.labels import Label
    from medseg.report.figures import overlay_axial

    image, _ = load(REPO.parent / "shared" / "data" / "ct-chest-141" / "dicom")
    hu = sitk.GetArrayViewFromImage(image)
    spacing = image.GetSpacing()[::-1]
    voxel_ml = float(np.prod(spacing)) / 1000

    def grown(shift=(0, 0, 0)):
        seeds = nodule_seeds(image, shift)
        return seeds, grow_from_seeds(hu, seeds, spacing, smooth="median", engine=itk_grow_cut).labels

    seeds, labels = grown()
    base = np.count_nonzero(labels == 1) * voxel_ml
    moved = [np.count_nonzero(grown(s)[1] == 1) * voxel_ml / base - 1
             for s in [(0, 0, 2), (0, 0, -2), (0, 2, 0), (0, -2, 0), (2, 0, 0), (-2, 0, 0)]]
    shown = np.zeros(labels.shape, np.uint8)
    shown[labels == 1] = 1
    shown[seeds == 1] = 2
    shown[seeds == 2] = 3
    zz, yy, xx = np.nonzero(seeds)
    cz, cy, cx = int(np.median(zz)), int(np.median(yy)), int(np.median(xx))
    half = 36
    crop = (slice(cx - half, cx + half), slice(cy - half, cy + half), slice(cz - 5, cz + 6))
    lab_image = sitk.GetImageFromArray(shown)
    lab_image.CopyInformation(image)
    table = [Label(1, "nodule (grown)", (230, 60, 60)), Label(2, "nodule seed", (255, 220, 0)),
             Label(3, "background seed", (60, 200, 90))]
    return overlay_axial(image[crop], lab_image[crop], out, slices=[1, 3, 5, 7, 9], columns=5, window=(-300, 1400),
                         label_table=table, outline=[2, 3],
                         title=f"ct-chest-141: medseg grow, right-upper-lobe nodule {base:.2f} ml; seeds moved 2 voxels: "
                               f"{min(moved) * 100:+.1f} % .. {max(moved) * 100:+.1f} %")


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "Resources" / "figures" / "grow-ct-chest-141.png"))
