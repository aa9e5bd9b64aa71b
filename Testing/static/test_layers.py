"""Data flows one way: no module imports from a stage above its own, and no import cycle.

Every ``import`` in ``medseg`` (at the top of a module or inside a function, where the optional
ones live) is read from the source with ``ast``, so a lazy import cannot hide an upward arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "MedSegModule" / "medseg"

#: Stage of each top-level part of medseg; an import may go to the same stage or a lower one.
STAGES = {
    "__init__": 0, "errors": 0, "labels": 0, "limits": 0, "progress": 0,
    "io": 1, "phantom": 2, "preprocess": 2,
    "autolabel": 3, "unet": 4, "classify": 4,
    "measure": 5, "report": 6, "pipeline": 7,
    "cli": 8, "mrml": 8, "__main__": 9,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The medseg modules ``path`` imports (absolute names; ``from x import y`` counts y when it is a module)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "medseg":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if _exists(sub) else target)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "medseg"}
    return found


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def _stage(module: str) -> tuple[str, int]:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    return top, STAGES[top]


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def test_every_part_has_a_stage():
    tops = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
            if (p.suffix == ".py" or (p / "__init__.py").is_file())}
    assert tops <= set(STAGES), f"give these a stage in STAGES: {sorted(tops - set(STAGES))}"


def test_no_import_reaches_up_a_stage():
    upward = []
    for module, targets in _graph().items():
        top, level = _stage(module)
        for target in targets:
            other, other_level = _stage(target)
            if other != top and other_level > level:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports from a higher stage:\n" + "\n".join(sorted(upward))


def test_no_import_cycle():
    graph = {m: {t for t in ts if t in _graph_nodes()} for m, ts in _graph().items()}
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            # A package's __init__ importing its own submodules is not a cycle of meaning.
            if len(component) > 1 and not all(c.startswith(min(component, key=len)) for c in component):
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def _graph_nodes() -> set[str]:
    return {_module_name(p) for p in PACKAGE.rglob("*.py")}
