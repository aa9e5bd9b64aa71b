"""How long the panel's Grow from seeds blocks Slicer's GUI thread, on a 512 x 512 x 100 volume.

The panel runs the step as the Run button does (:mod:`medseg.mrml.background`): on the GUI thread
only the scene export (image and seeds out of the MRML nodes, written for the worker), the 100 ms
polls of its output, and the import (the grown labels into a segmentation node, without a closed
surface, as the panel makes it); the grow-cut and the smoothing run in the worker process. The
closed surface ("Show 3D" in the Segment Editor) is timed on its own. The
same seeds grown in-process by ``MedSegLogic.growFromSeeds`` (Slicer's own filter) give the time the
GUI thread would be blocked without the background process.

A real MRML scene (slicer-core), a 512² x 100 chest phantom (0.7 mm pixels, 1 mm slices), seeds in
both lungs and background seeds in two opposite corners, so the grow region is the whole volume.
Run with `make bench`; run_all.py writes the rows into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

SHAPE = (100, 512, 512)
POLL_S = 0.1  # MedSegWidgets.runner.POLL_MS


def _scene():
    import SimpleITK as sitk

    from medseg import labels as L
    from medseg.mrml import scene as S
    from medseg.mrml.headless import create_headless_app
    from medseg.mrml.logic import MedSegLogic
    from medseg.phantom import make_chest

    app = create_headless_app()
    logic = MedSegLogic(app.scene, app.app_logic)
    phantom = make_chest(shape=SHAPE, spacing=(1.0, 0.7, 0.7), seed=0)
    image = phantom.to_image()
    volume = S.image_to_volume_node(app.scene, image, "ct")
    seeds = np.zeros(SHAPE, np.uint8)
    for value, name in ((1, "lung-right"), (2, "lung-left")):
        idx = np.argwhere(phantom.masks[name])
        z, y, x = idx[len(idx) // 2]
        seeds[z - 2:z + 3, y - 2:y + 3, x - 2:x + 3] = value
    seeds[:, :2, :2] = seeds[:, -2:, -2:] = 3
    labels = sitk.GetImageFromArray(seeds)
    labels.CopyInformation(image)
    table = [L.Label(1, "right lung", (200, 60, 60)), L.Label(2, "left lung", (60, 60, 200)),
             L.Label(3, "outside", (90, 90, 90))]
    seed_node = S.labels_to_segmentation_node(app.scene, labels, table, reference_volume=volume, name="seeds",
                                              closed_surface=False)
    return app, logic, volume, seed_node


def background_grow(logic, volume, seed_node) -> dict:
    """The panel's path, timed part by part (seconds)."""
    from medseg.mrml import background

    t0 = time.perf_counter()
    job = background.start(logic, "growFromSeeds", volume, logic.growOptions(None, "median"),
                           segmentationNode=seed_node, closedSurface=False)
    export = time.perf_counter() - t0
    polls, n_polls, engine = 0.0, 0, ""
    while job.running:
        t = time.perf_counter()
        for event in job.poll():
            if event.text.startswith("grow-cut: ") and not engine:
                engine = event.text[len("grow-cut: "):]
        polls += time.perf_counter() - t
        n_polls += 1
        time.sleep(POLL_S)
    worker = time.perf_counter() - t0 - export
    t = time.perf_counter()
    node = job.finish()
    imported = time.perf_counter() - t
    total = time.perf_counter() - t0
    t = time.perf_counter()
    node.CreateClosedSurfaceRepresentation()
    surface = time.perf_counter() - t
    return {"export": export, "polls": polls, "n_polls": n_polls, "import": imported, "worker": worker,
            "total": total, "engine": engine, "surface": surface}


def main() -> list[str]:
    app, logic, volume, seed_node = _scene()
    bg = background_grow(logic, volume, seed_node)
    blocked = bg["export"] + bg["polls"] + bg["import"]
    t = time.perf_counter()
    logic.growFromSeeds(volume, seed_node, smooth="median", closedSurface=False)
    in_process = time.perf_counter() - t
    app.scene.Clear(True)
    mvox = np.prod(SHAPE) / 1e6
    return [
        f"| panel Grow from seeds 512×512×100 ({mvox:.1f} Mvoxels, whole-volume region; worker: {bg['engine']}): "
        f"GUI thread blocked {blocked:.2f} s of {bg['total']:.1f} s (export + write {bg['export']:.2f} s, "
        f"{bg['n_polls']} polls {bg['polls'] * 1000:.0f} ms, import {bg['import']:.2f} s; worker {bg['worker']:.1f} s; "
        f"a closed surface afterwards, on request: {bg['surface']:.1f} s; load average {os.getloadavg()[0]:.1f}) | "
        f"{blocked:.2f} s blocked | "
        f"{100 * blocked / bg['total']:.0f} % of the step |",
        f"| the same grow in Slicer's process (MedSegLogic.growFromSeeds, Slicer's filter): GUI thread blocked "
        f"throughout | {in_process:.1f} s blocked | |",
    ]


if __name__ == "__main__":
    for row in main():
        print(row)
    sys.exit(0)
