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

from .png import png_bytes

#: Bin width (HU) of the report's histograms.
BIN_HU = 10.0
#: The most values read for a histogram (a regular sample of the volume).
SAMPLE = 4_000_000


def _sample(image: sitk.Image) -> np.ndarray:
    v = sitk.GetArrayViewFromImage(image).reshape(-1)
    return v[:: max(1, v.size // SAMPLE)].astype(np.float64)


def was_corrected(hu_check: dict | None) -> bool:
    """True when the loader shifted the values (so there is a "before" distinct from the "after")."""
    return bool(hu_check and hu_check.get("corrected") and hu_check.get("shift_hu"))


def _draw(values: np.ndarray, edges: np.ndarray, title: str, marks: dict[str, tuple[float, str]]) -> bytes:
    from matplotlib.figure import Figure

    counts, _ = np.histogram(values, edges)
    fig = Figure(figsize=(5.2, 2.5))
    ax = fig.subplots()
    ax.stairs(np.maximum(counts, 0.5), edges, fill=True, color="0.35", baseline=0.5)
    ax.set_yscale("log")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel("value (HU as the rescale gives it)" if "before" in title else "HU")
    ax.set_ylabel(f"voxels per {BIN_HU:g} HU")
    for name, (x, colour) in marks.items():
        ax.axvline(x, color=colour, linestyle="--", linewidth=0.9, label=name)
    ax.legend(fontsize=7, loc="upper right", frameon=False)
    ax.set_title(title, fontsize=9)
    fig.tight_layout(pad=0.4)
    return png_bytes(fig, dpi=90)


def hu_histograms(image: sitk.Image, hu_check: dict | None) -> dict[str, bytes]:
    """PNG images (bytes) of the value histogram: ``{"hu_before", "hu_after"}`` when the loader corrected the
    values, else ``{"hu"}``. Both of a pair share the x range, so the shift shows; y is log counts.

    ``image`` is the loaded volume (HU after any correction); ``hu_check`` its ``meta["hu_check"]``.
    """
    after = _sample(image)
    shift = float(hu_check["shift_hu"]) if was_corrected(hu_check) else 0.0
    both = [after, after - shift] if shift else [after]
    lo = min(float(np.percentile(v, 0.05)) for v in both)
    hi = max(float(np.percentile(v, 99.95)) for v in both)
    lo = np.floor(min(lo, -1100.0) / BIN_HU) * BIN_HU
    hi = np.ceil(max(hi, 200.0) / BIN_HU) * BIN_HU + BIN_HU
    edges = np.arange(lo, hi + BIN_HU / 2, BIN_HU)
    reference = {"air −1000 HU": (-1000.0, "tab:blue"), "water 0 HU": (0.0, "tab:green")}
    if not shift:
        return {"hu": _draw(np.clip(after, lo, hi - 1e-6), edges,
                             "values as loaded (no HU correction)", reference)}
    found = {f"{what} peak found at {hu_check[key]:g}": (float(hu_check[key]), colour)
             for what, key, colour in (("air", "air_mode", "tab:red"), ("soft-tissue", "tissue_mode", "tab:orange"))
             if hu_check.get(key) is not None}
    before = _draw(np.clip(after - shift, lo, hi - 1e-6), edges,
                   "before: values as the headers' rescale gives them", {**reference, **found})
    after_png = _draw(np.clip(after, lo, hi - 1e-6), edges,
                       f"after: corrected by {shift:+g} HU", reference)
    return {"hu_before": before, "hu_after": after_png}


__all__ = ["hu_histograms", "was_corrected", "BIN_HU"]
