"""Pictures of surfaces: a static PNG (matplotlib, object-oriented API) and an interactive HTML (plotly).

Both show the surfaces in LPS with orientation letters, so the patient's right is on the
viewer's left in an anterior view, as a radiologist expects.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import DependencyError, ParameterError
from ..io.atomic import atomic_output
from ..measure.mesh import Surface, _cluster

#: Named views: (elevation, azimuth) in matplotlib's terms, for coordinates shown in LPS.
VIEWS = {
    "anterior": (0.0, -90.0), "posterior": (0.0, 90.0), "left": (0.0, 0.0), "right": (0.0, 180.0),
    "superior": (90.0, 90.0), "inferior": (-90.0, -90.0), "anterior-oblique": (30.0, -115.0),
}
VIEW_TITLES = {"anterior": "anterior view (facing the patient)", "inferior": "inferior view (from the feet, as axial CT is read)",
               "anterior-oblique": "anterior oblique view (from front-right, above)"}
_AXIS_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))  # (negative, positive) end of LPS x, y, z


def _lps(s: Surface) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and normals in LPS (display coordinates)."""
    flip = np.array([-1.0, -1.0, 1.0]) if s.space.upper() == "RAS" else np.ones(3)
    return s.vertices * flip, s.normals * flip


def _coarser(v: np.ndarray, f: np.ndarray, target: float) -> tuple[np.ndarray, np.ndarray]:
    """About ``target`` faces by vertex clustering, for display: the cell size is estimated from the
    area (a mesh of cells c wide has about 2 A / c² faces) and corrected at most three times, instead
    of the bisection :func:`medseg.measure.mesh.decimate_clusters` runs for an exact count (seconds on a full-size CT)."""
    area = float(np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1).sum()) / 2.0
    cell = np.sqrt(2.0 * area / max(target, 1.0))
    best = (v, f)
    for _ in range(4):
        cv, cf = _cluster(v, f, cell)
        if len(cf) < 4:  # too coarse for this part: keep the last mesh with faces
            cell /= 2.0
            continue
        best = (cv, cf)
        ratio = len(cf) / target
        if 0.6 <= ratio <= 1.5:
            break
        cell *= np.sqrt(ratio)
    return best


def _for_display(surfaces: Sequence[Surface], max_faces: int) -> list[tuple[Surface, np.ndarray, np.ndarray]]:
    """Vertices (LPS) and faces to draw: above ``max_faces`` faces in all, each big mesh is made coarser
    in proportion to its share."""
    total = sum(len(s.faces) for s in surfaces)
    out = []
    for s in surfaces:
        v, f = _lps(s)[0], s.faces
        if total > max_faces and len(f) > 1000:
            v, f = _coarser(v, f, len(f) * max_faces / total)
        out.append((s, v, f))
    return out


def _view(view) -> tuple[str, float, float]:
    if isinstance(view, str):
        if view not in VIEWS:
            raise ParameterError(f"unknown view '{view}'; use one of {', '.join(VIEWS)} or (elevation, azimuth)")
        return (view, *VIEWS[view])
    elev, azim = view
    return (f"elev {elev:g}, azim {azim:g}", float(elev), float(azim))


