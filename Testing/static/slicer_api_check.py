"""Walk MedSeg's Slicer-side Python by AST and check each use of Slicer's API against ``Testing/slicer_api/``.

``check(source, api)`` returns one line per access the release ``api`` (one JSON file written by
``scripts/make_slicer_api.py``) does not have. What is checked:

* ``slicer.util.f(...)``: ``f`` exists, and every keyword argument is one of its parameters;
* ``slicer.X``, ``slicer.vtkX.Y``, ``vtk.vtkX.Y``, ``qt.QX.Y``, ``ctk.ctkX``: the class and the member exist;
* members of expressions whose class is known: made by ``vtkX()``/``qt.QX()``, ``AddNewNodeByClass("vtkX")``,
  ``slicer.mrmlScene``/``slicer.app``, a ``self.ui.<widget>`` of the .ui file, or returned by a method
  whose C++ declaration names the returned class. A member found only on a subclass counts (VTK
  hands Python the most derived class);
* other ``x.CamelCase(...)`` calls (VTK/MRML style; SimpleITK's ``Image`` methods aside): the name is a
  member of some class of the release;
* Qt signals named in ``connect("signal(...)", ...)``; members that the module's ScriptedLoadable*
  subclasses take from their bases; the parameter node's field types and the .ui widgets bound to them.

An access is *guarded* (not checked) inside ``if hasattr(x, "Name")`` (its body, or the ``and`` operands
after it), inside ``try: ... except AttributeError``, or as ``getattr(x, "Name", default)``.
"""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

MODULE_ROOTS = {"slicer", "vtk", "qt", "ctk"}
CAMEL = re.compile(r"^[A-Z][A-Za-z0-9]*$")


@dataclass
class Api:
    """One release's JSON, with member look-ups through base classes."""

    data: dict
    classes: dict = field(init=False)

    def __post_init__(self):
        self.classes = dict(self.data["classes"])
        self.qt = self.data["qt_classes"]
        self.tag = self.data["tag"]
        self._subclasses: dict[str, set[str]] = {}
        for name, cls in self.classes.items():
            for base in cls["bases"]:
                self._subclasses.setdefault(base, set()).add(name)
        self.all_members = set()
        for cls in self.classes.values():
            self.all_members |= set(cls["methods"]) | set(cls["enums"])

    def has_class(self, name: str) -> bool:
        """A class of this release (a Qt class: in every Qt major the release builds with)."""
        if name.startswith("Q"):
            return bool(self.qt) and all(name in per for per in self.qt.values())
        return name in self.classes

    def _records(self, name: str) -> list[list[dict]]:
        """For each Qt major (or once for non-Qt classes): the class and its bases' records."""
        tables = list(self.qt.values()) if name.startswith("Q") else [self.classes]
        out = []
        for table in tables:
            chain, todo, seen = [], [name], set()
            while todo:
                n = todo.pop()
                if n in seen:
                    continue
                seen.add(n)
                rec = table.get(n) or self.classes.get(n) or next((q[n] for q in self.qt.values() if n in q), None)
                if rec is None:
                    continue
                chain.append(rec)
                todo += rec["bases"]
            out.append(chain)
        return out

    def has_member(self, cls: str, member: str, kinds=("methods", "enums", "signals", "properties")) -> bool:
        """``member`` on ``cls`` or its bases in every Qt major it is built with (or on a subclass)."""
        ok = all(any(member in rec[k] for rec in chain for k in kinds) for chain in self._records(cls))
        if ok:
            return True
        return any(self.has_member(sub, member, kinds) for sub in self._subclasses.get(cls, ()))

    def has_property(self, cls: str, prop: str) -> bool:
        """A Qt property read or written as an attribute (PythonQt): a Q_PROPERTY, or Qt's getter."""
        getters = (prop, "is" + prop[:1].upper() + prop[1:], "has" + prop[:1].upper() + prop[1:])
        return any(self.has_member(cls, g) for g in getters)

    def returns(self, cls: str, method: str) -> str | None:
        for chain in self._records(cls):
            for rec in chain:
                if method in rec.get("returns", {}):
                    return rec["returns"][method]
        return None


def ui_widget_classes(ui_file: Path) -> dict[str, str]:
    return {w.get("name"): w.get("class") for w in ET.parse(ui_file).getroot().iter("widget")}


def _dotted(node) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _str_arg(call: ast.Call, k: int = 0) -> str | None:
    if len(call.args) > k and isinstance(call.args[k], ast.Constant) and isinstance(call.args[k].value, str):
        return call.args[k].value
    return None


def _hasattr_names(test) -> set[str]:
    out = set()
    for node in ast.walk(test):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "hasattr":
            name = _str_arg(node, 1)
            if name:
                out.add(name)
    return out


