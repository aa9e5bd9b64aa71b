"""medseg is pure: nothing outside medseg.mrml imports slicer, Qt, CTK or VTK (DESIGN.md)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import medseg

BLOCKED = ("slicer", "slicer_core", "qt", "ctk", "vtk", "vtkmodules", "PythonQt")
MODULE_ROOT = Path(__file__).resolve().parents[2] / "MedSegModule"

# Runs in a fresh interpreter: a meta-path finder refuses the blocked packages, then every
# medseg module found by walking the package (medseg.mrml excepted) is imported.
_SCRIPT = r"""
import importlib, json, pkgutil, sys, traceback

BLOCKED = set(json.loads(sys.argv[1]))

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: medseg must not import it")
        return None

sys.meta_path.insert(0, Blocker())
import medseg

def skip(name):
    # medseg.__main__ runs the command line when imported.
    return name == "medseg.mrml" or name.startswith("medseg.mrml.") or name == "medseg.__main__"

imported, failed = [], {}
def onerror(name):
    if not skip(name):
        failed[name] = traceback.format_exc(limit=3)

pending = [("medseg.", medseg.__path__)]
while pending:  # pkgutil.walk_packages, but never descending into medseg.mrml
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
    assert {"medseg.errors", "medseg.labels", "medseg.io.segnrrd"} <= set(report["imported"])
    assert not any(name.startswith("medseg.mrml") for name in report["imported"])


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
    assert Path(medseg.__file__).resolve().is_relative_to(MODULE_ROOT)
