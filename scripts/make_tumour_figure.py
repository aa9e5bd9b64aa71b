"""README figure: the lung-tumour model on a lesion inserted into held-out ct-chest-141, and on its real nodule.

Reads what ``scripts/train_lung_tumour.py`` keeps of the held-out fold (``example/``: the copy with
inserted lesions, its truth, the prediction; the prediction on the untouched series and the nodule
grown from seeds). Axial slices in radiological orientation (the patient's right on the image's
left, anterior up), lung window; truth outlined in yellow, prediction filled in red.

    PYTHONPATH=MedSegModule python scripts/make_tumour_figure.py [EXAMPLE_DIR] [OUT.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def _lps(path: Path) -> np.ndarray:
    from medseg.preprocess import Reoriented

    return sitk.GetArrayFromImage(Reoriented.of(sitk.ReadImage(str(path))).image)


def _panel(ax, hu, truth, pred, z, centre, half, title):
    cy, cx = centre
    ys, xs = slice(max(0, cy - half), cy + half), slice(max(0, cx - half), cx + half)
    ax.imshow(hu[z, ys, xs], cmap="gray", vmin=-1350, vmax=150, interpolation="nearest")  # lung window
    p = pred[z, ys, xs]
    rgba = np.zeros(p.shape + (4,))
    rgba[p] = (0.9, 0.2, 0.2, 0.45)
    ax.imshow(rgba, interpolation="nearest")
    if truth[z, ys, xs].any():
        ax.contour(truth[z, ys, xs], levels=[0.5], colors=["#ffdc00"], linewidths=1.0)
    ax.set_title(title, fontsize=8)
    ax.text(0.02, 0.5, "R", color="white", transform=ax.transAxes, fontsize=9, va="center")
    ax.text(0.95, 0.5, "L", color="white", transform=ax.transAxes, fontsize=9, va="center")
    ax.axis("off")


def _dice(a, b) -> float:
    return 2 * float((a & b).sum()) / max(float(a.sum() + b.sum()), 1.0)


def main(example: Path, out: Path) -> Path:
    from matplotlib.figure import Figure
    from scipy import ndimage

    hu = _lps(example / "image.nrrd")
    truth = _lps(example / "truth.nrrd") > 0
    pred = _lps(example / "pred.nrrd") > 0
    comp, n = ndimage.label(truth)
    sizes = ndimage.sum(truth, comp, range(1, n + 1))
    k = int(np.argsort(sizes)[len(sizes) // 2]) + 1  # the median-sized inserted lesion
    lesion = comp == k
    z = int(np.argmax(lesion.sum(axis=(1, 2))))
    cy, cx = (int(v) for v in np.argwhere(lesion[z]).mean(axis=0))
    from medseg.io import load
    from medseg.preprocess import Reoriented

    image, _ = load(DATA / "ct-chest-141" / "dicom")
    hu_real = sitk.GetArrayFromImage(Reoriented.of(image).image)
    nodule = _lps(example / "nodule-grown.nrrd") > 0
    pred_real = _lps(example / "pred-real.nrrd") > 0
    zr = int(np.argmax(nodule.sum(axis=(1, 2))))
    ry, rx = (int(v) for v in np.argwhere(nodule[zr]).mean(axis=0))

    fig = Figure(figsize=(10.0, 4.0))
    axes = fig.subplots(1, 3)
    dl = _dice(lesion, pred & ndimage.binary_dilation(lesion, iterations=6))
    _panel(axes[0], hu, truth, pred, z, (cy, cx), 150, f"held-out ct-chest-141, lesions inserted\n(slice {z})")
    _panel(axes[1], hu, truth, pred, z, (cy, cx), 40, f"zoom: this lesion, Dice {dl:.2f}")
    near = ndimage.binary_dilation(nodule, iterations=8)
    _panel(axes[2], hu_real, nodule, pred_real, zr, (ry, rx), 40,
           f"real nodule (grown from seeds), Dice {_dice(nodule, pred_real & near):.2f}\n(slice {zr})")
    fig.suptitle("lung-tumour U-Net: prediction red, truth yellow outline (radiological view, lung window)",
                 fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out


if __name__ == "__main__":
    ex = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "out" / "lung-tumour" / "fold-ct-chest-141" / "example"
    dest = Path(sys.argv[2]) if len(sys.argv) > 2 else REPO / "Resources" / "figures" / "lung-tumour.png"
    print(main(ex, dest))
