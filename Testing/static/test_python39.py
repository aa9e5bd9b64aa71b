"""Everything Slicer imports runs on Python 3.9 (Slicer 5.8 runs 3.9.10; 5.10 and 5.12 run 3.12.10).

Checked statically, on every file of MedSegModule.py, MedSegWidgets/ and the medseg package:

* ``vermin --target=3.9-``: no standard-library member, syntax or keyword newer than 3.9;
* runtime ``X | Y`` unions (3.10), which vermin's own detection reports even inside annotations
  that ``from __future__ import annotations`` keeps as text: found here by AST, outside annotations,
  and inside annotations of files without that import (Python evaluates those);
* when a Python 3.9 interpreter is on this machine, it compiles every file (its own parser).
"""

from __future__ import annotations

import ast
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULE_DIR = REPO / "MedSegModule"
FILES = sorted([MODULE_DIR / "MedSegModule.py", *(MODULE_DIR / "MedSegWidgets").rglob("*.py"),
                *(MODULE_DIR / "medseg").rglob("*.py")])
#: Names that are types when they stand beside ``|`` at run time.
TYPE_NAMES = {"int", "float", "str", "bytes", "bool", "complex", "list", "dict", "tuple", "set", "frozenset", "type",
              "object", "None", "Path", "PathLike", "ndarray", "Image", "Callable", "Sequence", "Mapping", "Iterable",
              "Any", "Label", "Progress", "CancelEvent"}


def test_vermin_finds_nothing_newer_than_39():
    vermin = shutil.which("vermin", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    assert vermin, "vermin is not installed (the test extra; make setup installs it)"
    proc = subprocess.run([vermin, "--target=3.9-", "--violations", "--no-tips", "--no-parse-comments",
                           *map(str, FILES)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def _is_type(node) -> bool:
    if isinstance(node, ast.Constant) and node.value is None:
        return True
    if isinstance(node, ast.Name):
        return node.id in TYPE_NAMES
    if isinstance(node, ast.Attribute):
        return node.attr in TYPE_NAMES
    if isinstance(node, ast.Subscript):
        return _is_type(node.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _is_type(node.left) or _is_type(node.right)
    return False


def runtime_unions(source: str) -> list[int]:
    """Lines with an ``X | Y`` of types that Python 3.9 would evaluate."""
    tree = ast.parse(source)
    lazy = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" and any(a.name == "annotations" for a in n.names)
               for n in tree.body)
    annotations = set()
    if lazy:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                    if a is not None and a.annotation is not None:
                        annotations |= {id(n) for n in ast.walk(a.annotation)}
                if node.returns is not None:
                    annotations |= {id(n) for n in ast.walk(node.returns)}
            elif isinstance(node, ast.AnnAssign):
                annotations |= {id(n) for n in ast.walk(node.annotation)}
    return sorted({node.lineno for node in ast.walk(tree)
                   if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) and id(node) not in annotations
                   and (_is_type(node.left) or _is_type(node.right))})


def test_no_runtime_union_types():
    problems = [f"{path.relative_to(MODULE_DIR)}:{line}" for path in FILES
                for line in runtime_unions(path.read_text(encoding="utf-8"))]
    assert not problems, "X | Y evaluated at run time needs Python 3.10 (use typing.Union/Optional):\n" + "\n".join(problems)


def test_the_union_check_sees_what_39_would_fail_on():
    assert runtime_unions("import os\nPathLike = str | os.PathLike\n") == [2]
    assert runtime_unions("def f(x: int | None): pass\n") == [1]  # evaluated: no __future__ import
    assert runtime_unions("from __future__ import annotations\ndef f(x: int | None) -> str | None: pass\n") == []
    assert runtime_unions("flags = 1 | 2\n") == []


def _python39() -> str | None:
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for candidate in [shutil.which("python3.9"), *sorted(glob.glob(str(root / "versions" / "3.9*" / "bin" / "python3.9")))]:
        if candidate and subprocess.run([candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 9)"],
                                        capture_output=True).returncode == 0:
            return candidate
    return None


def test_python39_compiles_every_file():
    python = _python39()
    if python is None:
        pytest.skip("no Python 3.9 interpreter on this machine (vermin and the union check above still ran)")
    script = ("import sys\nbad = []\nfor p in sys.argv[1:]:\n    try:\n        compile(open(p, encoding='utf-8').read(), p, 'exec')\n"
              "    except SyntaxError as e:\n        bad.append(f'{p}:{e.lineno}: {e.msg}')\nprint('\\n'.join(bad))\nsys.exit(1 if bad else 0)\n")
    proc = subprocess.run([python, "-c", script, *map(str, FILES)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
