"""The model card's schema (``medseg/resources/model.schema.json``) and a small validator for it.

The schema is standard JSON Schema (draft 2020-12); the tests check it with the ``jsonschema``
package. The validator here implements the keywords the schema uses (``type``, ``const``,
``enum``, ``properties``, ``required``, ``additionalProperties``, ``items``, ``minItems``,
``maxItems``, ``minimum``, ``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum``,
``minLength``, ``maxLength``, ``pattern``, ``$ref`` to ``#/$defs/...``) so that reading a model
needs no extra package in 3D Slicer; it also refuses NaN and infinities, which JSON Schema
cannot express. It reports the first problem as ``path.to.field: what is wrong``.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from importlib import resources
from typing import Any

SCHEMA_FILE = "model.schema.json"


@lru_cache(maxsize=1)
def schema() -> dict:
    """The shipped model-card schema."""
    return json.loads(resources.files("medseg").joinpath("resources", SCHEMA_FILE).read_text(encoding="utf-8"))


def _is(value: Any, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, (int, float))
    raise ValueError(f"schema type {kind!r} is not supported")


def _where(path: list) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the card"


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def errors(value: Any, node: dict | None = None, path: list | None = None) -> list[str]:
    """Every way ``value`` breaks the schema (``node``, default: the whole card schema)."""
    root = schema()
    node = root if node is None else node
    path = [] if path is None else path
    if "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"schema $ref {ref!r} is not supported")
        node = {**root["$defs"][ref[len("#/$defs/"):]], **{k: v for k, v in node.items() if k != "$ref"}}
    here = _where(path)
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{here}: {value} is not a finite number"]
    if "const" in node and value != node["const"]:
        return [f"{here}: must be {_show(node['const'])}, got {_show(value)}"]
    if "enum" in node and value not in node["enum"]:
        return [f"{here}: must be one of {', '.join(map(_show, node['enum']))}, got {_show(value)}"]
    kinds = node.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(value, k) for k in kinds):
            return [f"{here}: must be {' or '.join(kinds)}, got {_show(value)}"]
    found: list[str] = []
    if _is(value, "number"):
        for key, bad, word in (("minimum", lambda v, b: v < b, "at least"), ("maximum", lambda v, b: v > b, "at most"),
                               ("exclusiveMinimum", lambda v, b: v <= b, "above"),
                               ("exclusiveMaximum", lambda v, b: v >= b, "below")):
            if key in node and bad(value, node[key]):
                found.append(f"{here}: must be {word} {node[key]}, got {_show(value)}")
    if isinstance(value, str):
        if len(value) < node.get("minLength", 0):
            found.append(f"{here}: must not be empty" if node["minLength"] == 1 else
                         f"{here}: must have at least {node['minLength']} characters")
        if "maxLength" in node and len(value) > node["maxLength"]:
            found.append(f"{here}: must have at most {node['maxLength']} characters")
        if "pattern" in node and not re.search(node["pattern"], value):
            found.append(f"{here}: {_show(value)} does not have the required form")
    if isinstance(value, list):
        if len(value) < node.get("minItems", 0) or len(value) > node.get("maxItems", math.inf):
            lo, hi = node.get("minItems", 0), node.get("maxItems")
            count = f"{lo}" if lo == hi else f"{lo}..{hi if hi is not None else ''}"
            found.append(f"{here}: must have {count} items, got {len(value)}")
        if "items" in node:
            for i, item in enumerate(value):
                found += errors(item, node["items"], [*path, i])
    if isinstance(value, dict):
        for key in node.get("required", ()):
            if key not in value:
                found.append(f"{_where([*path, key])}: is missing")
        props = node.get("properties", {})
        extra = node.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                found += errors(item, props[key], [*path, key])
            elif extra is False:
                found.append(f"{_where([*path, key])}: is not a known field")
            elif isinstance(extra, dict):
                found += errors(item, extra, [*path, key])
    return found


def check(card: Any) -> str | None:
    """The first way ``card`` breaks the schema, or None."""
    problems = errors(card)
    return problems[0] if problems else None


__all__ = ["SCHEMA_FILE", "schema", "errors", "check"]
