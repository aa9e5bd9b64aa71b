"""The HU histogram of a study, before and after the loader's HU correction (:mod:`medseg.io.hu_check`).

"Before" is the values as the headers' rescale gives them; "after" is what every step used. The
loader corrects only a clear +1024 offset (``meta["hu_check"]["corrected"]``), by
``shift_hu``; then "before" is rebuilt exactly as ``after - shift_hu`` for every measured voxel
(stored values that were out of field, below -1500 HU after the shift, had been set to AIR_HU and
show at ``AIR_HU - shift_hu``). Without a correction there is one histogram, and the report says why.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from .png import Picture, png_bytes

#: Bin width (HU) of the report's histograms.
BIN_HU = 10.0
#: Values outside this range (HU) are counted at its ends: no CT value means anything beyond it.
LIMITS = (-4096, 8192)


def value_counts(image: sitk.Image) -> np.ndarray:
    """Voxels per 1-HU bin of the whole volume: ``counts[i]`` voxels have the value ``LIMITS[0] + i``
    (rounded; values beyond LIMITS counted at its ends). Exact: every voxel, no sampling."""
    lo, hi = LIMITS
    counts = np.zeros(hi - lo + 1, dtype=np.int64)
    arr = sitk.GetArrayViewFromImage(image)
    for k in range(0, arr.shape[0], 16):  # a few slices at a time: no volume-sized copy
        chunk = np.clip(np.rint(arr[k:k + 16]) if arr.dtype.kind == "f" else arr[k:k + 16], lo, hi)
        counts += np.bincount((chunk.astype(np.int32) - lo).ravel(), minlength=counts.size)
    return counts


def _percentile(counts: np.ndarray, q: float) -> float:
    cum = np.cumsum(counts)
    return float(np.searchsorted(cum, q / 100.0 * cum[-1]) + LIMITS[0])


def was_corrected(hu_check: dict | None) -> bool:
    """True when the loader shifted the values (so there is a "before" distinct from the "after")."""
    return bool(hu_check and hu_check.get("corrected") and hu_check.get("shift_hu"))


def _count_label(value: float, _pos=None) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def _draw(counts: np.ndarray, edges: np.ndarray, title: str, marks: dict[str, tuple[float, str]]) -> bytes:
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(5.2, 2.5))
    ax = fig.subplots()
    ax.stairs(np.maximum(counts, 0.5), edges, fill=True, color="0.35", baseline=0.5)
    ax.set_yscale("log")
    ax.minorticks_off()  # a log axis's minor ticks cost most of the drawing and say little here
    # Plain labels (1, 10, 1k, 1M): the default "10^k" goes through mathtext, most of the figure's time.
    ax.yaxis.set_major_formatter(FuncFormatter(_count_label))
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel("value (HU as the rescale gives it)" if "before" in title else "HU")
    ax.set_ylabel(f"voxels per {BIN_HU:g} HU")
    for name, (x, colour) in marks.items():
        ax.axvline(x, color=colour, linestyle="--", linewidth=0.9, label=name)
    ax.legend(fontsize=7, loc="upper right", frameon=False)
    # A text, not set_title: placing a title makes matplotlib lay out every tick to find room.
    ax.text(0.5, 1.02, title, transform=ax.transAxes, ha="center", va="bottom", fontsize=9)
    # Fixed margins: tight_layout would draw the figure twice to measure it.
    fig.subplots_adjust(left=0.14, right=0.98, top=0.9, bottom=0.19)
    return png_bytes(fig, dpi=90)


def hu_histograms(image: sitk.Image, hu_check: dict | None) -> dict[str, Picture]:
    """Pictures of the value histogram: ``{"hu_before", "hu_after"}`` when the loader corrected the
    values, else ``{"hu"}``. Every voxel is counted; both of a pair share the x range, so the shift
    shows; y is log voxels per bin.

    ``image`` is the loaded volume (HU after any correction); ``hu_check`` its ``meta["hu_check"]``.
    """
    ones = value_counts(image)  # 1-HU bins of the values every step used
    shift = int(round(float(hu_check["shift_hu"]))) if was_corrected(hu_check) else 0
    lo = min(_percentile(ones, 0.05), _percentile(ones, 0.05) - shift, -1100.0)
    hi = max(_percentile(ones, 99.95), _percentile(ones, 99.95) - shift, 200.0)
    lo, hi = int(np.floor(lo / BIN_HU) * BIN_HU), int(np.ceil(hi / BIN_HU) * BIN_HU + BIN_HU)
    edges = np.arange(lo, hi + 1, BIN_HU)

    def binned(offset: int) -> np.ndarray:
        """10-HU bins over [lo, hi) of the values + ``offset``; values beyond go to the end bins."""
        values = np.arange(ones.size) + LIMITS[0] + offset
        index = np.clip(((values - lo) // BIN_HU).astype(int), 0, len(edges) - 2)
        return np.bincount(index, weights=ones, minlength=len(edges) - 1)

    reference = {"air −1000 HU": (-1000.0, "tab:blue"), "water 0 HU": (0.0, "tab:green")}
    if not shift:
        return {"hu": Picture(_draw(binned(0), edges, "values as loaded (no HU correction)", reference),
                              "values as loaded: every step used these")}
    found = {f"{what} peak found at {hu_check[key]:g}": (float(hu_check[key]), colour)
             for what, key, colour in (("air", "air_mode", "tab:red"), ("soft-tissue", "tissue_mode", "tab:orange"))
             if hu_check.get(key) is not None}
    before = _draw(binned(-shift), edges, "before: values as the headers' rescale gives them", {**reference, **found})
    after = _draw(binned(0), edges, f"after: corrected by {shift:+d} HU", reference)
    return {"hu_before": Picture(before, f"before: as the headers' rescale gives them (the HU used, {-shift:+d})"),
            "hu_after": Picture(after, f"after: corrected by {shift:+d} HU, the values every step used")}

__all__ = ["hu_histograms", "value_counts", "was_corrected", "BIN_HU", "LIMITS"]