def _catches(handler: ast.ExceptHandler, name: str) -> bool:
    t = handler.type
    names = [t] if t is not None and not isinstance(t, ast.Tuple) else (t.elts if t is not None else [])
    return any(isinstance(n, ast.Name) and n.id == name for n in names)


class Checker(ast.NodeVisitor):
    def __init__(self, api: Api, path: str, ui: dict[str, str], skip_untyped: set[str]):
        self.api, self.path, self.ui, self.skip_untyped = api, path, ui, skip_untyped
        self.problems: list[str] = []
        self.aliases: dict[str, str] = {}  # local name -> "slicer.util.x", "qt", ...
        self.guarded: list[set[str]] = []  # attribute names guarded by enclosing hasattr/try
        self.types: list[dict[str, str | None]] = [{}]
        self.self_types: dict[str, str | None] = {}
        self.local_names: set[str] = set()  # methods and functions MedSeg defines itself
        self.foreign: set[str] = set()  # other modules' names (sitk, threading, ...): not Slicer's API

    # --- bookkeeping -------------------------------------------------------------------------

    def problem(self, node, text: str) -> None:
        line = f"{self.path}:{getattr(node, 'lineno', '?')}: {text} (Slicer {self.api.tag})"
        if line not in self.problems:
            self.problems.append(line)

    def is_guarded(self, name: str) -> bool:
        return any(name in g or "*" in g for g in self.guarded)

    def visit_Import(self, node):
        for a in node.names:
            root = a.name.split(".")[0]
            if root in MODULE_ROOTS:
                self.aliases[a.asname or root] = a.name if a.asname else root
            else:
                self.foreign.add(a.asname or root)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        if module.split(".")[0] not in MODULE_ROOTS:
            self.foreign |= {a.asname or a.name for a in node.names}
            return
        for a in node.names:
            qualified = f"{module}.{a.name}"
            self.aliases[a.asname or a.name] = qualified
            if not self.is_guarded(a.name) and not self._import_ok(module, a.name):
                self.problem(node, f"`from {module} import {a.name}`: not in Slicer's {module}")

    def _import_ok(self, module: str, name: str) -> bool:
        mods = self.api.data["python_modules"]
        if module in mods:
            m = mods[module]
            return name in m["functions"] or name in m["classes"] or name in m["names"]
        if module == "slicer.parameterNodeWrapper":
            return name in self.api.data["parameterNodeWrapper"]["names"]
        if module == "slicer":
            return name in self.api.data["slicer_package"] or name in self.api.classes
        if module.startswith("vtk"):
            return True  # vtk.util.numpy_support and the like: VTK's own Python helpers
        return False

    def visit_If(self, node):
        self.visit(node.test)
        self.guarded.append(_hasattr_names(node.test))
        for s in node.body:
            self.visit(s)
        self.guarded.pop()
        for s in node.orelse:
            self.visit(s)

    def visit_IfExp(self, node):
        self.visit(node.test)
        self.guarded.append(_hasattr_names(node.test))
        self.visit(node.body)
        self.guarded.pop()
        self.visit(node.orelse)

    def visit_BoolOp(self, node):
        guard: set[str] = set()
        self.guarded.append(guard)
        for value in node.values:
            self.visit(value)
            if isinstance(node.op, ast.And):
                guard |= _hasattr_names(value)
        self.guarded.pop()

    def visit_Try(self, node):
        names = set()
        if any(_catches(h, "AttributeError") for h in node.handlers):
            names.add("*")
        if any(_catches(h, "ImportError") or _catches(h, "ModuleNotFoundError") for h in node.handlers):
            names |= {a for a in self._imported_names(node.body)}
        self.guarded.append(names)
        for s in node.body:
            self.visit(s)
        self.guarded.pop()
        for part in (*node.handlers, *node.orelse, *node.finalbody):
            self.visit(part)

    @staticmethod
    def _imported_names(body) -> set[str]:
        return {a.name for s in body for n in ast.walk(s) if isinstance(n, ast.ImportFrom) for a in n.names}

    def visit_ClassDef(self, node):
        # Class-wide `self.x = <typed>` assignments, so that methods see them.
        saved = dict(self.self_types)
        for n in ast.walk(node):
            if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Attribute) \
                    and isinstance(n.targets[0].value, ast.Name) and n.targets[0].value.id == "self":
                t = self.type_of(n.value)
                name = n.targets[0].attr
                self.self_types[name] = t if self.self_types.get(name, t) == t else None
        self.check_scripted_bases(node)
        self.generic_visit(node)
        self.self_types = saved

    def visit_FunctionDef(self, node):
        self.types.append({})
        for n in ast.walk(node):
            if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name):
                t = self.type_of(n.value)
                name = n.targets[0].id
                scope = self.types[-1]
                scope[name] = t if scope.get(name, t) == t else None
        self.generic_visit(node)
        self.types.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    # --- types --------------------------------------------------------------------------------

    def qualified(self, node) -> str | None:
        """The dotted name through the module aliases ("slicer.util.loadUI"), or None."""
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        if head in self.aliases:
            return self.aliases[head] + ("." + rest if rest else "")
        return None

    def type_of(self, node) -> str | None:
        if isinstance(node, ast.Name):
            for scope in reversed(self.types):
                if node.id in scope:
                    return scope[node.id]
            q = self.aliases.get(node.id)
            return None if q is None else {"slicer.mrmlScene": "vtkMRMLScene", "slicer.app": "qSlicerApplication"}.get(q)
        if isinstance(node, ast.Attribute):
            q = self.qualified(node)
            if q in ("slicer.mrmlScene",):
                return "vtkMRMLScene"
            if q in ("slicer.app",):
                return "qSlicerApplication"
            if isinstance(node.value, ast.Name) and node.value.id == "self":
                return self.self_types.get(node.attr)
            if isinstance(node.value, ast.Attribute) and _dotted(node.value) == "self.ui":
                return self.ui.get(node.attr)
            return None
        if isinstance(node, ast.Call):
            q = self.qualified(node.func)
            if q:
                last = q.split(".")[-1]
                if CAMEL.match(last[:1].upper() + last[1:]) and last.startswith(("vtk", "Q", "ctk", "qMRML", "qSlicer")) \
                        and self.api.has_class(last):
                    return last
            if isinstance(node.func, ast.Attribute):
                if node.func.attr == "AddNewNodeByClass":
                    return _str_arg(node)
                owner = self.type_of(node.func.value)
                if owner:
                    return self.api.returns(owner, node.func.attr)
        return None

    # --- the checks ------------------------------------------------------------------------------

    def visit_Call(self, node):
        q = self.qualified(node.func)
        if q and q.startswith("slicer.util.") and q.count(".") == 2:
            self.check_util_call(node, q.split(".")[-1])
        if isinstance(node.func, ast.Attribute) and node.func.attr == "connect":
            signal = _str_arg(node)
            owner = self.type_of(node.func.value)
            if signal and owner and not self.is_guarded("connect"):
                name = signal.split("(")[0]
                if not self.api.has_member(owner, name, ("signals",)):
                    self.problem(node, f"{owner} has no signal {signal!r}")
        if isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) >= 2:
            self.guarded.append({_str_arg(node, 1) or ""})
            self.generic_visit(node)
            self.guarded.pop()
            return
        self.generic_visit(node)

    def check_util_call(self, node, name: str) -> None:
        util = self.api.data["python_modules"]["slicer.util"]
        if self.is_guarded(name):
            return
        fn = util["functions"].get(name)
        if fn is None:
            if name not in util["classes"] and name not in util["names"]:
                self.problem(node, f"slicer.util.{name} does not exist")
            return
        for kw in node.keywords:
            if kw.arg and kw.arg not in fn["params"] + fn["kwonly"] and not fn["varkw"]:
                self.problem(node, f"slicer.util.{name}() has no parameter {kw.arg!r}")

    def visit_Attribute(self, node):
        self.generic_visit(node)
        name = node.attr
        if self.is_guarded(name):
            return
        q = self.qualified(node)
        if q is not None:
            self.check_module_attribute(node, q)
            return
        owner = self.type_of(node.value)
        if owner:
            if not (self.api.has_member(owner, name) or self.api.has_property(owner, name)):
                self.problem(node, f"{owner} has no member {name!r}")
            return
        parent = getattr(node, "_parent", None)
        root = _dotted(node)
        if root is not None and root.split(".")[0] in self.foreign:
            return
        if isinstance(parent, ast.Call) and parent.func is node and CAMEL.match(name) \
                and name not in self.skip_untyped and name not in self.local_names:
            if name not in self.api.all_members:
                self.problem(node, f".{name}() is a member of no class MedSeg uses")

    def check_module_attribute(self, node, q: str) -> None:
        parts = q.split(".")
        root = parts[0]
        if len(parts) == 1:
            return
        if root == "slicer":
            if parts[1] == "util":
                if len(parts) == 3:
                    util = self.api.data["python_modules"]["slicer.util"]
                    if parts[2] not in util["functions"] and parts[2] not in util["classes"] and parts[2] not in util["names"]:
                        self.problem(node, f"slicer.util.{parts[2]} does not exist")
                return
            if parts[1] in ("mrmlScene", "app") and len(parts) == 3:
                owner = "vtkMRMLScene" if parts[1] == "mrmlScene" else "qSlicerApplication"
                if not (self.api.has_member(owner, parts[2]) or self.api.has_property(owner, parts[2])):
                    self.problem(node, f"slicer.{parts[1]} ({owner}) has no member {parts[2]!r}")
                return
            if len(parts) == 2:
                if parts[1] not in self.api.data["slicer_package"] and parts[1] not in self.api.classes:
                    self.problem(node, f"slicer.{parts[1]} does not exist")
                return
            if len(parts) == 3 and parts[1] in self.api.classes:
                if not self.api.has_member(parts[1], parts[2]):
                    self.problem(node, f"slicer.{parts[1]} has no member {parts[2]!r}")
            return
        if root in ("vtk", "qt", "ctk") and len(parts) >= 2:
            cls = parts[1]
            if root == "vtk" and not cls.startswith("vtk"):
                return  # vtk.util, vtk.reference: VTK's Python helpers
            if not self.api.has_class(cls):
                self.problem(node, f"{root}.{cls} does not exist")
            elif len(parts) == 3 and not self.api.has_member(cls, parts[2]):
                self.problem(node, f"{root}.{cls} has no member {parts[2]!r}")

    def check_scripted_bases(self, node: ast.ClassDef) -> None:
        sl = self.api.data["python_modules"]["slicer.ScriptedLoadableModule"]["classes"]
        util = self.api.data["python_modules"]["slicer.util"]["classes"]
        bases = []
        for b in node.bases:
            q = self.qualified(b) or ""
            last = q.split(".")[-1]
            if last in sl:
                bases.append(sl[last])
            elif last in util:
                bases.append(util[last])
        if not bases:
            return
        own = {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        for n in ast.walk(node):
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self" \
                    and isinstance(n.ctx, ast.Store):
                own.add(n.attr)
        members = set().union(*(set(b["methods"]) | set(b["attributes"]) for b in bases))
        for base in bases:  # their own bases: each other, or the standard library's TestCase
            for bb in base["bases"]:
                if bb in sl:
                    members |= set(sl[bb]["methods"]) | set(sl[bb]["attributes"])
                elif bb == "unittest.TestCase":
                    import unittest

                    members |= set(dir(unittest.TestCase))
        for n in ast.walk(node):
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self" \
                    and isinstance(n.ctx, ast.Load) and n.attr not in own and n.attr not in members:
                self.problem(n, f"{node.name}: self.{n.attr} is neither defined here nor in its Slicer base classes")


def _link_parents(tree) -> None:
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            child._parent = parent


def check(source: str, api: Api, path: str = "<source>", ui: dict[str, str] | None = None,
          skip_untyped: set[str] | None = None) -> list[str]:
    """Problems of one Python source against one release (see the module docstring)."""
    tree = ast.parse(source)
    _link_parents(tree)
    checker = Checker(api, path, ui or {}, skip_untyped or set())
    checker.local_names = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    checker.visit(tree)
    return checker.problems


def parameter_node_problems(source: str, api: Api, ui_file: Path) -> list[str]:
    """Field types the parameter node wrapper cannot serialize, and .ui widgets no GUI connector binds."""
    pnw = api.data["parameterNodeWrapper"]
    serializable = set().union(*pnw["serializers"].values())
    tree = ast.parse(source)
    fields: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any("parameterNodeWrapper" in ast.unparse(d) for d in node.decorator_list):
            for s in node.body:
                if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name):
                    ann = s.annotation
                    if isinstance(ann, ast.Subscript) and ast.unparse(ann.value).endswith("Annotated"):
                        ann = ann.slice.elts[0] if isinstance(ann.slice, ast.Tuple) else ann.slice
                    fields[s.target.id] = ast.unparse(ann)
    problems = []

    def kind(t: str) -> str:
        if t.startswith("vtkMRML") and api.has_class(t):
            return "vtkMRMLNode"
        return t

    for name, t in fields.items():
        if kind(t) not in serializable:
            problems.append(f"parameter {name}: {t} is not serializable by slicer.parameterNodeWrapper (Slicer {api.tag})")
    for widget in ET.parse(ui_file).getroot().iter("widget"):
        bound = [p.findtext("string") for p in widget.findall("property") if p.get("name") == "SlicerParameterName"]
        if not bound or bound[0] not in fields:
            continue
        t = kind(fields[bound[0]])
        if not any(widget.get("class") in c["widgets"] and t in c["types"] for c in pnw["connectors"].values()):
            problems.append(f"{widget.get('name')} ({widget.get('class')}) cannot show {bound[0]}: {t} "
                            f"(no GUI connector in Slicer {api.tag})")
    return problems
