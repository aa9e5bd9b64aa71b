"""A picture of the automatic thresholds on one slice, like scikit-image's ``try_all_threshold``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..autolabel.region import THRESHOLD_METHODS, as_array, threshold
from ..measure import metrics
from ..errors import ParameterError
from ..io.atomic import atomic_output


def threshold_montage(image_slice, path: str | os.PathLike, mask=None, *, reference=None,
                      methods: Sequence[str] = THRESHOLD_METHODS, bright: bool = True, crop: bool = True,
                      margin: int = 8, title: str | None = None, aspect: float = 1.0,
                      inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """A PNG grid comparing the automatic thresholds on one 2-D (y, x) slice, like skimage's try_all_threshold.

    The first panel is the slice (with ``mask``'s outline); each other panel shows one method's
    class (``bright``: above the threshold; white) inside ``mask`` (grey), titled with the threshold
    and, with a ``reference`` (y, x) mask, outlined in red and scored by Dice. ``crop`` zooms to the mask's bounding box plus
    ``margin`` pixels. ``aspect`` is row spacing / column spacing. A method that fails says so in
    its panel. Returns the path written (atomically).
    """
    from matplotlib.figure import Figure

    img = np.asarray(as_array(image_slice), dtype=np.float64)
    if img.ndim != 2:
        raise ParameterError(f"threshold_montage takes one 2-D (y, x) slice, got shape {img.shape}")
    m = np.ones(img.shape, dtype=bool) if mask is None else (np.asarray(as_array(mask)) != 0)
    ref = None if reference is None else np.asarray(as_array(reference)) != 0
    window = (slice(None), slice(None))
    if crop and mask is not None and m.any():
        rows, cols = np.nonzero(m)
        window = (slice(max(rows.min() - margin, 0), rows.max() + margin + 1),
                  slice(max(cols.min() - margin, 0), cols.max() + margin + 1))
    shown = img[window]
    lo, hi = np.percentile(img[m] if m.any() else img, [0.5, 99.5])
    lo, hi = min(lo, hi - 1.0), hi  # a constant region still gets a drawable window
    panels = 1 + len(methods)
    cols = 4
    rows_n = (panels + cols - 1) // cols
    # Each row: the panel's height at 3 inches wide, plus room for a two-line title.
    row_h = 3.0 * aspect * shown.shape[0] / shown.shape[1] + 0.6
    fig = Figure(figsize=(3.0 * cols, row_h * rows_n + (0.4 if title else 0.0)), layout="constrained")
    axes = fig.subplots(rows_n, cols, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 0].imshow(shown, cmap="gray", vmin=lo, vmax=hi, aspect=aspect, interpolation="nearest")
    if mask is not None:
        axes[0, 0].contour(m[window], levels=[0.5], colors="yellow", linewidths=0.8)
    axes[0, 0].set_title("original (region outlined)" if mask is not None else "original", fontsize=9)
    for ax, method in zip(axes.ravel()[1:], methods):
        try:
            t = threshold(img, method, m)
        except ParameterError as exc:
            ax.set_title(f"{method}: failed", fontsize=9)
            ax.text(0.5, 0.5, str(exc)[:60], ha="center", va="center", fontsize=6, wrap=True, transform=ax.transAxes)
            continue
        cls = ((img > t) if bright else (img <= t)) & m
        # Grey = the region, white = the chosen class, black = outside the region.
        display = np.where(cls, 1.0, np.where(m, 0.35, 0.0))
        ax.imshow(display[window], cmap="gray", vmin=0, vmax=1, aspect=aspect, interpolation="nearest")
        label = f"{method}: t = {t:.4g}"
        if ref is not None:
            ax.contour(ref[window], levels=[0.5], colors="red", linewidths=0.8)
            label += f"\nDice {metrics.dice(cls, ref):.3f}"
        ax.set_title(label, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    with atomic_output(path, inputs) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return Path(path)
