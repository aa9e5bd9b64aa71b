"""Per-segment tables (radiomics features, segment statistics): rows out to CSV or JSON.

A table is a list of flat dicts, one per segment, whose values are plain Python scalars
(``int``, ``float``, ``str``, ``bool`` or ``None``). The format follows the output's extension:

* ``.csv``: the csv module; the columns are every key, in the order they are first met going
  through the rows (so the leading ``case``/``segment``/``label_value`` columns stay first);
  ``None`` is an empty cell; floats are written with ``repr`` precision, so they read back exactly.
* ``.json``: a list of objects; NaN and infinities become ``null`` so the file is strict JSON.

Writes go through :func:`medseg.io.atomic_output`: never half-written, never onto an input.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..errors import ParameterError
from .atomic import atomic_output

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
