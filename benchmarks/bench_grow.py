"""Grow from seeds (`medseg grow`) at 512 x 512 x 300 on 2 cores: time and peak memory.

- worst case: a 512² x 300 chest phantom (0.7 mm pixels, 1 mm slices) with seeds in both lungs and
  background seeds in two opposite corners, so the region around the seeds is the whole volume
  (78.6 Mvoxels through ITK's FastGrowCut);
- the usual case: the ct-chest-141 nodule seeds of the tests (a ball in the nodule, a shell around
  it), where the region is the seeds' box plus Slicer's margin.

Timed from in-memory arrays to the label array (no I/O), through the default engine (the child
process); the peak memory is the child's maximum resident set (``RUSAGE_CHILDREN``, Linux kB). The
CPU seconds and the load average are given because the machine is shared: wall time on a loaded
machine can be twice the CPU time.
Run with `make bench`; run_all.py appends the rows to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def _timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - t0, time.process_time() - c0, result


def phantom_case():
    from medseg.phantom import make_chest

    phantom = make_chest(shape=(300, 512, 512), spacing=(1.0, 0.7, 0.7), seed=0)
    seeds = np.zeros(phantom.hu.shape, np.uint8)
    for value, name in ((1, "lung-right"), (2, "lung-left")):
        idx = np.argwhere(phantom.masks[name])
        z, y, x = idx[len(idx) // 2]
        seeds[z - 2:z + 3, y - 2:y + 3, x - 2:x + 3] = value
    seeds[:, 0, 0] = seeds[:, -1, -1] = 3
    return phantom.hu, seeds, phantom.spacing


def nodule_case():
    import SimpleITK as sitk

    from medseg.io import load

    sys.path.insert(0, str(REPO / "Testing"))
    from grow_helpers import nodule_seeds

    image, _ = load(SHARED / "ct-chest-141" / "dicom")
    return sitk.GetArrayFromImage(image), nodule_seeds(image), image.GetSpacing()[::-1]


def main() -> list[str]:
    from medseg.autolabel.grow import grow_from_seeds

    rows = []
    cases = [("chest phantom 512×512×300, seeds spanning the volume", phantom_case)]
    if (SHARED / "ct-chest-141").exists():
        cases.append(("ct-chest-141 512×512×141, nodule seeds", nodule_case))
    for what, make in cases:
        hu, seeds, spacing = make()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall, cpu, grown = _timed(lambda: grow_from_seeds(hu, seeds, spacing, smooth="median"))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak, child_cpu = after.ru_maxrss, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        region = grown.stats["region_voxels"]
        memory = f"; grow-cut process peak {peak / 1e6:.1f} GB" if peak > before.ru_maxrss else ""
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in grown.stats["seconds"].items())
        rows.append(f"| grow from seeds, {what} (region {region / 1e6:.2f} Mvoxels; {stages}{memory}) | "
                    f"{wall:.1f} s (CPU: grow-cut process {child_cpu:.1f} s, smoothing and the rest {cpu:.1f} s; "
                    f"load average {os.getloadavg()[0]:.1f}) | {region / 1e6 / wall:.2f} Mvoxel/s |")
    return rows


if __name__ == "__main__":
    for row in main():
        print(row)
    sys.exit(0)
