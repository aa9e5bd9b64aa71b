"""The names sidecar of a plain label volume: ``labels.nii.gz`` + ``labels.json``.

NIfTI, plain NRRD and MHA carry only values, so MedSeg writes the segment table beside them as
``<stem>.json``::

    {"labels": [{"value": 1, "name": "body", "color": [177, 122, 101]}, ...]}

and reads that form, MedSeg's phantom description (the same ``labels`` list among other keys),
and the ``{"5": "liver", ...}`` mapping TotalSegmentator-style reference labels come with.
A seg.nrrd carries its own names, so it needs no sidecar.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import InputError
from ..labels import Label
from .atomic import atomic_output

LABEL_SUFFIXES = (".nii.gz", ".seg.nrrd", ".nrrd", ".nhdr", ".nii", ".mha", ".mhd")


def sidecar_path(label_path: str | os.PathLike) -> Path:
    """``<stem>.json`` beside a label file (``labels.nii.gz`` -> ``labels.json``)."""
    path = Path(label_path)
    name = path.name
    for ext in LABEL_SUFFIXES:
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    return path.with_name(name + ".json")


def with_sidecars(label_paths: Iterable[str | os.PathLike | None]) -> list:
    """Label output paths plus the sidecar each plain one will write (``None`` kept, for unset options).

    Checking these together refuses two label outputs whose names would share one sidecar
    (``mask.nii.gz`` and ``mask.nrrd`` both write ``mask.json``), which would silently give one the other's names.
    """
    out: list = []
    for path in label_paths:
        out.append(path)
        if path is not None and not str(path).lower().endswith(".seg.nrrd"):
            out.append(sidecar_path(path))
    return out


def read_names(label_path: str | os.PathLike) -> dict[int, str]:
    """``{value: name}`` from the sidecar of ``label_path``, or ``{}`` when there is none.

    Raises :class:`InputError` for a sidecar that exists but is not one of the forms above.
    """
    sidecar = sidecar_path(label_path)
    if not sidecar.is_file():
        return {}
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("labels"), list):
            return {int(item["value"]): str(item["name"]) for item in data["labels"]}
        if isinstance(data, dict):
            return {int(k): str(v) for k, v in data.items()}
    except (ValueError, AttributeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InputError(f"{sidecar}: expected a JSON object of label value -> segment name ({exc})") from None
    raise InputError(f"{sidecar}: expected a JSON object of label value -> segment name")


def write_names(label_path: str | os.PathLike, table: Sequence[Label],
                inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write the sidecar of ``label_path`` for ``table`` (as :func:`medseg.labels.label_table` gives it)."""
    sidecar = sidecar_path(label_path)
    data = {"labels": [{"value": lab.value, "name": lab.name, "color": list(lab.color)} for lab in table]}
    with atomic_output(sidecar, inputs) as tmp:
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return sidecar