def _orientation_letters(ax, lo: np.ndarray, hi: np.ndarray) -> dict[str, tuple[str, float, float]]:
    """Patient directions at the screen's left/right/top/bottom, worked out from the projection.

    Returns {edge: (letter, x, y)} with x, y in axes fractions just outside the drawn box.
    """
    from mpl_toolkits.mplot3d import proj3d
    proj = ax.get_proj()
    centre, size = (lo + hi) / 2, float(np.max(hi - lo))
    x0, y0, _ = proj3d.proj_transform(*centre, proj)
    d = np.zeros((3, 2))
    for axis in range(3):
        tip = centre.copy()
        tip[axis] += size
        x1, y1, _ = proj3d.proj_transform(*tip, proj)
        d[axis] = (x1 - x0, y1 - y0)
    corners = np.array(np.meshgrid(*zip(lo, hi), indexing="ij")).reshape(3, -1)
    px, py, _ = proj3d.proj_transform(*corners, proj)
    to_axes = ax.transData + ax.transAxes.inverted()
    box = to_axes.transform(np.column_stack([px, py]))
    (bx0, by0), (bx1, by1) = box.min(axis=0), box.max(axis=0)
    ymid, xmid = (by0 + by1) / 2, (bx0 + bx1) / 2
    spots = {"left": (bx0 - 0.05, ymid), "right": (bx1 + 0.05, ymid), "bottom": (xmid, by0 - 0.05),
             "top": (xmid, by1 + 0.05)}
    letters = {}
    for comp, (neg_edge, pos_edge) in ((0, ("left", "right")), (1, ("bottom", "top"))):
        axis = int(np.argmax(np.abs(d[:, comp])))
        if abs(d[axis, comp]) < 1e-9:
            continue
        neg, pos = _AXIS_LETTERS[axis] if d[axis, comp] > 0 else _AXIS_LETTERS[axis][::-1]
        for edge, letter in ((neg_edge, neg), (pos_edge, pos)):
            x, y = spots[edge]
            letters[edge] = (letter, float(np.clip(x, 0.03, 0.97)), float(np.clip(y, 0.03, 0.97)))
    return letters


def render_png(surfaces: Sequence[Surface], path: str | os.PathLike, views: Sequence = ("anterior",),
               title: str | None = None, size: tuple[float, float] | None = None, dpi: int = 120,
               max_faces: int = 150_000, legend: bool = True, zoom: float = 1.0, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """A static, shaded picture of the surfaces (matplotlib mplot3d), one panel per view.

    Views are names from :data:`VIEWS` ("anterior" looks at the patient's front, so the patient's
    right is on the image's left, as a radiologist sees it) or (elevation, azimuth) pairs. Each
    panel is labelled with its view and the patient directions at its edges (R/L, A/P, S/I),
    worked out from the projection. Axes have equal scale. Meshes above ``max_faces`` faces in all
    are decimated for drawing only.
    """
    if not surfaces:
        raise ParameterError("no surfaces to draw (the label image has no non-zero voxels?)")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
        from mpl_toolkits.mplot3d.art3d import Poly3DCollection
    except ImportError as exc:
        raise DependencyError("the PNG render needs matplotlib; install it with: pip install matplotlib") from exc

    shown = _for_display(surfaces, max_faces)
    allv = np.concatenate([v for _, v, _ in shown])
    lo, hi = allv.min(axis=0), allv.max(axis=0)
    extent = np.maximum(hi - lo, 1e-3)
    fig = Figure(figsize=size or (5.0 * len(views), 5.0), dpi=dpi)
    FigureCanvasAgg(fig)
    for k, view in enumerate(views):
        label, elev, azim = _view(view)
        ax = fig.add_subplot(1, len(views), k + 1, projection="3d")
        ax.view_init(elev=elev, azim=azim)
        e, a = np.radians(elev), np.radians(azim)
        to_camera = np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
        light = to_camera + np.array([0.0, 0.0, 0.6]) if abs(elev) < 60 else to_camera
        light /= np.linalg.norm(light)
        for s, v, f in shown:
            tri = v[f]
            n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
            n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)
            shade = 0.35 + 0.65 * np.clip(n @ light, 0.0, 1.0)
            colours = np.clip(np.outer(shade, s.color_float), 0, 1)
            ax.add_collection3d(Poly3DCollection(tri, facecolors=colours, edgecolors=colours, linewidths=0.1))
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_zlim(lo[2], hi[2])
        ax.set_box_aspect(tuple(extent), zoom=zoom)
        ax.set_axis_off()
        for letter, x, y in _orientation_letters(ax, lo, hi).values():
            ax.text2D(x, y, letter, transform=ax.transAxes, ha="center", va="center", fontsize=13,
                      fontweight="bold", color="0.2", zorder=10)
        ax.set_title(VIEW_TITLES.get(label, f"{label} view"), fontsize=11)
    if legend:
        handles = [Patch(facecolor=s.color_float, label=f"{s.name} ({s.volume_ml:.1f} ml)") for s in surfaces]
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 4), fontsize=9, frameon=False)
    if title:
        fig.suptitle(title, fontsize=12)
    fig.subplots_adjust(left=0.0, right=1.0, top=0.9 if title else 0.95, bottom=0.12 if legend else 0.02, wspace=0.0)
    with atomic_output(path, inputs) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, facecolor="white")
    return Path(path)


