#!/usr/bin/env python3
"""Draw the module and extension icons: a stylised axial chest CT slice in the auto-label colours.

Writes (128 x 128 PNG):
  MedSegModule/Resources/Icons/MedSegModule.png   module icon (Slicer's module list and toolbar)
  Resources/Icons/MedSeg.png                      extension icon (Extensions Manager)

The slice is seen as Slicer shows it (radiological convention): the patient's right lung is on the
viewer's left, the spine at the bottom. Colours come from medseg.labels.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Arc, Circle, Ellipse, FancyBboxPatch, PathPatch  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402

from medseg import labels  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SIZE_PX = 128


def _rgb(label: labels.Label) -> tuple[float, float, float]:
    return label.color_float


def _lung_path(cx: float, cy: float, w: float, h: float, mirror: bool) -> MplPath:
    """A lung outline: rounded outer side, flatter mediastinal side with a hilar notch."""
    s = -1.0 if mirror else 1.0  # +1: mediastinum towards +x
    pts = [
        (cx + s * 0.10 * w, cy + 0.50 * h),  # apex
        (cx + s * 0.45 * w, cy + 0.42 * h), (cx + s * 0.42 * w, cy + 0.10 * h), (cx + s * 0.30 * w, cy + 0.02 * h),  # notch
        (cx + s * 0.44 * w, cy - 0.12 * h), (cx + s * 0.52 * w, cy - 0.40 * h), (cx + s * 0.30 * w, cy - 0.50 * h),  # base
        (cx - s * 0.10 * w, cy - 0.56 * h), (cx - s * 0.50 * w, cy - 0.40 * h), (cx - s * 0.50 * w, cy - 0.05 * h),  # outer
        (cx - s * 0.50 * w, cy + 0.30 * h), (cx - s * 0.25 * w, cy + 0.56 * h), (cx + s * 0.10 * w, cy + 0.50 * h),  # top
    ]
    codes = [MplPath.MOVETO] + [MplPath.CURVE4] * 12
    return MplPath(pts, codes)


def draw_icon(path: Path, with_table: bool) -> None:
    fig = plt.figure(figsize=(1, 1), dpi=SIZE_PX)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.patch.set_alpha(0)

    # Scanner-black rounded tile, as a slice view shows outside air.
    ax.add_patch(FancyBboxPatch((0.03, 0.03), 0.94, 0.94, boxstyle="round,pad=0,rounding_size=0.14",
                                facecolor="#101418", edgecolor="#3a4450", linewidth=1.2))

    body_cy = 0.53 if with_table else 0.5
    if with_table:  # the couch the table-removal step takes away
        table = _rgb(labels.TABLE_HEADREST)
        ax.add_patch(FancyBboxPatch((0.14, 0.13), 0.72, 0.045, boxstyle="round,pad=0,rounding_size=0.02",
                                    facecolor=table, edgecolor="none"))
        ax.add_patch(Ellipse((0.5, 0.2), 0.46, 0.06, facecolor=table, edgecolor="none"))

    # Body, with a darker skin/fat rim.
    body = _rgb(labels.BODY)
    ax.add_patch(Ellipse((0.5, body_cy), 0.82, 0.62, facecolor=body, edgecolor=tuple(c * 0.7 for c in body),
                         linewidth=1.5))

    # Lungs (patient's right on the viewer's left), inside the rib cage.
    ax.add_patch(PathPatch(_lung_path(0.345, body_cy + 0.02, 0.23, 0.36, mirror=False),
                           facecolor=_rgb(labels.LUNG_RIGHT), edgecolor="none"))
    ax.add_patch(PathPatch(_lung_path(0.655, body_cy + 0.02, 0.21, 0.36, mirror=True),
                           facecolor=_rgb(labels.LUNG_LEFT), edgecolor="none"))

    # Ribs: short bone arcs around the chest wall, none over the sternum or the spine.
    bone = _rgb(labels.BONE)
    for centre in range(0, 360, 26):
        if abs(centre - 90) < 15 or abs(centre - 270) < 20:
            continue
        ax.add_patch(Arc((0.5, body_cy), 0.72, 0.52, theta1=centre - 6, theta2=centre + 6,
                         color=bone, linewidth=2.2))

    # Trachea in front of the spine, then the vertebra: body and spinous process.
    ax.add_patch(Circle((0.5, body_cy + 0.09), 0.04, facecolor=_rgb(labels.AIRWAY), edgecolor="none"))
    ax.add_patch(Circle((0.5, body_cy - 0.16), 0.065, facecolor=bone, edgecolor="none"))
    ax.add_patch(FancyBboxPatch((0.485, body_cy - 0.29), 0.03, 0.09, boxstyle="round,pad=0,rounding_size=0.012",
                                facecolor=bone, edgecolor="none"))

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=SIZE_PX, transparent=True)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO, help="repository root to write into")
    args = parser.parse_args(argv)
    outputs = {
        args.root / "MedSegModule" / "Resources" / "Icons" / "MedSegModule.png": False,
        args.root / "Resources" / "Icons" / "MedSeg.png": True,
    }
    for path, with_table in outputs.items():
        draw_icon(path, with_table)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
