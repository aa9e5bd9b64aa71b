"""Run every benchmark and write benchmarks/RESULTS.md (machine, date, table)."""

from __future__ import annotations

import datetime
import importlib.util
import os
import platform
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    rows = []
    for path in sorted(HERE.glob("bench_*.py")):
        print(f"running {path.name} ...", flush=True)
        rows += load(path.stem).main()
    header = (f"# Benchmark results\n\nMeasured {datetime.date.today()} on {platform.machine()}, "
              f"{os.cpu_count()} CPU cores, Python {platform.python_version()} (`make bench`).\n\n"
              "| what | time | rate |\n|---|---|---|\n")
    text = header + "\n".join(rows) + "\n"
    (HERE / "RESULTS.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
