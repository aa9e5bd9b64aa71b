#!/usr/bin/env python3
"""Write ``Testing/slicer_api/<tag>.json``: the API of 3D Slicer that MedSeg's Slicer code uses, read from
Slicer's own source at each supported release tag.

    python scripts/make_slicer_api.py --slicer SLICER_GIT_DIR --ctk CTK_GIT_DIR \\
        [--vtk-headers VTK_GIT_DIR] [--qt5-stubs DIR] [--qt6-stubs DIR] [--tags v5.8.0 v5.10.0 v5.12.0]

``SLICER_GIT_DIR`` is a clone (or bare git directory) of github.com/Slicer/Slicer with the tags;
``CTK_GIT_DIR`` one of github.com/commontk/CTK holding the commits each tag pins. The Qt stubs:
``pip download --no-deps PyQt5-stubs==5.15.6.0 PyQt6==6.8.1`` and unzip each wheel (its ``*.dist-info``
beside the stub folder names the version). Run it with the project's venv (slicer-core's VTK). What is read:

* Python (by AST): every function of ``slicer.util`` with its parameters; the classes of
  ``slicer.ScriptedLoadableModule`` with their members (methods and ``self.x`` attributes); the public
  names of ``slicer.parameterNodeWrapper``, the types its serializers take and the widget classes and
  types of its GUI connectors; the names the ``slicer`` package itself offers.
* C++ headers: for each class MedSeg's Slicer code names (and their bases, and the classes returned by
  the methods it calls), the public methods (VTK's Set/Get/Boolean macros expanded), enum constants,
  Qt properties and signals. Slicer's classes come from the tag; CTK's from the commit the tag pins.
* VTK's own classes: the members of the VTK in this Python (the slicer-core wheel's), kept only where
  the name also occurs in VTK 9.0.1's header of the class or its bases (``--vtk-headers``, the
  github.com/Slicer/VTK clone: older than every VTK these tags pin, so a member that is kept existed
  before all of them and still exists). Without ``--vtk-headers`` the installed members are kept as
  they are, and the JSON says so.
* Qt's classes: from PyQt's stub files (Qt 5.15 from PyQt5-stubs, Qt 6 from the PyQt6 wheel's .pyi),
  for the Qt versions each tag builds with; PythonQt adds ``connect``/``disconnect`` to every QObject.
* Facts: the Python version Slicer builds, the Qt versions it accepts, the Python packages it bundles.

The test ``Testing/static/test_slicer_api.py`` checks every ``slicer.*``/``vtk*``/``qt``/``ctk`` access in
``MedSegModule.py``, ``MedSegWidgets/`` and ``medseg/mrml/`` against these files. Run this script again
whenever that code names a class the files do not have yet (the test says so).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODULE_DIR = REPO / "MedSegModule"
OUT_DIR = REPO / "Testing" / "slicer_api"
TAGS = ("v5.8.0", "v5.10.0", "v5.12.0")

#: The type ``slicer.app`` has in the application, and the scene class of ``slicer.mrmlScene``.
ROOT_CLASSES = ("qSlicerApplication", "vtkMRMLScene")
#: Members PythonQt gives every wrapped QObject (PythonQt's documentation, "Signals and slots").
PYTHONQT_QOBJECT = ("connect", "disconnect", "className", "setProperty", "property", "deleteLater")
CLASS_TOKEN = re.compile(r"\b((?:vtk|qMRML|qSlicer|ctk|Q)[A-Z][A-Za-z0-9_]*)\b")


# --- sources -------------------------------------------------------------------------------------

class Git:
    def __init__(self, path: Path):
        self.path = Path(path)

    def run(self, *args: str) -> str:
        return subprocess.run(["git", "-C", str(self.path), *args], check=True, capture_output=True,
                              text=True, errors="replace").stdout

    def show(self, rev: str, path: str) -> str | None:
        try:
            return self.run("show", f"{rev}:{path}")
        except subprocess.CalledProcessError:
            return None

    def files(self, rev: str) -> list[str]:
        return self.run("ls-tree", "-r", "--name-only", rev).splitlines()

    def commit(self, rev: str) -> str:
        return self.run("rev-parse", f"{rev}^{{commit}}").strip()


def medseg_sources() -> dict[str, str]:
    """MedSeg's Slicer-side sources (what the conformance test reads), by path relative to MedSegModule/."""
    paths = [MODULE_DIR / "MedSegModule.py", *sorted((MODULE_DIR / "MedSegWidgets").glob("*.py")),
             *sorted((MODULE_DIR / "medseg" / "mrml").glob("*.py")),
             *sorted((MODULE_DIR / "Resources" / "UI").glob("*.ui"))]
    return {str(p.relative_to(MODULE_DIR)): p.read_text(encoding="utf-8") for p in paths}


