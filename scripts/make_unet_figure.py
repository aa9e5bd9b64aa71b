"""README figure: the shipped lungs model against the phantom-trained one on real CT.

Top: ct-chest-2, the classical mask and the shipped model. Bottom: ct-abdomen-20 (no lung), the
phantom-trained model (Testing/fixtures/phantom-lungs-model, the anatomy guard's line as its
title) and the shipped model. Right lung green, left lung blue; image left = patient right.
Writes Resources/figures/unet-lungs-real.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def main() -> int:
    import SimpleITK as sitk
    from matplotlib.figure import Figure

    from medseg.pipeline.steps import convert, lungs
    from medseg.preprocess import lps_array
    from medseg.unet.predict import predict

    old = REPO / "Testing" / "fixtures" / "phantom-lungs-model"
    chest = convert(DATA / "ct-chest-2" / "dicom")
    abdomen = convert(DATA / "ct-abdomen-20" / "dicom")
    panels = []
    hu = lps_array(chest.image)[0]
    panels.append((hu[0], lps_array(lungs(chest.image, chest.meta, split=True).labels)[0][0], "ct-chest-2: classical"))
    p = predict(chest.image, "lungs", chest.meta, device="cpu")
    lab = lps_array(p.labels)[0]
    panels.append((hu[0], lab[0], f"ct-chest-2: shipped model (right {np.count_nonzero(lab == 1)}, "
                                  f"left {np.count_nonzero(lab == 2)} voxels)"))
    hu = lps_array(abdomen.image)[0]
    for model, title in ((old, "phantom-trained"), ("lungs", "shipped")):
        p = predict(abdomen.image, model, abdomen.meta, device="cpu")
        lab = lps_array(p.labels)[0]
        z = int(np.argmax((lab > 0).sum(axis=(1, 2)))) if lab.any() else hu.shape[0] - 1
        guard = "guard fired" if p.anatomy and p.anatomy.fired else "guard quiet"
        panels.append((hu[z], lab[z], f"ct-abdomen-20 z {z}: {title} model, {np.count_nonzero(lab)} lung voxels, {guard}"))
    fig = Figure(figsize=(12, 12), dpi=80)
    for i, (img, lab, title) in enumerate(panels):
        ax = fig.add_subplot(2, 2, i + 1)
        g = np.clip((img.astype(np.float32) + 1000) / 1400, 0, 1)
        rgb = np.stack([g] * 3, -1)
        for v, c in ((1, (0.1, 0.9, 0.1)), (2, (0.1, 0.5, 1.0))):
            m = lab == v
            rgb[m] = 0.45 * rgb[m] + 0.55 * np.array(c)
        ax.imshow(rgb)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    out = REPO / "Resources" / "figures" / "unet-lungs-real.png"
    fig.savefig(out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
