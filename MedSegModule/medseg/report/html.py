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
.row{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start} .row>figure{flex:1 1 460px;margin:0}
figure{margin:.6rem 0} figcaption{color:#555;font-size:.85rem} .view3d{min-height:520px;border:1px solid #eee}
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


def _image(picture, alt: str, css: str = "") -> str:
    """An embedded PNG from a file, bytes or a :class:`~.png.Picture` ('' when there is none)."""
    picture = getattr(picture, "png", picture)
    if isinstance(picture, bytes):
        raw = picture
    elif picture and Path(picture).exists():
        raw = Path(picture).read_bytes()
    else:
        return ""
    data = base64.b64encode(raw).decode("ascii")
    cls = f" class='{css}'" if css else ""
    return f"<img{cls} alt='{_esc(alt)}' src='data:image/png;base64,{data}'>"


def _figure(picture, alt: str, caption: str | None = None, css: str = "") -> str:
    """A figure with its caption (the picture's own when ``caption`` is None)."""
    img = _image(picture, alt, css)
    if not img:
        return ""
    text = _esc(getattr(picture, "caption", "")) if caption is None else caption
    return f"<figure>{img}<figcaption>{text}</figcaption></figure>"


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


def _grid_section(result) -> str:
    g = getattr(result, "grid", None)
    if not g:
        return ""
    xyz = lambda v, d: " × ".join(_num(x, d) for x in v)  # noqa: E731
    direction = "<br>".join(f"{axis}: ({', '.join(f'{c:+.4f}' for c in row)})"
                            for axis, row in zip("xyz", g["direction_rows"]))
    rows = [("size (x × y × z voxels)", xyz(g["size"], 0)), ("spacing (mm)", xyz(g["spacing_mm"], 4)),
            ("extent (mm)", xyz(g["extent_mm"], 1)), ("voxel volume (mm³)", _num(g["voxel_mm3"], 4)),
            ("origin (LPS mm)", ", ".join(_num(v, 2) for v in g["origin_lps_mm"])),
            ("orientation", _esc(g["orientation"] + (" (oblique: the closest code)" if g["oblique"] else ""))),
            ("direction (each image axis in LPS)", direction), ("voxel type", _esc(g["pixel_type"]))]
    return ("<h2>Grid</h2><p class='muted'>The grid every output shares (LPS: x to the patient's left, "
            "y posterior, z superior).</p>" + _table(("", ""), [(_esc(k), v) for k, v in rows]))


def _hu_section(result) -> str:
    from .histogram import was_corrected

    check = result.meta.get("hu_check")
    pics = getattr(result, "pictures", {})
    if not check and "hu" not in pics:
        return ""
    check = check or {}
    if was_corrected(check):
        text = (f"The stored values could not be HU, so the loader corrected them by {check['shift_hu']:+g} HU: "
                f"{_esc(check.get('evidence'))}. Every output uses the corrected values.")
        figures = (_figure(pics.get("hu_before"), "HU histogram before correction", css="hist")
                   + _figure(pics.get("hu_after"), "HU histogram after correction", css="hist"))
    else:
        why = {"hu": f"the values are HU ({_esc(check.get('evidence'))})",
               "offset": "the values look offset by +1024, but the rescale was set by the user",
               "unclear": f"the values do not look like HU and were not corrected ({_esc(check.get('evidence'))})"}
        verdict = check.get("verdict")
        text = (f"No HU correction: {why.get(verdict, 'the values were not checked (not CT)')}"
                + ("; the rescale was set by the user" if check.get("rescale_override") and verdict != "offset" else "")
                + ". One histogram: the values as loaded.")
        figures = _figure(pics.get("hu"), "HU histogram", css="hist")
    return f"<h2>HU values</h2><p>{text}</p><div class='row'>{figures}</div>"


def _oblique_note(result) -> str:
    if not (getattr(result, "grid", None) or {}).get("oblique"):
        return ""
    return (" The grid is oblique (see Grid: a gantry tilt or a rotated acquisition), so the slices follow the "
            "image's axes, a little tilted from the patient's; each position is that of the slice's centre.")


def _slices_section(result) -> str:
    pics = getattr(result, "pictures", {})
    if "montage" not in pics:
        return ""
    return ("<h2>Slices</h2><p class='muted'>Axial slices through the whole stack, each captioned with its "
            "position in patient coordinates (mm from the DICOM origin; S/I, R/L, A/P). Radiological view: "
            "the patient's right on the image's left." + _oblique_note(result) + "</p>"
            + _figure(pics["montage"], "axial slice montage",
                      f"{_esc(pics['montage'].caption)}. Slices at " + ", ".join(map(_esc, pics["montage"].positions))
                      + "."))


def _segments_section(result) -> str:
    from .collect import display_name

    rows = [(_colour(str(r["segment"]), int(r["label_value"])) + _esc(display_name(str(r["segment"]))),
             _num(r["label_value"], 0), _num(r["voxel_count"], 0), _num(r["volume_ml"], 1),
             _num(r["mean"]), _num(r["std"]), _num(r["min"], 0), _num(r["max"], 0))
            for r in result.stats_rows]
    table = _table(("segment", "value", "voxels", "volume (ml)", "mean HU", "std HU", "min HU", "max HU"), rows,
                   (False, True, True, True, True, True, True, True))
    notes = []
    names = {str(r["segment"]) for r in result.stats_rows}
    if "body" in names:
        whole = sum(float(r["volume_ml"] or 0) for r in result.stats_rows if r["segment"] != "table-headrest")
        notes.append("<b>body (remainder)</b> is the body minus every other label: the label map is exclusive, "
                     f"so each voxel counts once (the whole body, all labels but table-headrest: {_num(whole, 1)} ml)")
    if "table-headrest" in names:
        notes.append("<b>table-headrest (removed)</b>: the table, couch or headrest the clean step took out "
                     "(set to −1024 HU in ct-clean.nrrd), drawn in magenta")
    pics = getattr(result, "pictures", {})
    shown = pics.get("planes")
    three = shown is not None and "coronal" in shown.planes
    planes = _figure(shown, "each label on axial, coronal and sagittal slices" if three else
                     "each label on an axial slice",
                     f"{_esc(shown.caption)}. " + "; ".join(map(_esc, shown.positions)) + ".") if shown else ""
    head = ("<h3>Each label on three planes</h3><p class='muted'>Each row: the label on the axial, coronal and "
            "sagittal slice where it is largest, captioned with the slice's position (mm). Axial seen from the "
            "feet and coronal from the front (patient's right on the image's left); sagittal from the "
            "patient's left (anterior on the image's left)." if three else
            "<h3>Each label on an axial slice</h3><p class='muted'>Each row: the label on the axial slice where "
            "it is largest, seen from the feet (patient's right on the image's left); the stack is too thin for "
            "coronal and sagittal slices.")
    return ("<h2>Segments</h2><p class='muted'>Classical auto-labels: table/headrest removal, body, lungs "
            "(right/left), airway, bone. See the README for validation figures.</p>" + table
            + "".join(f"<p class='muted'>{n}.</p>" for n in notes)
            + _figure(result.figures.get("overlay"), "label overlay", "auto-labels on axial slices (overlay.png)")
            + (head + _oblique_note(result) + "</p>" + planes if planes else ""))


def _models_section(result) -> str:
    """One part per U-Net model run inside ``run`` (``run --model``): what ran where, its warnings and segments."""
    models = getattr(result, "models", None) or []
    if not models:
        return ""
    parts = ["<h2>Models</h2><p class='muted'>U-Net models run on this study (<code>--model</code>); their "
             "segments are in their own <code>model-&lt;name&gt;.seg.nrrd</code>, beside the auto-labels.</p>"]
    for m in models:
        parts.append(f"<h3>{_esc(m['name'])}</h3><p class='muted'>status in its card: {_esc(m.get('status'))}; "
                     f"device {_esc(m.get('device'))}; {_num(m.get('slices'), 0)} slices in {_num(m.get('seconds'), 1)} s "
                     f"({_num(m.get('slices_per_s'), 1)} slices/s); {_esc(Path(str(m.get('seg_nrrd'))).name)}</p>")
        parts += [f"<div class='warn'>{_esc(w)}</div>" for w in m.get("warnings", [])]
        rows = [(_esc(r["segment"]), _num(r["voxel_count"], 0), _num(r["volume_ml"], 2), _num(r["mean"]), _num(r["std"]))
                for r in m.get("stats_rows", [])]
        if rows:
            parts.append(_table(("segment", "voxels", "volume (ml)", "mean HU", "std HU"), rows,
                                (False, True, True, True, True)))
        lesions = m.get("lesions") or []
        if lesions:
            parts.append(f"<p class='muted'>{len(lesions)} lesion(s): 26-connected components, largest first; "
                         "diameters between surface-mesh vertices, as pyradiomics' Maximum3DDiameter and the "
                         "axial long axis (RECIST).</p>")
            parts.append(_table(("lesion", "voxels", "volume (ml)", "3D diameter (mm)", "axial diameter (mm)",
                                 "centroid (LPS mm)"),
                                [(_esc(f"{m['name']}:lesion-{x.get('lesion')}"), _num(x.get("voxels"), 0),
                                  _num(x.get("volume_ml"), 2), _num(x.get("max_diameter_mm"), 1),
                                  _num(x.get("max_axial_diameter_mm"), 1),
                                  _esc(", ".join(f"{c:.1f}" for c in x.get("centroid_lps_mm") or [])))
                                 for x in lesions],
                                (False, True, True, True, True, False)))
            if not getattr(result, "radiomics_rows", None):
                parts.append("<p class='muted'>Radiomics of each lesion: <code>--radiomics</code> (radiomics.csv and "
                             "the Radiomics section).</p>")
        shown = m.get("picture")
        if shown is not None:
            if lesions:
                what = "where each lesion lies"
            else:
                what = "the model's segments on " + ("three planes" if "coronal" in shown.planes else "an axial slice")
            parts.append(_figure(shown, f"{m['name']}: {what}", f"{_esc(shown.caption)}. "
                                 + "; ".join(map(_esc, shown.positions)) + "."))
    return "".join(parts)


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


def _interactive(result) -> str:
    surfaces = getattr(result, "surfaces", None)
    if not surfaces:
        return ""
    from ..errors import DependencyError
    from .meshes import html_fragment

    try:
        view = html_fragment(surfaces, max_faces=INTERACTIVE_FACES)
    except DependencyError:
        return ("<figure><p class='muted'>The interactive 3D view needs plotly (pip install 'medseg[mesh]' or "
                "pip install plotly).</p></figure>")
    faces = sum(len(s.faces) for s in surfaces)
    shown = "" if faces <= INTERACTIVE_FACES else f", decimated for display to about {INTERACTIVE_FACES:,} of {faces:,} faces"
    return (f"<figure><div class='view3d'>{view}</div><figcaption>interactive (drag to turn, scroll to zoom; "
            f"LPS mm{shown})</figcaption></figure>")


#: Faces of the report's interactive view, all surfaces together: enough for the shape, a few MB of page.
INTERACTIVE_FACES = 60_000


def _mesh_section(result) -> str:
    if not result.mesh_rows:
        return ""
    rows = [(_esc(m["name"]), _num(m["area_mm2"], 0), _num(m["volume_ml"], 1), _esc(m["watertight"]))
            for m in result.mesh_rows]
    static = _figure(result.figures.get("meshes"), "surface meshes", "static render (meshes.png)")
    return ("<h2>Surfaces</h2>" + _table(("segment", "area (mm²)", "enclosed volume (ml)", "watertight"), rows,
                                         (False, True, True, False))
            + f"<div class='row'>{static}{_interactive(result)}</div>")


def _parameters_section(result) -> str:
    from .facts import radiomics_preset

    params = getattr(result, "parameters", None) or {}
    if not params:
        return ""
    rows = [(_esc(k), _esc("none" if v is None else v)) for k, v in params.items()]
    html_out = "<h2>Parameters</h2><p class='muted'>The options of this run.</p>" + _table(("option", "value"), rows)
    preset = params.get("radiomics_preset")
    settings = radiomics_preset(preset) if preset and "radiomics" in result.outputs else None
    if settings:
        html_out += (f"<p>Radiomics preset <b>{_esc(preset)}</b> (pyradiomics settings):</p>"
                     + _table(("setting", "value"), [(_esc(k), _esc(v)) for k, v in settings.items()]))
    return html_out


def _software_section() -> str:
    from .facts import library_versions

    return ("<h2>Software</h2>" + _table(("library", "version", "used for"),
                                         [(_esc(n), _esc(v), _esc(r)) for n, v, r in library_versions()]))


def _outputs_section(result) -> str:
    rows = []
    for kind, path in result.outputs.items():
        if kind == "report":
            continue
        rel = os.path.relpath(path, result.outdir)
        rows.append((_esc(kind), f"<a href='{_esc(rel)}'>{_esc(rel)}</a>"))
    # A step that failed (DICOM SEG refused by the input, say) has no timing worth showing.
    steps = {k: v for k, v in result.seconds.items() if k != "dicom-seg" or "dicom_seg" in result.outputs}
    timing = _table(("step", "seconds"), [(_esc(k), _num(v, 2)) for k, v in steps.items()], (False, True))
    return "<h2>Outputs</h2>" + _table(("output", "file"), rows) + "<h2>Timings</h2>" + timing


def write_report(result, path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write the HTML report of a :class:`~medseg.pipeline.study.RunResult` atomically; returns its path."""
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    body = "".join((
        f"<h1>MedSeg report</h1><p class='muted'>medseg {__version__}, {stamp}. No patient names or IDs from the headers are shown (the input path is, under Parameters).</p>",
        _input_section(result), _grid_section(result), _hu_section(result), _slices_section(result),
        _segments_section(result), _models_section(result), _radiomics_section(result), _mesh_section(result), _parameters_section(result),
        _software_section(), _outputs_section(result),
    ))
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>MedSeg report</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>")
    with atomic_output(path, inputs) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(path)