def called_names(sources: dict[str, str]) -> set[str]:
    names = set()
    for path, text in sources.items():
        if path.endswith(".py"):
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.Attribute):
                    names.add(node.attr)
    return names


# --- Python sources, by AST ------------------------------------------------------------------------

def _params(fn: ast.FunctionDef) -> dict:
    a = fn.args
    return {"params": [x.arg for x in [*a.posonlyargs, *a.args]], "kwonly": [x.arg for x in a.kwonlyargs],
            "varargs": a.vararg is not None, "varkw": a.kwarg is not None}


def _class_members(cls: ast.ClassDef) -> dict:
    methods, attrs = set(), set()
    for item in cls.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            methods.add(item.name)
            for node in ast.walk(item):
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self" \
                        and isinstance(node.ctx, ast.Store):
                    attrs.add(node.attr)
        elif isinstance(item, (ast.Assign, ast.AnnAssign)):
            for target in (item.targets if isinstance(item, ast.Assign) else [item.target]):
                if isinstance(target, ast.Name):
                    attrs.add(target.id)
    return {"bases": [ast.unparse(b) for b in cls.bases], "methods": sorted(methods), "attributes": sorted(attrs - methods)}


def python_module(text: str) -> dict:
    """Top-level functions (with parameters), classes (with members) and constants of a module."""
    tree = ast.parse(text)
    out: dict = {"functions": {}, "classes": {}, "names": []}
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out["functions"][node.name] = _params(node)
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            out["classes"][node.name] = _class_members(node)
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
    out["names"] = sorted(names)
    return out


_TYPE_NAMES = {"int", "float", "str", "bool", "list", "tuple", "dict"}


