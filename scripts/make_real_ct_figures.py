"""Render the README's real-CT validation figures and measure the validation table.

For each real series in ../shared/data: load it (HU check included), run `clean` (body and
removed objects) and `lungs --split` exactly as the command line does, time both, and write
``Resources/figures/real-<series>.png``: a montage of axial slices (radiological view: image
left = patient right) with the body outline, the right and left lungs, the airway and the
removed objects filled in the label table's colours, with a legend and the data's source and
licence. The measured numbers go to ``Resources/figures/real-ct-validation.json`` and are
printed as the README's markdown table.

    PYTHONPATH=MedSegModule python scripts/make_real_ct_figures.py [--data ../shared/data] [--out DIR]

Seconds are wall-clock on the machine that runs it (the README says which).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

#: Series: what they are, and whom the caption credits (the data's source and licence).
SERIES = {
    "ct-chest-141": ("chest CT, Philips; couch, clothing and a cable", "ITKElastix example data (Apache-2.0)"),
    "ct-pelvis-chest-134": ("pelvis to upper chest; radiotherapy couch, gating block",
                            "TCIA Pancreatic-CT-CBCT-SEG (CC BY 4.0), see CITATION.txt"),
    "ct-abdomen-20": ("upper abdomen, Siemens; curved table, arms", "TotalSegmentator test data (Apache-2.0)"),
    "ct-chest-2": ("two chest slices; no Modality tag", "lungmask test data (Apache-2.0)"),
    "ct-head-tilt-28": ("head CT, GE, gantry tilt 18.5 deg, head holder", "dcm_qa_ct (BSD-2-Clause)"),
    "ct-head-93": ("head and neck, 64x64; stored values 1024 above HU", "3D Slicer test data (Slicer licence)"),
}
WINDOW = (-1000.0, 500.0)
COLUMNS = 4


def measure(folder: Path) -> dict:
    """Load, clean and lungs on one series; the arrays (LPS, z y x) and the numbers."""
    from medseg.pipeline import steps
    from medseg.preprocess import lps_array

    t0 = time.perf_counter()
    loaded = steps.convert(folder)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    cleaned = steps.clean(loaded.image, loaded.meta)
    t_clean = time.perf_counter() - t0
    t0 = time.perf_counter()
    lungs = steps.lungs(loaded.image, loaded.meta, split=True)
    t_lungs = time.perf_counter() - t0
    hu, spacing, _ = lps_array(loaded.image)
    body = lps_array(cleaned.body_mask)[0].astype(bool)
    objects = lps_array(cleaned.object_mask)[0].astype(bool)
    lung = lps_array(lungs.labels)[0]
    ml = float(np.prod(spacing)) / 1000.0
    image = loaded.image
    numbers = {
        "slices": int(image.GetSize()[2]), "size": list(image.GetSize()),
        "spacing_mm": [round(float(s), 3) for s in image.GetSpacing()],
        "seconds": {"load": round(t_load, 1), "clean": round(t_clean, 1), "lungs": round(t_lungs, 1)},
        "body_ml": round(float(body.sum()) * ml, 1), "objects_ml": round(float(objects.sum()) * ml, 1),
        "lung_right_ml": round(float((lung == 1).sum()) * ml, 1), "lung_left_ml": round(float((lung == 2).sum()) * ml, 1),
        "lung_right_voxels": int((lung == 1).sum()), "lung_left_voxels": int((lung == 2).sum()),
        "airway_ml": lungs.stats.get("airway_ml"), "hu_check": loaded.meta.get("hu_check", {}).get("verdict"),
        "hu_corrected": bool(loaded.meta.get("hu_check", {}).get("corrected")),
        "warnings": loaded.meta.get("warnings", []),
    }
    return {"hu": hu, "spacing": spacing, "body": body, "objects": objects, "lungs": lung,
            "airway": _airway(loaded.image, loaded.meta), "numbers": numbers}


def _airway(image, meta) -> np.ndarray:
    """The airway label of `autolabel`'s lung step, on the LPS grid (for the figure only)."""
    from medseg.autolabel.lungs.mask import segment_lungs
    from medseg.preprocess import lps_array

    hu, spacing, _ = lps_array(image)
    return segment_lungs(hu, spacing).airway


def pick_slices(found: dict, n: int = 8) -> list[int]:
    """Slices to show, head first: evenly spaced, two of them moved onto the lowest lung slice and
    the slice 4 below it (where bowel gas must not be lung)."""
    nz = found["hu"].shape[0]
    if nz <= n:
        return list(range(nz))[::-1]
    zs = [int(round(v)) for v in np.linspace(0, nz - 1, n)]
    lung_z = np.flatnonzero((found["lungs"] > 0).any(axis=(1, 2)))
    if lung_z.size and lung_z[0] > 0:
        free = list(range(1, n - 1))  # the first and last slices stay
        for target in (int(lung_z[0]), max(0, int(lung_z[0]) - 4)):
            k = min(free, key=lambda i: abs(zs[i] - target))
            zs[k] = target
            free.remove(k)
    return sorted(set(zs), reverse=True)


