"""Training outputs a person looks at: metrics CSV, PNG curves, per-epoch montages and a GIF.

Written by rank 0 only (see :mod:`.distributed`). matplotlib runs with the Agg backend, so no
display is needed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_output


def write_csv(history: list[dict], path: Path) -> None:
    """One row per epoch; columns are the union of the history's keys, in first-seen order."""
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        for row in history:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


#: The U-Net's curves: file name -> ((history key, legend), ...).
UNET_PANELS = {
    "loss.png": (("train_loss", "train"), ("val_loss", "validation")),
    "dice.png": (("val_dice", "Dice"), ("val_iou", "IoU")),
    "lr.png": (("lr", "learning rate"),),
}


def plot_curves(history: list[dict], folder: Path, panels: dict | None = None) -> list[Path]:
    """One PNG per panel by epoch: ``panels`` maps a file name to its (history key, legend) series
    (default :data:`UNET_PANELS`: loss.png, dice.png, lr.png)."""
    from matplotlib.figure import Figure

    epochs = [h["epoch"] for h in history]
    panels = UNET_PANELS if panels is None else panels
    out = []
    for name, series in panels.items():
        fig = Figure(figsize=(5, 3.2), dpi=100)
        ax = fig.subplots()
        for key, label in series:
            ax.plot(epochs, [h.get(key, np.nan) for h in history], marker="o", ms=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name[:-4])
        if name == "lr.png":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        with atomic_output(folder / name) as tmp:
            fig.savefig(tmp)
        out.append(folder / name)
    return out


def _overlay(image: np.ndarray, labels: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) of a [0, 1] slice with class colours blended at 45 % opacity."""
    rgb = np.repeat(np.clip(image, 0, 1)[..., None], 3, axis=2)
    fg = labels > 0
    rgb[fg] = 0.55 * rgb[fg] + 0.45 * colours[labels[fg]]
    return rgb


def montage(images: np.ndarray, truth: np.ndarray, pred: np.ndarray, colours, path: Path, title: str) -> Path:
    """Rows = slices; columns = image, ground truth, prediction. images (N, H, W) [0, 1], labels (N, H, W)."""
    from matplotlib.figure import Figure

    colours = np.asarray(colours, dtype=np.float32) / 255.0
    n = len(images)
    fig = Figure(figsize=(6, 2 * n), dpi=80)
    axes = fig.subplots(n, 3, squeeze=False)
    for i in range(n):
        for j, (tile, name) in enumerate(((images[i], "image"), (_overlay(images[i], truth[i], colours), "truth"),
                                          (_overlay(images[i], pred[i], colours), "prediction"))):
            axes[i, j].imshow(tile, cmap="gray", vmin=0, vmax=1)
            axes[i, j].set_axis_off()
            if i == 0:
                axes[i, j].set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        fig.savefig(tmp)
    return path


def make_gif(frames: list[Path], path: Path, ms_per_frame: int = 400) -> Path | None:
    """An animated GIF of the montage PNGs (Pillow, which matplotlib already needs)."""
    if not frames:
        return None
    from PIL import Image

    images = [Image.open(f).convert("P", palette=Image.ADAPTIVE) for f in frames]
    with atomic_output(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)
    return path