def _types_and_widgets(fn: ast.FunctionDef) -> tuple[list[str], list[str]]:
    types, widgets = set(), set()
    for node in (n for statement in fn.body for n in ast.walk(statement)):  # not the `-> bool` annotation
        if isinstance(node, ast.Name) and node.id in _TYPE_NAMES:
            types.add(node.id)
        elif isinstance(node, ast.Name) and node.id in ("isNodeOrUnionOfNodes", "FloatRange"):
            types.add("vtkMRMLNode" if node.id == "isNodeOrUnionOfNodes" else node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "pathlib":
                types.add(f"pathlib.{node.attr}")
            elif node.value.id == "enum":
                types.add(f"enum.{node.attr}")
            elif node.value.id == "slicer" and node.attr == "vtkMRMLNode":
                types.add("vtkMRMLNode")
            elif node.value.id in ("qt", "ctk", "slicer"):
                widgets.add(node.attr)
    return sorted(types), sorted(widgets)


def parameter_node_wrapper(git: Git, tag: str) -> dict:
    """Public names; each serializer's types; each GUI connector's widget classes and types."""
    folder = "Base/Python/slicer/parameterNodeWrapper"
    names, serializers, connectors = set(), {}, {}
    for path in sorted(p for p in git.files(tag) if p.startswith(folder + "/") and p.endswith(".py")):
        tree = ast.parse(git.show(tag, path))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                names.add(node.name)
            if not isinstance(node, ast.ClassDef):
                continue
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "canSerialize":
                    types, _ = _types_and_widgets(item)
                    if types:
                        serializers[node.name] = types
                elif isinstance(item, ast.FunctionDef) and item.name == "canRepresent":
                    types, widgets = _types_and_widgets(item)
                    connectors[node.name] = {"types": types, "widgets": widgets}
    return {"names": sorted(names), "serializers": serializers, "connectors": connectors}


def slicer_package(git: Git, tag: str) -> list[str]:
    """Names ``import slicer`` offers before the C++ classes: submodules, its own names, app/mrmlScene/modules."""
    folder = "Base/Python/slicer/"
    names = set()
    for path in git.files(tag):
        if path.startswith(folder):
            part = path[len(folder):].split("/")[0]
            if part.endswith(".py") or "/" in path[len(folder):]:
                names.add(part.split(".")[0])
    text = git.show(tag, folder + "__init__.py")
    names |= set(re.findall(r"\.\. py:attribute:: (\w+)", text))
    names |= set(re.findall(r'_createModule\("slicer\.(\w+)"', text))
    names |= set(python_module(text)["names"])
    return sorted(n for n in names if not n.startswith("_"))


# --- C++ headers ---------------------------------------------------------------------------------

_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_MACRO_MEMBERS = [
    (re.compile(r"\bvtkSet(?:Vector\d|Clamp|String|Object|SmartPointer|Enum|StdString|Vector)?Macro\s*\(\s*(\w+)"), ("Set{}",)),
    (re.compile(r"\bvtkGet(?:Vector\d|String|Object|SmartPointer|Enum|StdString|Vector|Const)?Macro\s*\(\s*(\w+)"), ("Get{}",)),
    (re.compile(r"\bvtkBooleanMacro\s*\(\s*(\w+)"), ("{}On", "{}Off")),
    (re.compile(r"\bvtkMRML\w*(?:Set|Get)\w*Macro\s*\(\s*(\w+)"), ("Set{}", "Get{}")),
]
_SKIP_CALLS = {"if", "for", "while", "switch", "return", "sizeof", "defined", "Q_PROPERTY", "Q_ENUMS", "Q_ENUM",
               "Q_FLAGS", "Q_DECLARE_PRIVATE", "Q_DISABLE_COPY", "Q_DECLARE_FLAGS", "operator", "Q_INVOKABLE",
               "QTimer", "Q_OBJECT"}


def _class_body(text: str, name: str) -> tuple[list[str], str] | None:
    """(public base classes, body) of ``class [EXPORT] name : public Base {...}``."""
    m = re.search(r"\bclass\s+(?:\w+\s+)*?" + re.escape(name) + r"\s*(?::([^{;]*))?\{", text)
    if not m:
        return None
    bases = []
    for part in (m.group(1) or "").split(","):
        part = re.sub(r"<.*", "", part).strip()
        words = part.split()
        if words and words[0] in ("public", "virtual") and words[-1] not in ("public", "virtual"):
            bases.append(words[-1].split("::")[-1])
    depth, i = 1, m.end()
    while depth and i < len(text):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return bases, text[m.end():i - 1]


def _public_parts(body: str, qt: bool) -> list[tuple[str, str]]:
    """(section, text at the class's own brace depth) for its public, public-slot and signal sections."""
    flat, depth = [], 0
    for ch in body:
        if ch == "{":
            depth += 1
            flat.append(ch if depth == 1 else "")
            continue
        if ch == "}":
            depth -= 1
            flat.append(ch if depth == 0 else "")
            continue
        flat.append(ch if depth == 0 else "")
    text = "".join(flat)
    # A class's first section is private (struct-like classes are not wrapped here).
    parts = re.split(r"\b(public|protected|private)\s*(?:Q_SLOTS|slots)?\s*:|\b(signals|Q_SIGNALS)\s*:", text)
    out, section = [], "private"
    chunks = [parts[0]]
    labels = ["private"]
    for k in range(1, len(parts), 3):
        label = parts[k] or "signals"
        labels.append(label)
        chunks.append(parts[k + 2] if k + 2 < len(parts) else "")
    for label, chunk in zip(labels, chunks):
        if label in ("public", "signals"):
            out.append((label, chunk))
    return out


def header_class(text: str, name: str) -> dict | None:
    """Public members of ``name`` declared in a header's text (Slicer, CTK)."""
    text = _COMMENTS.sub("", text)
    found = _class_body(text, name)
    if found is None:
        return None
    bases, body = found
    tm = re.search(r"\bvtkTypeMacro\s*\(\s*" + re.escape(name) + r"\s*,\s*(\w+)", body)
    if tm and tm.group(1) not in bases:
        bases = [tm.group(1)]
    methods, signals, enums, properties, returns = set(), set(), set(), set(), {}
    for prop in re.finditer(r"Q_PROPERTY\s*\(\s*[\w:<>]+\s*[*&]?\s*(\w+)", body):
        properties.add(prop.group(1))
    for section, chunk in _public_parts(body, qt=name.startswith(("q", "ctk"))):
        for pattern, forms in _MACRO_MEMBERS:
            for m in pattern.finditer(chunk):
                methods |= {f.format(m.group(1)) for f in forms}
        for m in re.finditer(r"\bvtkGet(?:Object|SmartPointer)Macro\s*\(\s*(\w+)\s*,\s*(\w+)", chunk):
            returns["Get" + m.group(1)] = m.group(2)
        for enum in re.finditer(r"\benum\s*(?:class\s+)?(\w*)\s*(?::\s*\w+\s*)?\{([^}]*)\}", body):
            enums |= {e.split("=")[0].strip() for e in enum.group(2).split(",") if e.split("=")[0].strip()}
            if enum.group(1):
                enums.add(enum.group(1))
        for decl in re.finditer(r"(?:^|[;}{]|\n)\s*((?:[\w:<>,*&\s]+?)\b(\w+)\s*\()", chunk):
            member = decl.group(2)
            if member in _SKIP_CALLS or member == name or member.startswith(("vtk", "Q_")) and member.endswith("Macro"):
                continue
            if re.match(r"vtk\w*Macro$|VTK_\w+|Q_\w+", member):
                continue
            (signals if section == "signals" else methods).add(member)
            ret = re.search(r"\b((?:vtk|qMRML|qSlicer|ctk|Q)[A-Z]\w*)\s*\*\s*$", decl.group(1)[: -len(member) - 1]
                            .rstrip("( ").rstrip())
            if ret and section != "signals":
                returns[member] = ret.group(1)
    return {"bases": bases, "methods": sorted(methods), "signals": sorted(signals), "enums": sorted(enums),
            "properties": sorted(properties), "returns": dict(sorted(returns.items()))}


class HeaderIndex:
    def __init__(self, git: Git, rev: str, label: str):
        self.git, self.rev, self.label = git, rev, label
        self.paths: dict[str, str] = {}
        for path in git.files(rev):
            if path.endswith(".h"):
                base = path.rsplit("/", 1)[-1][:-2]
                # Testing/ and Applications/ copies are not the library's classes.
                if base not in self.paths or "Testing" in self.paths[base]:
                    self.paths[base] = path

    def read(self, name: str) -> dict | None:
        path = self.paths.get(name)
        if path is None:
            return None
        text = self.git.show(self.rev, path)
        info = header_class(text, name) if text else None
        if info is not None:
            info["source"] = f"{self.label}:{path}"
        return info


# --- VTK (installed, filtered by 9.0.1 headers) and Qt (PyQt stubs) --------------------------------

def vtk_class(name: str, old_headers: HeaderIndex | None, calls: set[str]) -> dict | None:
    import vtk

    cls = getattr(vtk, name, None)
    if cls is None:
        return None
    members = {m for m in dir(cls) if not m.startswith("_")}
    bases = [b.__name__ for b in cls.__bases__ if b.__name__.startswith("vtk")]
    returns = {}
    for member in sorted(members & calls):
        # The wrapper's docstring starts with the Python signature: "GetPointData(self) -> vtkPointData".
        m = re.match(r"\w+\(.*?\)\s*->\s*(vtk\w+)", getattr(getattr(cls, member), "__doc__", "") or "")
        if m:
            returns[member] = m.group(1)
    info = {"bases": bases, "methods": sorted(members), "signals": [], "enums": [], "properties": [], "returns": returns,
            "source": f"vtk {vtk.vtkVersion.GetVTKVersion()} (installed)"}
    if old_headers is not None:
        tokens = _old_vtk_tokens(name, old_headers, set())
        if tokens:
            inherited = set()
            for base in cls.__mro__[1:]:
                if base.__name__ in ("vtkObjectBase", "object"):
                    inherited |= set(dir(base))
            info["methods"] = sorted(m for m in members if m in tokens or m in inherited)
            info["source"] += f" and {old_headers.label}"
    return info


def _old_vtk_tokens(name: str, index: HeaderIndex, seen: set) -> set[str]:
    """Identifiers (macros expanded) in the old header of ``name``, its bases and the headers it includes."""
    if name in seen or name not in index.paths:
        return set()
    seen.add(name)
    text = index.git.show(index.rev, index.paths[name]) or ""
    tokens = set(re.findall(r"\b[A-Za-z_]\w*\b", _COMMENTS.sub("", text)))
    for pattern, forms in _MACRO_MEMBERS:
        for m in pattern.finditer(text):
            tokens |= {f.format(m.group(1)) for f in forms}
    found = _class_body(_COMMENTS.sub("", text), name)
    related = set(found[0]) if found else set()
    related |= set(re.findall(r'#include\s+"(vtk\w+)\.h"', text))
    for other in related:
        tokens |= _old_vtk_tokens(other, index, seen)
    return tokens


def _stub_label(stub_dir: Path) -> str:
    """"PyQt6 6.8.1": the name and version of the wheel the stubs come from (its dist-info beside them)."""
    for metadata in sorted(Path(stub_dir).parent.glob("*.dist-info/METADATA")):
        text = metadata.read_text(encoding="utf-8")
        name = re.search(r"^Name: (.+)$", text, re.M).group(1).strip()
        version = re.search(r"^Version: (.+)$", text, re.M).group(1).strip()
        return f"{name} {version}"
    return Path(stub_dir).name


def qt_classes(stub_dir: Path | None) -> dict[str, dict]:
    """Every class of PyQt's QtCore/QtGui/QtWidgets stubs: bases, members, signals (pyqtSignal attributes)."""
    out: dict[str, dict] = {}
    if stub_dir is None:
        return out
    label = _stub_label(stub_dir)
    for module in ("QtCore", "QtGui", "QtWidgets"):
        path = Path(stub_dir) / f"{module}.pyi"
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.ClassDef):
                continue
            members, signals, enums = set(), set(), set()
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    members.add(item.name)
                elif isinstance(item, ast.ClassDef):
                    enums.add(item.name)
                    enums |= {t.id for s in item.body if isinstance(s, ast.Assign) for t in s.targets
                              if isinstance(t, ast.Name)}
                elif isinstance(item, (ast.Assign, ast.AnnAssign)):
                    targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                    value = ast.unparse(item.value if isinstance(item, ast.Assign) else (item.annotation or item.value))
                    for t in targets:
                        if isinstance(t, ast.Name):
                            (signals if "pyqtSignal" in value else members).add(t.id)
            out[node.name] = {"bases": [ast.unparse(b).split(".")[-1] for b in node.bases],
                              "methods": sorted(m for m in members if not m.startswith("__")),
                              "signals": sorted(signals), "enums": sorted(enums), "properties": [], "returns": {},
                              "source": f"{label} {path.name}"}
    return out


