"""PNG figures of volumes and labels with matplotlib (pure; no VTK), for the demo, reports and docs.

Axial slices are shown in the radiological convention: the image is first reoriented to LPS
axes, so rows run anterior→posterior (top→bottom) and columns run from the patient's right to
their left (image left = patient right), as Slicer's Red view shows them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import SimpleITK as sitk

from ..io.atomic import atomic_output
from ..labels import AUTO_LABELS, TABLE_HEADREST, Label
from ..preprocess import Reoriented
from .slices import position_text


def _label_colours(labels: Sequence[Label]) -> dict[int, tuple[float, float, float]]:
    return {lab.value: lab.color_float for lab in labels}


def overlay_axial(image: sitk.Image, labels: sitk.Image | None, path: str | os.PathLike, *,
                  slices: Iterable[int] | None = None, window: tuple[float, float] = (40.0, 400.0),
                  label_table: Sequence[Label] = AUTO_LABELS, alpha: float = 0.45, columns: int = 4,
                  title: str | None = None, inputs: Iterable[str | os.PathLike] = (),
                  outline: Iterable[int] = ()) -> Path:
    """Write a montage of axial slices (HU window ``(center, width)``) with labels overlaid.

    ``slices`` are z indices of the LPS-reoriented image (default: evenly spaced through the
    volume); each is captioned with its position (mm, "S 45.0 mm"). Aspect follows the pixel spacing (mm). Label values in ``outline`` are drawn as
    contours instead of fills, so a large structure (the body) does not hide the anatomy.
    The table-headrest (removed objects) is filled at least 85 % opaque so its magenta stands out.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    img = Reoriented.of(image).image
    hu = sitk.GetArrayViewFromImage(img)
    # A copy, not a view: a view of the temporary reoriented image would dangle once it is freed.
    lab = sitk.GetArrayFromImage(Reoriented.of(labels).image) if labels is not None else None
    nz = hu.shape[0]
    zs = list(slices) if slices is not None else sorted({int(round(v)) for v in np.linspace(0, nz - 1, min(nz, columns))})
    rows = (len(zs) + columns - 1) // columns
    cols = min(columns, len(zs))
    sx, sy = img.GetSpacing()[:2]
    centre = ((img.GetSize()[0] - 1) / 2.0, (img.GetSize()[1] - 1) / 2.0)
    fig = Figure(figsize=(3.2 * cols, 3.2 * rows * (hu.shape[1] * sy) / (hu.shape[2] * sx) + 0.4))
    axes = fig.subplots(rows, cols, squeeze=False)
    lo, hi = window[0] - window[1] / 2, window[0] + window[1] / 2
    colours = _label_colours(label_table)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, z in zip(axes.ravel(), zs):
        ax.imshow(hu[z], cmap="gray", vmin=lo, vmax=hi, aspect=sy / sx, interpolation="nearest")
        if lab is not None:
            rgba = np.zeros(lab[z].shape + (4,), dtype=float)
            outlined = set(outline)
            for value in outlined & set(colours):
                if (lab[z] == value).any():
                    ax.contour(lab[z] == value, levels=[0.5], colors=[colours[value]], linewidths=0.8)
            for value, rgb in colours.items():
                if value in outlined:
                    continue
                m = lab[z] == value
                rgba[m, :3] = rgb
                rgba[m, 3] = max(alpha, 0.85) if value == TABLE_HEADREST.value else alpha
            ax.imshow(rgba, aspect=sy / sx, interpolation="nearest")
        # A text, not set_title (which makes matplotlib lay out every axis's ticks to place it).
        ax.text(0.5, 1.01, position_text(img.TransformContinuousIndexToPhysicalPoint(centre + (float(z),))[2], 2),
                transform=ax.transAxes, ha="center", va="bottom", fontsize=8)
        ax.text(0.01, 0.5, "R", transform=ax.transAxes, color="yellow", fontsize=8, va="center")
        ax.text(0.97, 0.5, "L", transform=ax.transAxes, color="yellow", fontsize=8, va="center")
        ax.text(0.5, 0.97, "A", transform=ax.transAxes, color="yellow", fontsize=8, ha="center", va="top")
    if lab is not None:
        present = set(np.unique(lab).tolist())
        handles = [Rectangle((0, 0), 1, 1, color=lb.color_float) for lb in label_table if lb.value in present]
        names = [lb.name for lb in label_table if lb.value in present]
        if handles:
            fig.legend(handles, names, loc="lower center", ncol=min(6, len(names)), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.05 if lab is not None else 0, 1, 1))
    with atomic_output(path, inputs) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return Path(path)
