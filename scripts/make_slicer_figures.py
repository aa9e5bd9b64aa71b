#!/usr/bin/env python3
"""The README's pictures of Slicer's views, rendered by Slicer's own view classes under slicer-core.

    python scripts/make_slicer_figures.py Resources/figures [../shared/data/ct-abdomen-20/dicom]

Slice views come from ``vtkMRMLSliceLogic`` and the 3D view from VTK's offscreen (EGL) renderer,
through :class:`medseg.mrml.logic.MedSegLogic` on a fresh scene: what Slicer shows, not a mock-up.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from medseg.mrml.headless import create_headless_app
from medseg.mrml.logic import MedSegLogic
from medseg.mrml.render import (
    VIEWS, ras_of_index, render_3d_view, render_slice_view, side_by_side, write_png,
)
from medseg.phantom import write_phantom_study


def render_figures(out_dir: str | os.PathLike, abdomen_dicom: str | os.PathLike | None = None, size: int = 512) -> list[Path]:
    """The README's Slicer pictures, rendered through :class:`MedSegLogic` on a fresh slicer-core scene.

    Chest phantom (seed 0): ``slicer-red-view.png`` (the Red view through the lungs with the
    auto-labels; body as outline)
    and ``slicer-views.png`` (Red, Yellow, Green and 3D). With ``abdomen_dicom`` (ct-abdomen-20):
    ``slicer-abdomen-clean.png``, the table removal on a real CT. Returns the files written.
    """
    out, written = Path(out_dir), []
    app = create_headless_app()
    logic = MedSegLogic(app.scene, app.app_logic)
    with tempfile.TemporaryDirectory(prefix="medseg-figures-") as folder:
        volume = logic.convertDicom(write_phantom_study(folder, seed=0)["dicom"])
    logic.autolabel(volume)
    # Axial through the mid chest, coronal through both lungs, sagittal through the right lung.
    ras = ras_of_index(volume, (39, 64, 16))
    views = {view: render_slice_view(app.scene, volume, view, (size, size), ras, app.app_logic, hide_fill=["body"])
             for view in VIEWS}
    written.append(write_png(views["Red"], out / "slicer-red-view.png"))
    three = render_3d_view(app.scene, (size, size), app.app_logic, azimuth=30, elevation=15, hide=["body", "table-headrest"])
    written.append(write_png(side_by_side([*views.values(), three], [c for _o, c in VIEWS.values()] + [(0.6, 0.6, 0.85)]),
                             out / "slicer-views.png"))
    if abdomen_dicom is not None and Path(abdomen_dicom).exists():
        app.scene.Clear(False)
        ct = logic.convertDicom(abdomen_dicom)
        cleaned, _segmentation = logic.removeTable(ct)
        ras = ras_of_index(ct, [n // 2 for n in ct.GetImageData().GetDimensions()])
        before = render_slice_view(app.scene, ct, "Red", (size, size), ras, app.app_logic, hide_fill=["body"])
        after = render_slice_view(app.scene, cleaned, "Red", (size, size), ras, app.app_logic, segmentations=False)
        written.append(write_png(side_by_side([before, after]), out / "slicer-abdomen-clean.png"))
    app.scene.Clear(True)
    return written



if __name__ == "__main__":
    for path in render_figures(sys.argv[1] if len(sys.argv) > 1 else ".", sys.argv[2] if len(sys.argv) > 2 else None):
        print(path)