# --- facts ---------------------------------------------------------------------------------------

def facts(git: Git, tag: str) -> dict:
    python = re.search(r"_download_([\d.]+)_url", git.show(tag, "SuperBuild/External_python.cmake")).group(1)
    qt = re.findall(r'set\(_required_qt_version "([\d.]+)"\)', git.show(tag, "CMakeLists.txt"))
    bundled = {}
    for path in git.files(tag):
        if path.startswith("SuperBuild/External_python-") and path.endswith(".cmake"):
            for name, version in re.findall(r"^\s+([A-Za-z0-9_.-]+)==([\w.]+)", git.show(tag, path), re.M):
                bundled[name.lower()] = version
    simpleitk = git.show(tag, "SuperBuild/External_SimpleITK.cmake") or ""
    m = re.search(r"slicer-v([\d.]+)", simpleitk)
    if m and "simpleitk" not in bundled:
        bundled["simpleitk"] = m.group(1)
    return {"python": python, "qt": sorted(set(qt)), "bundled": dict(sorted(bundled.items()))}


def ctk_commit(git: Git, tag: str) -> str:
    text = git.show(tag, "SuperBuild/External_CTK.cmake")
    return re.search(r'Slicer_\$\{proj\}_GIT_TAG\s*\n\s*"([0-9a-f]{40})"', text).group(1)


