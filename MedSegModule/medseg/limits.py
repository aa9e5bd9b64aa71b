"""Limits on what an input may make MedSeg allocate or compute, checked before the work starts.

A header that claims 65535 × 65535 pixels, one slice 10⁶ mm away from the rest, a radiomics bin
width of 10⁻⁷ HU or a model card with 200 000 channels would otherwise ask for gigabytes to
terabytes of memory, or hours of work, before anything fails. Every allocation whose size the
input controls calls :func:`check_allocation` first; every loop whose length the input controls
calls :func:`check_work`. Past a limit they raise :class:`LimitError`, whose one-line message says
what was asked for, the limit, and the environment variable that raises it.

The limits (environment variables, read at each check so a script may change them):

======================== ================= ==================================================
``MEDSEG_MAX_VOXELS``    2 147 483 648     elements in one array (voxels, bins, weights)
``MEDSEG_MAX_BYTES``     16 GiB            bytes of one array (a few such copies may coexist)
``MEDSEG_MAX_WORK``      2 × 10¹⁰          element-iterations of one loop (mesh smoothing)
======================== ================= ==================================================

Sizes take an optional K, M, G or T suffix (powers of 1024 for bytes, of 1000 otherwise).
"""

from __future__ import annotations

import math
import os
from typing import Iterable

import numpy as np

from .errors import LimitError

#: (environment variable, default, unit) of each limit.
LIMITS = {
    "voxels": ("MEDSEG_MAX_VOXELS", 2 ** 31, "elements"),
    "bytes": ("MEDSEG_MAX_BYTES", 16 * 2 ** 30, "bytes"),
    "work": ("MEDSEG_MAX_WORK", 2 * 10 ** 10, "element-iterations"),
}

_SUFFIXES = "KMGT"


def _parse(text: str, binary: bool) -> int:
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    scale = 1
    if text and text[-1] in _SUFFIXES:
        scale = (1024 if binary else 1000) ** (_SUFFIXES.index(text[-1]) + 1)
        text = text[:-1]
    value = float(text) * scale
    if not math.isfinite(value) or value <= 0:
        raise ValueError(text)
    return int(value)


def limit(kind: str) -> int:
    """The current limit of ``kind`` ("voxels", "bytes" or "work"), from its environment variable."""
    variable, default, _unit = LIMITS[kind]
    raw = os.environ.get(variable)
    if raw is None or not raw.strip():
        return default
    try:
        return _parse(raw, binary=kind == "bytes")
    except ValueError:
        raise LimitError(f"{variable}={raw!r} is not a positive size (such as 8G or 500000000)") from None


def human_bytes(n: float) -> str:
    """``n`` bytes as a short text: 1.5 GiB, 820 MiB, 12 KiB, 7 B."""
    for unit, scale in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


def _count(shape: Iterable[float]) -> float:
    total = 1.0
    for n in shape:
        n = float(n)
        if not math.isfinite(n) or n < 0:
            return math.inf
        total *= n
    return total


def check_allocation(what: str, shape: Iterable[float], dtype=np.float32) -> int:
    """Refuse, before allocating, an array of ``shape`` and ``dtype`` past the limits; returns its bytes.

    ``what`` names the array in the message ("decoded DICOM volume", "radiomics GLCM", ...).
    ``shape`` may hold floats (estimates); a non-finite or negative entry is refused. Raises
    :class:`LimitError` naming the size, the limit and how to raise it.
    """
    shape = tuple(shape)
    elements = _count(shape)
    nbytes = elements * np.dtype(dtype).itemsize
    shown = " x ".join(f"{float(n):.6g}" for n in shape)
    for kind, amount, text in (("voxels", elements, f"{elements:.4g} elements"),
                               ("bytes", nbytes, human_bytes(nbytes) if math.isfinite(nbytes) else "unbounded")):
        cap = limit(kind)
        if not amount <= cap:
            variable = LIMITS[kind][0]
            cap_text = human_bytes(cap) if kind == "bytes" else f"{cap:.4g} elements"
            raise LimitError(f"{what} would need {text} ({shown}, {np.dtype(dtype).name}), over the limit of "
                             f"{cap_text}; if the input is right, raise it with {variable}")
    return int(nbytes)


def check_work(what: str, iterations: float, elements: float) -> None:
    """Refuse a loop of ``iterations`` over ``elements`` items past ``MEDSEG_MAX_WORK``."""
    work = float(iterations) * float(elements)
    cap = limit("work")
    if not (math.isfinite(work) and work <= cap):
        raise LimitError(f"{what} would take {iterations:.4g} iterations over {elements:.4g} elements "
                         f"({work:.3g}), over the limit of {cap:.3g}; if that is meant, raise MEDSEG_MAX_WORK")


__all__ = ["LIMITS", "LimitError", "check_allocation", "check_work", "human_bytes", "limit"]
