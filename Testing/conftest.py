"""Shared fixtures: the real CTs in ../shared/data, a phantom study, and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


def shared(*parts: str) -> Path:
    """A path under ../shared/data; the test skips, saying why, when it is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real CT data not found at {path} (CI has ../shared/data beside the checkout)")
    return path


def liver_dome_reference(hu: np.ndarray) -> np.ndarray:
    """The top of the liver's dome in ct-pelvis-chest-134 (HU, z, y, x on its LPS grid): in a box read
    off the figure (slices 110-113, rows 220-260, columns 160-210, the right base), the tissue islands
    of each slice (denser than -400 HU, enclosed by air in that slice, over 300 voxels)."""
    import numpy as np
    from scipy import ndimage

    dome = np.zeros(hu.shape, dtype=bool)
    box = np.zeros(hu.shape[1:], dtype=bool)
    box[220:261, 160:211] = True
    for z in range(110, 114):
        tissue = hu[z] > -400
        lab, _ = ndimage.label(ndimage.binary_fill_holes(~tissue) & tissue)
        big = np.flatnonzero(np.bincount(lab.ravel()) > 300)
        dome[z] = np.isin(lab, big[big > 0]) & box
    return dome


@pytest.fixture(scope="session")
def abdomen_dicom() -> Path:
    return shared("ct-abdomen-20", "dicom")


@pytest.fixture(scope="session")
def abdomen_reference() -> Path:
    return shared("ct-abdomen-20", "reference-labels.nrrd")


@pytest.fixture(scope="session")
def chest_dicom() -> Path:
    return shared("ct-chest-2", "dicom")


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str | os.PathLike, cwd: Path | None = None) -> CliResult:
    """Run `medseg ARGS` in a subprocess (the installed entry point's module), as a user would."""
    env = dict(os.environ, MEDSEG_PROGRESS="0")
    proc = subprocess.run([sys.executable, "-m", "medseg", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=600)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli():
    return run_cli