# --- the whole file --------------------------------------------------------------------------------

def build(tag: str, slicer: Git, ctk: Git, vtk_old: HeaderIndex | None, qt: dict[str, dict[str, dict]]) -> dict:
    sources = medseg_sources()
    calls = called_names(sources)
    info = facts(slicer, tag)
    ctk_rev = ctk_commit(slicer, tag)
    slicer_headers = HeaderIndex(slicer, tag, f"Slicer@{tag}")
    ctk_headers = HeaderIndex(ctk, ctk_rev, f"CTK@{ctk_rev[:10]}")
    qt_versions = {"5": qt.get("5", {}), "6": qt.get("6", {})}
    wanted = set(ROOT_CLASSES)
    for text in sources.values():
        wanted |= set(CLASS_TOKEN.findall(text))
    classes: dict[str, dict] = {}
    qt_out: dict[str, dict[str, dict]] = {major: {} for major in info_qt_majors(info["qt"])}
    pending = sorted(wanted)
    while pending:
        name = pending.pop()
        if name in classes or any(name in q for q in qt_out.values()):
            continue
        if name.startswith("Q"):
            found = False
            for major in qt_out:
                cls = qt_versions[major].get(name)
                if cls is not None:
                    qt_out[major][name] = cls
                    pending += [b for b in cls["bases"] if b.startswith("Q")]
                    found = True
            if not found:
                classes[name] = None
            continue
        cls = slicer_headers.read(name) or ctk_headers.read(name)
        if cls is None and name.startswith("vtk"):
            cls = vtk_class(name, vtk_old, calls)
        classes[name] = cls
        if cls is None:
            continue
        pending += cls["bases"]
        pending += [r for m, r in cls["returns"].items() if m in calls]
        if re.match(r"vtkMRML\w+Node$", name) and not name.endswith(("DisplayNode", "StorageNode")):
            # GetDisplayNode()/GetStorageNode() are declared to return the base classes; Python gets these.
            pending += [name[:-4] + "DisplayNode", name[:-4] + "StorageNode"]
    for cls in classes.values():
        if cls and cls["source"].startswith(("CTK", "Slicer")) and cls["bases"] and \
                any(b.startswith("Q") for b in cls["bases"]):
            cls["methods"] = sorted(set(cls["methods"]) | set(PYTHONQT_QOBJECT))
    for per_major in qt_out.values():
        if "QObject" in per_major:
            per_major["QObject"] = dict(per_major["QObject"])
            per_major["QObject"]["methods"] = sorted(set(per_major["QObject"]["methods"]) | set(PYTHONQT_QOBJECT))
    util = python_module(slicer.show(tag, "Base/Python/slicer/util.py"))
    python_modules = {"slicer.util": util,
                      "slicer.ScriptedLoadableModule": python_module(
                          slicer.show(tag, "Base/Python/slicer/ScriptedLoadableModule.py"))}
    packaging = slicer.show(tag, "Base/Python/slicer/packaging.py")
    if packaging:
        python_modules["slicer.packaging"] = python_module(packaging)
    return {
        "tag": tag,
        "sources": {"slicer": slicer.commit(tag), "ctk": ctk_rev,
                    "vtk": f"VTK {_vtk_version()} of this Python" + (" filtered by VTK 9.0.1 headers" if vtk_old else ""),
                    "qt": {m: next(iter(c.values()))["source"].rsplit(" ", 1)[0] if c else None
                           for m, c in qt_out.items()}},
        **info,
        "slicer_package": slicer_package(slicer, tag),
        "python_modules": python_modules,
        "parameterNodeWrapper": parameter_node_wrapper(slicer, tag),
        "classes": dict(sorted((k, v) for k, v in classes.items() if v is not None)),
        "missing_classes": sorted(k for k, v in classes.items() if v is None and not k.endswith(("DisplayNode", "StorageNode"))),
        "qt_classes": {m: dict(sorted(c.items())) for m, c in qt_out.items()},
    }