def render(found: dict, name: str, what: str, credit: str, path: Path) -> Path:
    """The montage for one series (matplotlib's Figure API; no pyplot state)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from medseg.io.atomic import atomic_output
    from medseg.labels import AIRWAY, BODY, LUNG_LEFT, LUNG_RIGHT, TABLE_HEADREST

    hu, sp = found["hu"], found["spacing"]
    zs = pick_slices(found)
    cols = min(COLUMNS, len(zs))
    rows = (len(zs) + cols - 1) // cols
    aspect = hu.shape[1] * sp[1] / (hu.shape[2] * sp[2])
    panel, title, top, bottom = 3.3, 0.3, 0.75, 1.0  # inches
    height = (panel * aspect + title) * rows + top + bottom
    fig = Figure(figsize=(panel * cols, height))
    axes = fig.subplots(rows, cols, squeeze=False)
    fig.subplots_adjust(left=0.01, right=0.99, top=1 - top / height, bottom=bottom / height, wspace=0.03,
                        hspace=title / (panel * aspect))
    for ax in axes.ravel():
        ax.axis("off")
    fills = ((found["objects"], TABLE_HEADREST, 0.75), (found["lungs"] == 1, LUNG_RIGHT, 0.45),
             (found["lungs"] == 2, LUNG_LEFT, 0.45), (found["airway"], AIRWAY, 0.8))
    for ax, z in zip(axes.ravel(), zs):
        g = np.clip((hu[z].astype(np.float32) - WINDOW[0]) / (WINDOW[1] - WINDOW[0]), 0, 1)
        rgb = np.repeat(g[..., None], 3, axis=2)
        for mask, label, alpha in fills:
            m = mask[z]
            rgb[m] = (1 - alpha) * rgb[m] + alpha * np.asarray(label.color_float)
        ax.imshow(rgb, aspect=sp[1] / sp[2], interpolation="nearest")
        if found["body"][z].any():
            ax.contour(found["body"][z], levels=[0.5], colors=[BODY.color_float], linewidths=1.3)
        if found["objects"][z].any():
            ax.contour(found["objects"][z], levels=[0.5], colors=[TABLE_HEADREST.color_float], linewidths=0.6)
        ax.set_xlim(-0.5, hu.shape[2] - 0.5)  # contour() would widen the limits past the image
        ax.set_ylim(hu.shape[1] - 0.5, -0.5)
        ax.set_title(f"slice {z}", fontsize=8)
        ax.text(0.01, 0.5, "R", transform=ax.transAxes, color="yellow", fontsize=8, va="center")
        ax.text(0.96, 0.5, "L", transform=ax.transAxes, color="yellow", fontsize=8, va="center")
    handles = [Patch(facecolor="none", edgecolor=BODY.color_float, label="body (outline)"),
               Patch(facecolor=TABLE_HEADREST.color_float, edgecolor=TABLE_HEADREST.color_float,
                     label="removed objects: table, couch, headrest, clothing (magenta fill + outline)"),
               Patch(color=LUNG_RIGHT.color_float, label="lung right"), Patch(color=LUNG_LEFT.color_float, label="lung left"),
               Patch(color=AIRWAY.color_float, label="airway (not lung)")]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=7, frameon=False,
               bbox_to_anchor=(0.5, 0.25 / height))
    n = found["numbers"]
    fig.suptitle(f"{name}: {what}\nmedseg clean + lungs --split; body {n['body_ml'] / 1000:.1f} L, lungs R {n['lung_right_ml']:.0f} / "
                 f"L {n['lung_left_ml']:.0f} mL, removed {n['objects_ml']:.0f} mL", fontsize=9)
    fig.text(0.5, 0.005, f"data: {credit}", ha="center", va="bottom", fontsize=6.5, color="0.3")
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return path


def table(results: dict) -> str:
    """The README's validation table (markdown)."""
    lines = ["| series | slices | spacing (mm) | clean (s) | lungs (s) | body (mL) | lung R / L (mL) | removed (mL) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, n in results.items():
        sp = " x ".join(f"{v:g}" for v in n["spacing_mm"])
        lines.append(f"| `{name}` | {n['slices']} | {sp} | {n['seconds']['clean']} | {n['seconds']['lungs']} | "
                     f"{n['body_ml']:.0f} | {n['lung_right_ml']:.0f} / {n['lung_left_ml']:.0f} | {n['objects_ml']:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"), help="the shared data folder")
    parser.add_argument("--out", default=str(REPO / "Resources" / "figures"), help="output folder")
    parser.add_argument("--series", nargs="*", default=list(SERIES), help="series to render (default: all six)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    results = {}
    for name in args.series:
        folder = Path(args.data) / name / "dicom"
        if not folder.exists():
            print(f"skipped {name}: {folder} not found")
            continue
        found = measure(folder)
        what, credit = SERIES[name]
        print(render(found, name, what, credit, out / f"real-{name}.png"))
        results[name] = found["numbers"]
    if results:
        summary = {"machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
                   "series": results}
        path = out / "real-ct-validation.json"
        path.write_text(json.dumps(summary, indent=2) + "\n")
        print(path)
        print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
