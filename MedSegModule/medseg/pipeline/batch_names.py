"""One output folder name per study of a batch, never the same name for two studies.

A study's folder is named from its input path relative to the common parent of the inputs'
parents, its parts joined with ``_``: ``a/dicom`` and ``b/dicom`` become ``a_dicom`` and
``b_dicom`` (real layouts such as ``patient/dicom`` would all be ``dicom`` by their last part).
The names are flat, so no study's folder lies inside another's. Names that still collide (after
the file extension is dropped and unsafe characters replaced, compared without case, as macOS
and Windows do) get a short hash of the resolved input path.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Sequence

#: File endings dropped from a volume file's name (the longest first).
VOLUME_SUFFIXES = (".seg.nrrd", ".nii.gz", ".nrrd", ".nii", ".mha", ".mhd", ".dcm")

#: Names the batch itself uses in the output root.
RESERVED = {"config.yaml", "medseg.log", "batch.csv"}

#: Longest folder name (bytes stay well under the 255 of common file systems).
MAX_NAME = 96

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def short_hash(path: str | os.PathLike) -> str:
    """8 hex digits of the SHA-1 of the resolved path: stable across runs on one machine."""
    return hashlib.sha1(str(Path(path).resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:8]


def _clean(text: str) -> str:
    name = _UNSAFE.sub("_", text).strip("._-")
    return name[:MAX_NAME] or "study"


def _base_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root) if path != root else Path(path.name)
    parts = list(rel.parts) or [path.name or "study"]
    last = parts[-1]
    for suffix in VOLUME_SUFFIXES:
        if last.lower().endswith(suffix) and len(last) > len(suffix):
            parts[-1] = last[: -len(suffix)]
            break
    return _clean("_".join(parts))


def study_names(inputs: Sequence[str | os.PathLike]) -> list[str]:
    """The folder name of each input (same order); the inputs must be distinct paths."""
    resolved = [Path(p).resolve() for p in inputs]
    root = Path(os.path.commonpath([str(p.parent) for p in resolved])) if resolved else Path(".")
    names = [_base_name(p, root) for p in resolved]
    counts: dict[str, int] = {}
    for n in names:
        counts[n.casefold()] = counts.get(n.casefold(), 0) + 1
    out = []
    for name, path in zip(names, resolved):
        if counts[name.casefold()] > 1 or name.casefold() in RESERVED:
            name = f"{name[: MAX_NAME - 9]}-{short_hash(path)}"
        out.append(name)
    return out
