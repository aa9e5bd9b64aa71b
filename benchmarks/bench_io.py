"""DICOM → HU loading speed: the real JPEG 2000 abdomen (20 × 512²) and an uncompressed phantom.

Run with `make bench`; results are printed and appended to benchmarks/RESULTS.md by run_all.py.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def time_load(path: Path, repeats: int = 3) -> tuple[float, int]:
    from medseg.io import load

    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        image, _ = load(path)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), image.GetSize()[2]


def main() -> list[str]:
    from medseg.phantom import write_phantom_study

    rows = []
    abdomen = SHARED / "ct-abdomen-20" / "dicom"
    if abdomen.exists():
        t, n = time_load(abdomen)
        rows.append(f"| load ct-abdomen-20 (JPEG 2000, 512²×{n}) | {t:.2f} s | {n / t:.0f} slices/s |")
    with tempfile.TemporaryDirectory() as tmp:
        study = write_phantom_study(Path(tmp) / "p", seed=0, shape=(64, 256, 256))
        t, n = time_load(study["dicom"])
        rows.append(f"| load phantom (uncompressed, 256²×{n}) | {t:.2f} s | {n / t:.0f} slices/s |")
    return rows


if __name__ == "__main__":
    for row in main():
        print(row)
    sys.exit(0)
