"""``report.html`` for ``medseg run``: one self-contained page (figures embedded) a person can open or send.

The page says what the input was, what each step found and how long it took, shows the label
overlay and the surfaces, and lists every output. It claims nothing beyond what was measured on
this study; validation figures for the methods live in the README.
"""

from __future__ import annotations

import base64
import datetime
import html
import os
from pathlib import Path
from typing import Iterable, Sequence

from .. import __version__
from ..io.atomic import atomic_output
from ..labels import label_table

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0} td,th{border:1px solid #ddd;padding:.25rem .5rem}
th{background:#f4f4f4;text-align:left} td.n{text-align:right;font-variant-numeric:tabular-nums}
.warn{background:#fff6e0;border-left:4px solid #e0a000;padding:.4rem .8rem;margin:.3rem 0}
.swatch{display:inline-block;width:.9rem;height:.9rem;border-radius:2px;vertical-align:middle;margin-right:.3rem}
img{max-width:100%;border:1px solid #eee} .muted{color:#777;font-size:.85rem}
"""


def _esc(value) -> str:
    return html.escape("" if value is None else str(value))


def _num(value, digits: int = 1) -> str:
    if value in (None, ""):
        return ""
    try:
        return f"{float(value):,.{digits}f}"
    except (TypeError, ValueError):
        return _esc(value)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[bool] | None = None) -> str:
    numeric = numeric or [False] * len(headers)
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td class='n'>{c}</td>" if n else f"<td>{c}</td>" for c, n in zip(r, numeric))
                   + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _image(path: Path | None, alt: str) -> str:
    if not path or not Path(path).exists():
        return ""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"<p><img alt='{_esc(alt)}' src='data:image/png;base64,{data}'></p>"


def _colour(name: str, value: int) -> str:
    (lab,) = label_table([value], {value: name})
    r, g, b = lab.color
    return f"<span class='swatch' style='background:rgb({r},{g},{b})'></span>"


def _input_section(result) -> str:
    meta = result.meta
    facts = [("source", meta.get("source")), ("modality", meta.get("modality")),
             ("values", "HU" if meta.get("is_hu") else "not HU"), ("series", meta.get("series_uid")),
             ("description", meta.get("series_description")), ("slices", meta.get("slices")),
             ("kVp", meta.get("kvp")), ("kernel", meta.get("kernel")),
             ("slice thickness (mm)", meta.get("slice_thickness")),
             ("transfer syntax", meta.get("transfer_syntax"))]
    reg = meta.get("regularized")
    if reg:
        facts.append(("resampled", f"{reg.get('reason')} (step {reg.get('step_mm')} mm)"))
    rows = [(_esc(k), _esc(v)) for k, v in facts if v not in (None, "")]
    warnings = "".join(f"<div class='warn'>{_esc(w)}</div>" for w in result.warnings)
    return "<h2>Input</h2>" + _table(("", ""), rows) + warnings


def _segments_section(result) -> str:
    rows = [(_colour(str(r["segment"]), int(r["label_value"])) + _esc(r["segment"]), _num(r["voxel_count"], 0), _num(r["volume_ml"], 1),
             _num(r["mean"]), _num(r["std"]), _num(r["min"], 0), _num(r["max"], 0))
            for r in result.stats_rows]
    table = _table(("segment", "voxels", "volume (ml)", "mean HU", "std HU", "min HU", "max HU"), rows,
                   (False, True, True, True, True, True, True))
    return ("<h2>Segments</h2><p class='muted'>Classical auto-labels: table/headrest removal, body, lungs "
            "(right/left), airway, bone. See the README for validation figures.</p>" + table
            + _image(result.figures.get("overlay"), "label overlay"))


RADIOMICS_COLUMNS = (("original_shape_VoxelVolume", "volume (mm³)", 0), ("original_shape_Sphericity", "sphericity", 3),
                     ("original_firstorder_Mean", "mean HU", 1), ("original_firstorder_Entropy", "entropy", 3),
                     ("original_glcm_Contrast", "GLCM contrast", 3))


def _radiomics_section(result) -> str:
    if not result.radiomics_rows:
        return ""
    cols = [c for c in RADIOMICS_COLUMNS if c[0] in result.radiomics_rows[0]]
    rows = [(_esc(r["segment"]), *[_num(r.get(c[0]), c[2]) for c in cols]) for r in result.radiomics_rows]
    n = len(result.radiomics_rows[0]) - 2
    return (f"<h2>Radiomics</h2><p class='muted'>pyradiomics, {n} features per segment in radiomics.csv; "
            "an excerpt:</p>" + _table(("segment", *[c[1] for c in cols]), rows, (False, *[True] * len(cols))))


def _mesh_section(result) -> str:
    if not result.mesh_rows:
        return ""
    rows = [(_esc(m["name"]), _num(m["area_mm2"], 0), _num(m["volume_ml"], 1), _esc(m["watertight"]))
            for m in result.mesh_rows]
    return ("<h2>Surfaces</h2>" + _table(("segment", "area (mm²)", "enclosed volume (ml)", "watertight"), rows,
                                         (False, True, True, False))
            + _image(result.figures.get("meshes"), "surface meshes"))


def _outputs_section(result) -> str:
    rows = []
    for kind, path in result.outputs.items():
        if kind == "report":
            continue
        rel = os.path.relpath(path, result.outdir)
        rows.append((_esc(kind), f"<a href='{_esc(rel)}'>{_esc(rel)}</a>"))
    timing = _table(("step", "seconds"), [(_esc(k), _num(v, 2)) for k, v in result.seconds.items()], (False, True))
    return "<h2>Outputs</h2>" + _table(("output", "file"), rows) + "<h2>Timings</h2>" + timing


def write_report(result, path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write the HTML report of a :class:`~medseg.pipeline.study.RunResult` atomically; returns its path."""
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    body = "".join((
        f"<h1>MedSeg report</h1><p class='muted'>medseg {__version__}, {stamp}. No patient data is shown.</p>",
        _input_section(result), _segments_section(result), _radiomics_section(result), _mesh_section(result),
        _outputs_section(result),
    ))
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>MedSeg report</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>")
    with atomic_output(path, inputs) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(path)
