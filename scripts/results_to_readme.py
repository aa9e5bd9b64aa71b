"""Copy benchmarks/RESULTS.md (date, machine, load, table, targets) into README.md between the bench markers.

Run after `make bench`: ``python scripts/results_to_readme.py``. The README's text between
``<!-- bench:start -->`` and ``<!-- bench:end -->`` is replaced; nothing else is touched.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def section(results: str) -> str:
    body = results.split("\n", 1)[1].strip()  # drop the "# Benchmark results" title
    body = body.replace("## Targets", "Targets:")
    return f"{START}\nFrom `benchmarks/RESULTS.md`:\n\n{body}\n{END}"


def main() -> int:
    readme = REPO / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        print(f"README.md has no {START} ... {END} markers", file=sys.stderr)
        return 1
    results = (REPO / "benchmarks" / "RESULTS.md").read_text()
    new = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: section(results), text, flags=re.S)
    readme.write_text(new)
    print("README.md: benchmark table updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
