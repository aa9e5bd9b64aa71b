"""`medseg run` on the real JPEG 2000 abdomen repeated to 100, 300 and 600 slices (512²), and DICOM → HU
against SimpleITK's ImageSeriesReader and a naive pydicom loop, each in the same run.

Workload: :mod:`workload` (the 20 real ct-abdomen-20 slices at new positions, pixel data unchanged).
Each `run` is a fresh child process (default options: convert, clean, auto-labels, statistics,
meshes, DICOM SEG, figures, report; no radiomics), so its peak RSS is its own. DICOM → HU is
timed three ways on the 300-slice series, interleaved, best of two rounds each.
Targets (issue: `medseg run` fast on a full-size CT): run ≤ 25 s and ≤ 1.5 GB at 300 slices;
DICOM → HU ≤ 0.8 × SimpleITK; statistics ≤ 1 s; meshes ≤ 5 s; time and memory linear in slices.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import workload  # noqa: E402

SIZES = (100, 300, 600)
#: Filled by :func:`main`: one line per target, "met" or "misses by ...", for RESULTS.md.
TARGETS: list[str] = []

_CHILD = r"""
import json, resource, sys, time
from medseg.pipeline.study import run_study
t0 = time.perf_counter()
r = run_study(sys.argv[1], sys.argv[2], force=True)
wall = time.perf_counter() - t0
u = resource.getrusage(resource.RUSAGE_SELF); c = resource.getrusage(resource.RUSAGE_CHILDREN)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so it would include the parent's memory.
hwm = [int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
print(json.dumps({"wall": wall, "cpu": u.ru_utime + u.ru_stime + c.ru_utime + c.ru_stime,
                  "rss_mb": hwm / 1024, "seconds": r.seconds, "cpu_seconds": r.cpu_seconds,
                  "warnings": r.warnings}))
"""


def run_child(series: Path, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent / "MedSegModule"),
                                                        os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(series), str(out)], capture_output=True, text=True,
                          env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"run failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def read_medseg(folder: Path):
    from medseg.io import load

    return load(folder)[0]


def read_sitk(folder: Path):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sorted(glob.glob(str(folder / "*.dcm"))))
    return reader.Execute()


def read_naive(folder: Path):
    """What a first script does: dcmread each file, sort by z, pixel_array * slope + intercept, stack."""
    import numpy as np
    import pydicom

    ds = [pydicom.dcmread(p) for p in glob.glob(str(folder / "*.dcm"))]
    ds.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    return np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in ds])


def _cpu() -> float:
    import resource

    u, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime + c.ru_utime + c.ru_stime


def _timed(fn, folder: Path) -> tuple[float, float]:
    """(wall, CPU) seconds; CPU includes worker processes (joined before ``fn`` returns)."""
    t0, c0 = time.perf_counter(), _cpu()
    fn(folder)
    return time.perf_counter() - t0, _cpu() - c0


def _miss(value: float, target: float, unit: str) -> str:
    return "met" if value <= target else f"misses by {value - target:.2f} {unit} ({value / target:.2f}× the target)"


def main() -> list[str]:
    TARGETS.clear()
    if not workload.ABDOMEN.exists():
        return ["| run / DICOM → HU benchmarks | not measured | needs ../shared/data/ct-abdomen-20 |"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="medseg-bench-run-") as tmp:
        tmp = Path(tmp)
        series = {n: workload.write_series(tmp / f"s{n}", n) for n in SIZES}
        runs = {}
        for n in SIZES:  # first, while this process is small: a child's fork starts from its pages
            runs[n] = r = run_child(series[n], tmp / f"out{n}")
            steps = ", ".join(f"{k} {v:.1f}" for k, v in r["seconds"].items())
            rows.append(f"| `run` defaults, 512²×{n} (steps, s: {steps}) | {r['wall']:.1f} s (CPU {r['cpu']:.1f} s) | "
                        f"peak RSS {r['rss_mb']:.0f} MB |")
        best = {"medseg": (float("inf"), 0.0), "sitk": (float("inf"), 0.0), "naive": (float("inf"), 0.0)}
        for _ in range(2):
            for name, fn in (("medseg", read_medseg), ("sitk", read_sitk), ("naive", read_naive)):
                best[name] = min(best[name], _timed(fn, series[300]))
        for name, what in (("medseg", "medseg `load` (worker processes)"), ("sitk", "SimpleITK ImageSeriesReader"),
                           ("naive", "naive pydicom loop (float64)")):
            wall, cpu = best[name]
            rows.append(f"| DICOM → HU, 512²×300 JPEG 2000: {what} | {wall:.2f} s (CPU {cpu:.2f} s) | "
                        f"{300 / wall:.0f} slices/s |")
        ratio = best["medseg"][0] / best["sitk"][0]
        cpu_ratio = best["medseg"][1] / best["sitk"][1]
        TARGETS.append(f"DICOM → HU ≤ 0.8 × SimpleITK: wall {ratio:.2f}×, CPU {cpu_ratio:.2f}× — "
                       + ("met" if ratio <= 0.8 else f"misses by {ratio - 0.8:.2f}×"))
    r = runs[300]
    TARGETS.append(f"`run` 512²×300 ≤ 25 s: {r['wall']:.1f} s — {_miss(r['wall'], 25.0, 's')}")
    TARGETS.append(f"`run` 512²×300 peak RSS ≤ 1.5 GB: {r['rss_mb'] / 1024:.2f} GB — "
                   f"{_miss(r['rss_mb'] / 1024, 1.5, 'GB')}")
    stats, mesh = r["seconds"].get("statistics", 0.0), r["seconds"].get("meshes", 0.0)
    cpu = r.get("cpu_seconds", {})
    TARGETS.append(f"statistics ≤ 1 s: {stats:.2f} s (CPU {cpu.get('statistics', 0.0):.2f} s) — "
                   f"{_miss(stats, 1.0, 's')}")
    TARGETS.append(f"meshes ≤ 5 s (surfaces of the organ labels): {mesh:.2f} s (CPU {cpu.get('meshes', 0.0):.2f} s) "
                   f"— {_miss(mesh, 5.0, 's')}")
    per = {n: (runs[n]["wall"] / n, runs[n]["cpu"] / n, runs[n]["rss_mb"] / n) for n in SIZES}
    rows.append("| `run` per slice at 100 / 300 / 600 slices: wall, CPU (ms), RSS (MB) | "
                + " / ".join(f"{per[n][0] * 1000:.0f}, {per[n][1] * 1000:.0f}" for n in SIZES) + " ms | "
                + " / ".join(f"{per[n][2]:.2f}" for n in SIZES) + " MB |")
    growth_t = runs[600]["cpu"] / runs[300]["cpu"]
    growth_m = runs[600]["rss_mb"] / runs[300]["rss_mb"]
    linear = growth_t <= 2.5 and growth_m <= 2.5
    TARGETS.append(f"linear cost: 300 → 600 slices multiplies CPU time by {growth_t:.2f} and peak RSS by "
                   f"{growth_m:.2f} (linear: 2.0) — " + ("met" if linear else "misses (more than 2.5×)"))
    return rows


if __name__ == "__main__":
    for row in main():
        print(row)
    for line in TARGETS:
        print("-", line)
