"""MedSegLib is pure: nothing outside MedSegLib.mrml imports slicer, Qt, CTK or VTK (DESIGN.md)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import MedSegLib

BLOCKED = ("slicer", "slicer_core", "qt", "ctk", "vtk", "vtkmodules", "PythonQt")
MODULE_ROOT = Path(__file__).resolve().parents[1] / "MedSegModule"

# Runs in a fresh interpreter: a meta-path finder refuses the blocked packages, then every
# MedSegLib module found by walking the package (MedSegLib.mrml excepted) is imported.
_SCRIPT = r"""
import importlib, json, pkgutil, sys, traceback

BLOCKED = set(json.loads(sys.argv[1]))

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: MedSegLib must not import it")
        return None

sys.meta_path.insert(0, Blocker())
import MedSegLib

def skip(name):
    return name == "MedSegLib.mrml" or name.startswith("MedSegLib.mrml.")

imported, failed = [], {}
def onerror(name):
    if not skip(name):
        failed[name] = traceback.format_exc(limit=3)

pending = [("MedSegLib.", MedSegLib.__path__)]
while pending:  # pkgutil.walk_packages, but never descending into MedSegLib.mrml
    prefix, path = pending.pop()
    for info in pkgutil.iter_modules(path, prefix):
        if skip(info.name):
            continue
        try:
            module = importlib.import_module(info.name)
        except BaseException:
            onerror(info.name)
            continue
        imported.append(info.name)
        if info.ispkg:
            pending.append((info.name + ".", module.__path__))

leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print(json.dumps({"imported": sorted(imported), "failed": failed, "leaked": leaked}))
"""


def test_medseglib_imports_without_slicer_qt_or_vtk():
    result = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(BLOCKED)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert not report["failed"], "\n".join(f"{k}:\n{v}" for k, v in report["failed"].items())
    assert not report["leaked"], report["leaked"]
    assert {"MedSegLib.errors", "MedSegLib.labels", "MedSegLib.io.segnrrd"} <= set(report["imported"])
    assert not any(name.startswith("MedSegLib.mrml") for name in report["imported"])


_FORBIDDEN = [
    (re.compile(r"^\s*(import\s+imp\b|from\s+imp\s+import\b)", re.M), "the removed `imp` module"),
    (re.compile(r"\bpkg_resources\b"), "pkg_resources (use importlib.resources / importlib.metadata)"),
]


def test_no_deprecated_imports():
    files = sorted(MODULE_ROOT.rglob("*.py"))
    assert any(f.name == "segnrrd.py" for f in files)
    problems = [f"{path.relative_to(MODULE_ROOT)}: {why}" for path in files
                for pattern, why in _FORBIDDEN if pattern.search(path.read_text(encoding="utf-8"))]
    assert not problems, problems


def test_package_location():
    assert Path(MedSegLib.__file__).resolve().is_relative_to(MODULE_ROOT)
