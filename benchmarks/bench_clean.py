"""Table/headrest removal and body mask speed (`medseg clean`): target <= 3 s for 512 x 512 x 300 on 2 cores.

The 512² x 300 volume is the real ct-abdomen-20 (20 slices) tiled along z, mirrored every other
copy so that anatomy stays continuous; without ../shared/data it is a tiled abdomen phantom.
Timed: :func:`medseg.pipeline.steps.clean` from an in-memory image to the three outputs (no I/O).
Run with `make bench`; run_all.py appends the rows to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def volume_512x300() -> tuple[np.ndarray, tuple[float, float, float], str]:
    """(HU array (z, y, x), spacing (z, y, x) mm, description) of the benchmark volume."""
    abdomen = SHARED / "ct-abdomen-20" / "dicom"
    if abdomen.exists():
        import SimpleITK as sitk

        from medseg.io import load

        image, _ = load(abdomen)
        block = sitk.GetArrayFromImage(image)
        spacing = tuple(float(s) for s in image.GetSpacing()[::-1])
        what = "real abdomen tiled"
    else:
        from medseg.phantom import make_abdomen

        p = make_abdomen(shape=(30, 512, 512), seed=0)
        block, spacing, what = p.hu, p.spacing, "abdomen phantom tiled"
    reps = -(-300 // block.shape[0])
    tiled = np.concatenate([block if i % 2 == 0 else block[::-1] for i in range(reps)])[:300]
    return np.ascontiguousarray(tiled), spacing, what


def time_clean(hu: np.ndarray, spacing, repeats: int = 3) -> tuple[float, float, dict]:
    """Best wall and CPU time (s) of :func:`pipeline.clean` over ``repeats`` runs, and the last run's stats.

    CPU time is reported beside wall time because a busy shared machine inflates wall time; the
    method is single-threaded numpy/scipy apart from SimpleITK's image copies.
    """
    import SimpleITK as sitk

    from medseg.pipeline.steps import clean

    image = sitk.GetImageFromArray(hu)
    image.SetSpacing(tuple(spacing[::-1]))
    best, best_cpu, stats = float("inf"), float("inf"), {}
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        result = clean(image, {"is_hu": True, "modality": "CT"})
        best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
        stats = result.stats
    return best, best_cpu, stats


def main() -> list[str]:
    hu, spacing, what = volume_512x300()
    t, cpu, stats = time_clean(hu, spacing)
    nz, ny, nx = hu.shape
    mvox = hu.size / 1e6
    f = stats.get("reduction_factor", 1)
    return [f"| clean {ny}×{nx}×{nz} ({what}; work grid ÷{f} in-plane; target ≤ 3 s) "
            f"| {t:.2f} s (CPU {cpu:.2f} s) | {mvox / t:.0f} Mvoxel/s |"]


if __name__ == "__main__":
    for row in main():
        print(row)
    sys.exit(0)