def _plotly():
    try:
        import plotly.graph_objects as go
    except ImportError as exc:
        raise DependencyError("the interactive HTML view needs plotly, which is not installed; "
                              "install it with: pip install plotly") from exc
    return go


def _plotly_figure(surfaces: Sequence[Surface], title: str | None, max_faces: int | None):
    go = _plotly()
    if not surfaces:
        raise ParameterError("no surfaces to draw (the label image has no non-zero voxels?)")
    space = surfaces[0].space.upper()
    shown = ([(s, s.vertices, s.faces) for s in surfaces] if max_faces is None
             else [(s, v * (np.array([-1.0, -1.0, 1.0]) if space == "RAS" else 1.0), f)  # back to the surfaces' space
                   for s, v, f in _for_display(surfaces, max_faces)])
    traces = []
    for s, v, f in shown:
        r, g, b = s.color
        v, f = v.astype(np.float32), f.astype(np.int32)  # half the page; float32 is far finer than a voxel
        traces.append(go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2],
                                color=f"rgb({r},{g},{b})", name=f"{s.name} ({s.volume_ml:.1f} ml)",
                                showlegend=True, flatshading=False,
                                lighting=dict(ambient=0.35, diffuse=0.8, specular=0.2)))
    x_name, y_name = ("x (L) mm", "y (P) mm") if space == "LPS" else ("x (R) mm", "y (A) mm")
    # Equal mm on every axis, the box's longest side 1: the camera then sees the whole of a tall study
    # (pelvis to chest) as well as a wide one, from the front (patient's right on the viewer's left).
    lo = np.min([v.min(axis=0) for _, v, _ in shown], axis=0)
    hi = np.max([v.max(axis=0) for _, v, _ in shown], axis=0)
    extent = np.maximum(hi - lo, 1e-3)
    ratio = dict(zip("xyz", (float(e) for e in extent / extent.max())))
    anterior_eye = dict(x=0.0, y=-1.9 if space == "LPS" else 1.9, z=0.25)
    fig = go.Figure(traces)
    fig.update_layout(title=title, scene=dict(aspectmode="manual", aspectratio=ratio, xaxis_title=x_name,
                                              yaxis_title=y_name, zaxis_title="z (S) mm",
                                              camera=dict(eye=anterior_eye, up=dict(x=0, y=0, z=1))))
    return fig


def render_html(surfaces: Sequence[Surface], path: str | os.PathLike, title: str | None = None,
                include_plotlyjs: bool | str = True, max_faces: int | None = None,
                inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """An interactive 3D page (plotly Mesh3d per surface), in the surfaces' own coordinates.

    Needs the optional ``plotly`` package (:class:`DependencyError` with the pip command
    otherwise). ``include_plotlyjs=True`` embeds plotly.js so the page works offline; "cdn" links it.
    ``max_faces`` decimates the meshes shown (all surfaces together) to about that many faces.
    """
    fig = _plotly_figure(surfaces, title, max_faces)
    with atomic_output(path, inputs) as tmp:
        fig.write_html(str(tmp), include_plotlyjs=include_plotlyjs)
    return Path(path)


def html_fragment(surfaces: Sequence[Surface], max_faces: int = 60_000, div_id: str = "surfaces-3d",
                  height_px: int = 520) -> str:
    """The interactive 3D view as a ``<div>`` with plotly.js inline, to embed in another page (works offline).

    Meshes are decimated for display to about ``max_faces`` faces in all, which keeps a report of a
    full-size CT at a few MB; the files written beside it keep every face.
    """
    fig = _plotly_figure(surfaces, None, max_faces)
    fig.update_layout(height=height_px, margin=dict(l=0, r=0, t=10, b=0), legend=dict(x=0, y=1))
    return fig.to_html(full_html=False, include_plotlyjs=True, div_id=div_id,
                       config={"responsive": True, "displaylogo": False})


__all__ = ["VIEWS", "VIEW_TITLES", "render_png", "render_html", "html_fragment"]