def _vtk_version() -> str:
    import vtk

    return vtk.vtkVersion.GetVTKVersion()


def info_qt_majors(versions: list[str]) -> list[str]:
    return sorted({v.split(".")[0] for v in versions})


def write(data: dict, path: Path) -> None:
    """One class per line: readable diffs when Slicer changes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["{"]
    items = list(data.items())
    for n, (key, value) in enumerate(items):
        end = "," if n < len(items) - 1 else ""
        if key in ("classes", "python_modules") or key == "qt_classes":
            inner = value if key != "qt_classes" else value
            lines.append(f'  {json.dumps(key)}: {{')
            sub = list(inner.items())
            for k, (name, cls) in enumerate(sub):
                lines.append(f"    {json.dumps(name)}: {json.dumps(cls, sort_keys=True)}" + ("," if k < len(sub) - 1 else ""))
            lines.append("  }" + end)
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, sort_keys=True)}{end}")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slicer", required=True, type=Path, help="git directory of Slicer/Slicer (with tags)")
    parser.add_argument("--ctk", required=True, type=Path, help="git directory of commontk/CTK")
    parser.add_argument("--vtk-headers", type=Path, help="git directory of Slicer/VTK (tag v9.0.1 is read)")
    parser.add_argument("--qt5-stubs", type=Path, help="folder of PyQt5-stubs' .pyi files (Qt 5.15)")
    parser.add_argument("--qt6-stubs", type=Path, help="folder of the PyQt6 wheel's .pyi files (Qt 6)")
    parser.add_argument("--tags", nargs="+", default=list(TAGS))
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    slicer, ctk = Git(args.slicer), Git(args.ctk)
    vtk_old = HeaderIndex(Git(args.vtk_headers), "v9.0.1", "VTK@v9.0.1") if args.vtk_headers else None
    qt = {"5": qt_classes(args.qt5_stubs), "6": qt_classes(args.qt6_stubs)}
    for tag in args.tags:
        data = build(tag, slicer, ctk, vtk_old, qt)
        write(data, args.out / f"{tag}.json")
        print(f"{tag}: {len(data['classes'])} classes, {sum(len(c) for c in data['qt_classes'].values())} Qt classes, "
              f"missing {data['missing_classes']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
