"""Per-segment tables (radiomics features, segment statistics): rows out to CSV or JSON, names in.

A table is a list of flat dicts, one per segment, whose values are plain Python scalars
(``int``, ``float``, ``str``, ``bool`` or ``None``). The format follows the output's extension:

* ``.csv``: the csv module; the columns are every key, in the order they are first met going
  through the rows (so the leading ``case``/``segment``/``label_value`` columns stay first);
  ``None`` is an empty cell; floats are written with ``repr`` precision, so they read back exactly.
* ``.json``: a list of objects; NaN and infinities become ``null`` so the file is strict JSON.

Writes go through :func:`MedSegLib.io.atomic_output`: never half-written, never onto an input.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .errors import InputError, ParameterError
from .io.atomic import atomic_output

TABLE_FORMATS = (".csv", ".json")


def columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every key of ``rows`` in first-seen order (a stable column order for ragged rows)."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def table_format(path: str | os.PathLike) -> str:
    """``"csv"`` or ``"json"`` from the extension; :class:`ParameterError` for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise ParameterError(f"cannot write a table to {path}: the output must end in .csv or .json")
    return suffix[1:]


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_rows(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike,
               inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write ``rows`` to ``path`` as CSV or JSON (by extension), atomically. Returns the path written."""
    fmt = table_format(path)
    rows = list(rows)
    with atomic_output(path, inputs=inputs) as tmp:
        if fmt == "csv":
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=columns(rows), restval="", extrasaction="raise")
                writer.writeheader()
                for row in rows:
                    writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        else:
            data = [{k: _json_value(v) for k, v in row.items()} for row in rows]
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, allow_nan=False)
                f.write("\n")
    return Path(path)


def read_names_sidecar(labels_path: str | os.PathLike) -> dict[int, str]:
    """Segment names for a plain label volume from a JSON file beside it, or ``{}`` if there is none.

    ``labels.nrrd`` (or ``.nii.gz``, ``.mha``) may have ``labels.json`` beside it holding
    ``{"5": "liver", ...}``, as TotalSegmentator-style reference labels do, or MedSeg's own phantom
    description, whose ``"labels"`` list holds ``{"value": 3, "name": "lung-right", ...}`` items. A
    seg.nrrd carries its own names, so this is only for plain volumes.
    """
    path = Path(labels_path)
    name = path.name
    for ext in (".nii.gz", ".seg.nrrd", ".nrrd", ".nii", ".mha", ".mhd"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    sidecar = path.with_name(name + ".json")
    if not sidecar.is_file():
        return {}
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("labels"), list):
            return {int(item["value"]): str(item["name"]) for item in data["labels"]}
        return {int(k): str(v) for k, v in data.items()}
    except (ValueError, AttributeError, KeyError, TypeError) as exc:
        raise InputError(f"{sidecar}: expected a JSON object of label value -> segment name ({exc})") from None


def read_named_labels(labels_path: str | os.PathLike):
    """``io.read_label_image`` plus names: a seg.nrrd's own, else a sidecar JSON's (see above)."""
    from .io.labels_io import read_label_image

    labels, names = read_label_image(labels_path)
    if not names:
        names = read_names_sidecar(labels_path)
    return labels, names


def segment_name(value: int, names: Mapping[int, str] | None) -> str:
    """The segment's name, or ``label-<value>`` when the label map carries none."""
    if names and value in names and names[value]:
        return str(names[value])
    return f"label-{int(value)}"
