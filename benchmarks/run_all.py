"""Run every benchmark and write benchmarks/RESULTS.md (machine, date, load, table, targets).

The load average is recorded before and after: above 1 when the run starts means other work shared
its cores during the run, and RESULTS.md says so (wall times then overstate; CPU times less so).
``python benchmarks/run_all.py bench_run bench_io`` runs only those modules.
"""

from __future__ import annotations

import datetime
import importlib.util
import os
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_average() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except (OSError, AttributeError):
        return (float("nan"),) * 3


def main(only: list[str] | None = None) -> None:
    rows, targets = [], []
    before = _load_average()
    started = datetime.datetime.now(datetime.timezone.utc)
    for path in sorted(HERE.glob("bench_*.py")):
        if only and path.stem not in only:
            continue
        print(f"running {path.name} ...", flush=True)
        module = load(path.stem)
        rows += module.main()
        targets += getattr(module, "TARGETS", [])
    after = _load_average()
    # The load before the run is other work's; after it, it includes the benchmarks' own processes.
    shared = before[0] > 1.0
    try:
        import torch
        torch_note = f", torch {torch.__version__}"
    except ImportError:
        torch_note = ""
    header = (f"# Benchmark results\n\nMeasured {started:%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
              f"{os.cpu_count()} CPU cores, Python {platform.python_version()}{torch_note} (`make bench`).\n"
              f"Load average (1, 5, 15 min) before: {before[0]:.2f}, {before[1]:.2f}, {before[2]:.2f}; "
              f"after: {after[0]:.2f}, {after[1]:.2f}, {after[2]:.2f}."
              + (" **The machine was shared with other work during this run** (load average above 1 when it started): wall "
                 "times are longer than on a quiet machine; CPU times are given where they help." if shared else "")
              + "\n\n| what | time | rate |\n|---|---|---|\n")
    text = header + "\n".join(rows) + "\n"
    if targets:
        text += "\n## Targets\n\n" + "\n".join(f"- {t}" for t in targets) + "\n"
    (HERE / "RESULTS.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:] or None)
