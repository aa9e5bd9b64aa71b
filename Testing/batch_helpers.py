"""Helpers of the batch tests: tiny phantom studies in the `patient/dicom` layout, and a
`medseg run` started in the background."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

from medseg.phantom import write_phantom_study

#: Small enough to run in seconds, large enough for every auto-label.
TINY = (8, 48, 48)


def patient_studies(root: Path, n: int = 2, shape=TINY) -> list[Path]:
    """``root/patient-<i>/dicom`` for i in 1..n, each a phantom of its own seed: every study
    folder is called ``dicom``, as exports from a PACS are."""
    return [Path(write_phantom_study(root / f"patient-{i}", seed=i, shape=shape)["dicom"]) for i in range(1, n + 1)]


def start_run(*args) -> subprocess.Popen:
    env = dict(os.environ, MEDSEG_PROGRESS="0")
    return subprocess.Popen([sys.executable, "-m", "medseg", "run", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def wait_for(condition, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    """Poll ``condition()`` until it is true; fails if ``proc`` ends first."""
    end = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the run ended before the moment the test waits for: {proc.communicate()}"
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def batch_rows(out: Path) -> dict[str, dict]:
    with (out / "batch.csv").open(newline="") as f:
        return {r["name"]: r for r in csv.DictReader(f)}


def leftovers(out: Path) -> list[Path]:
    """Anything an interrupted write could leave: partial study folders, replaced ones, temporary files."""
    return [p for p in out.rglob(".*") if ".partial-" in p.name or ".old-" in p.name
            or (p.is_file() and not p.name.endswith(".lock") and p.name.count("-") >= 2)]
