"""SimpleITK's GetArrayViewFromImage returns a view that does not keep its image alive.

A view of an image that is then freed reads freed memory: garbage values or a crash. Two patterns
lead there, and both are kept out of the code base:

- a view of a temporary: ``GetArrayViewFromImage(sitk.ReadImage(...))``;
- a view of a variable that is then given another image while the view is still used:
  ``arr = GetArrayViewFromImage(image)`` ... ``image = sitk.Cast(image, ...)`` ... ``arr.min()``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# A call directly inside the argument: GetArrayViewFromImage(f(...)) or (sitk.X(...)).
PATTERN = re.compile(r"GetArrayViewFromImage\(\s*[\w.]+\(")
FOLDERS = ("MedSegModule", "Testing", "scripts", "benchmarks")


def _sources():
    for folder in FOLDERS:
        for path in (REPO / folder).rglob("*.py"):
            if path.name != Path(__file__).name:
                yield path


def _is_view_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "GetArrayViewFromImage")


def _names(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def dangling_views(source: str) -> list[tuple[int, str]]:
    """(line, text) of views whose image variable is reassigned while the view is used afterwards."""
    found = []
    for func in [n for n in ast.walk(ast.parse(source)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
        views: list[tuple[int, str, str]] = []  # (line, view name, image name)
        stores: list[tuple[int, str]] = []      # (line, name) of every assignment
        loads: list[tuple[int, str]] = []       # (line, name) of every use
        for node in ast.walk(func):
            if isinstance(node, ast.Assign) and _is_view_call(node.value) and node.value.args \
                    and isinstance(node.value.args[0], ast.Name):
                for target in node.targets:
                    for view in _names(target):
                        views.append((node.lineno, view, node.value.args[0].id))
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For, ast.With)):
                targets = (node.targets if isinstance(node, ast.Assign) else
                           [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For)) else
                           [i.optional_vars for i in node.items if i.optional_vars is not None])
                for target in targets:
                    stores += [(node.lineno, n) for n in _names(target)]
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                loads.append((node.lineno, node.id))
        for line, view, image in views:
            rebinds = [ln for ln, name in stores if name == image and ln > line]
            view_rebound = [ln for ln, name in stores if name == view and ln > line]
            for again in rebinds:
                end = min([ln for ln in view_rebound if ln > again] or [10 ** 9])
                if any(name == view and again < ln <= end for ln, name in loads):
                    found.append((line, f"view {view} of {image}, which is rebound at line {again}"))
                    break
    return found


def test_no_array_view_of_a_temporary_image():
    offenders = []
    for path in _sources():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if PATTERN.search(line.split("#")[0]):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "use GetArrayFromImage (a copy) for temporaries:\n" + "\n".join(offenders)


def test_no_view_outlives_its_image_variable():
    offenders = [f"{path.relative_to(REPO)}:{line}: {what}" for path in _sources()
                 for line, what in dangling_views(path.read_text(encoding="utf-8"))]
    assert not offenders, "the image behind a view is replaced while the view is used:\n" + "\n".join(offenders)


def test_the_check_finds_the_pattern():
    bad = ("def f(path):\n"
           "    image = sitk.ReadImage(path)\n"
           "    arr = sitk.GetArrayViewFromImage(image)\n"
           "    image = sitk.Cast(image, sitk.sitkUInt16)\n"
           "    return arr.min()\n")
    good = bad.replace("GetArrayViewFromImage", "GetArrayFromImage")
    rebound_view = bad.replace("    return arr.min()\n", "    arr = sitk.GetArrayViewFromImage(image)\n    return arr.min()\n")
    assert dangling_views(bad) == [(3, "view arr of image, which is rebound at line 4")]
    assert dangling_views(good) == [] and dangling_views(rebound_view) == []
