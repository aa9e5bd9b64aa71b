"""Surface meshes per segment: marching cubes, outward faces, Taubin smoothing, decimation, measures.

:func:`label_surfaces` turns a label image into one closed :class:`Surface` per label value:

* each segment is cropped to its bounding box plus one voxel of zero padding, so the
  marching-cubes surface (scikit-image, level 0.5 on the binary mask) is always closed, also where
  the segment touches the image border;
* vertices are mapped to physical millimetres with the image's origin, spacing and direction:
  LPS by default, or RAS (x and y negated, as Slicer exports models) with ``ras=True``. Negating
  two axes keeps the handedness, so faces stay outward in both;
* faces are oriented outward (the signed enclosed volume is made positive), and vertex normals
  are the area-weighted face normals, so they point outward too;
* optional decimation (:func:`decimate_clusters`, vertex clustering) and Taubin smoothing
  (:func:`taubin_smooth`, the lambda/mu scheme that does not shrink) run in that order, as in
  Slicer's closed-surface pipeline.

Mesh files are written by :mod:`medseg.io.meshes`, pictures drawn by :mod:`medseg.report.meshes`. Pure numpy/scipy/scikit-image: no VTK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import SimpleITK as sitk
from scipy import ndimage, sparse

from ..errors import ParameterError
from ..limits import check_work
from ..labels import Label, label_table
from ..progress import CancelEvent, Progress, check_cancel, report


@dataclass
class Surface:
    """One segment's closed triangle mesh in physical mm (``space`` "LPS" or "RAS")."""

    name: str
    label_value: int
    color: tuple[int, int, int]
    vertices: np.ndarray  # (N, 3) float64, mm
    faces: np.ndarray  # (M, 3) int64, counter-clockwise seen from outside
    normals: np.ndarray  # (N, 3) float64, unit, outward
    space: str = "LPS"

    @property
    def color_float(self) -> tuple[float, float, float]:
        return tuple(c / 255.0 for c in self.color)  # type: ignore[return-value]

    @property
    def area_mm2(self) -> float:
        return surface_area(self.vertices, self.faces)

    @property
    def volume_ml(self) -> float:
        """Enclosed volume (divergence theorem); positive because faces point outward."""
        return signed_volume(self.vertices, self.faces) / 1000.0

    @property
    def watertight(self) -> bool:
        """True when every edge is shared by exactly two faces, once in each direction."""
        return edge_report(self.faces)["watertight"]

    def summary(self) -> dict:
        """One row for tables and JSON: name, value, counts, area (mm^2) and volume (ml)."""
        return {"label": self.label_value, "name": self.name, "vertices": int(len(self.vertices)),
                "faces": int(len(self.faces)), "area_mm2": round(self.area_mm2, 3),
                "volume_ml": round(self.volume_ml, 4), "watertight": self.watertight, "space": self.space}


@dataclass
class DrawnSurface(Surface):
    """A coarsened copy of ``full`` for drawing (:func:`coarsened`); area and volume are ``full``'s."""

    full: Surface | None = None

    @property
    def area_mm2(self) -> float:
        return self.full.area_mm2 if self.full is not None else super().area_mm2

    @property
    def volume_ml(self) -> float:
        return self.full.volume_ml if self.full is not None else super().volume_ml


# --- measures -----------------------------------------------------------------------------------

def _face_cross(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    return np.cross(b - a, c - a)


def surface_area(vertices: np.ndarray, faces: np.ndarray) -> float:
    return float(np.linalg.norm(_face_cross(vertices, faces), axis=1).sum() / 2.0)


def signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Sum of signed tetrahedra (origin, a, b, c) / 6, in mm^3: the enclosed volume of a closed mesh."""
    if len(faces) == 0:
        return 0.0
    v = vertices - vertices.mean(axis=0)  # better conditioned far from the origin
    a, b, c = (v[faces[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit vertex normals: the sum of the adjacent faces' normals weighted by their areas."""
    cross = _face_cross(vertices, faces)
    normals = np.zeros_like(vertices, dtype=np.float64)
    for i in range(3):
        for axis in range(3):
            normals[:, axis] += np.bincount(faces[:, i], weights=cross[:, axis], minlength=len(vertices))
    norm = np.linalg.norm(normals, axis=1, keepdims=True)
    return normals / np.where(norm > 0, norm, 1.0)


def _row_keys(rows: np.ndarray) -> np.ndarray:
    """One int64 (or a void view, for huge indices) per row of non-negative ints, for np.unique."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    n = int(rows.max(initial=0)) + 1
    if n ** rows.shape[1] < 2 ** 62:
        key = np.zeros(len(rows), dtype=np.int64)
        for col in rows.T:
            key = key * n + col
        return key
    return rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()


def edge_report(faces: np.ndarray) -> dict:
    """Counts of boundary (1 face), manifold (2 faces) and non-manifold (>2) edges, and orientation."""
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]).astype(np.int64)
    _, counts = np.unique(_row_keys(np.sort(directed, axis=1)), return_counts=True)
    _, dcounts = np.unique(_row_keys(directed), return_counts=True)
    report_ = {"edges": int(len(counts)), "boundary": int((counts == 1).sum()),
               "non_manifold": int((counts > 2).sum()), "misoriented": int((dcounts > 1).sum())}
    report_["watertight"] = bool(len(faces) and report_["boundary"] == 0 and report_["non_manifold"] == 0
                                 and report_["misoriented"] == 0)
    return report_


# --- smoothing and decimation -------------------------------------------------------------------

def _adjacency(n_vertices: int, faces: np.ndarray) -> sparse.csr_matrix:
    i = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2], faces[:, 1], faces[:, 2], faces[:, 0]])
    j = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0], faces[:, 0], faces[:, 1], faces[:, 2]])
    adj = sparse.csr_matrix((np.ones(len(i)), (i, j)), shape=(n_vertices, n_vertices))
    adj.data[:] = 1.0  # duplicates summed by the constructor: make it a plain 0/1 adjacency
    degree = np.diff(adj.indptr).astype(np.float64)  # entries are all 1: the row length is the degree
    adj.data /= np.repeat(np.where(degree > 0, degree, 1.0), np.diff(adj.indptr))  # rows scaled in place
    return adj


def taubin_smooth(vertices: np.ndarray, faces: np.ndarray, iterations: int = 10, lam: float = 0.5,
                  mu: float = -0.53, cancel: CancelEvent = None) -> np.ndarray:
    """Taubin's lambda/mu smoothing (1995) with uniform umbrella weights.

    Each iteration moves every vertex by ``lam`` times the umbrella vector (the mean of its
    neighbours minus itself), then by ``mu`` (negative, |mu| > lam) times the new one: a low-pass
    filter that smooths the voxel staircase without the shrinking of plain Laplacian smoothing.
    """
    if iterations < 0:
        raise ParameterError(f"smoothing iterations must be >= 0, got {iterations}")
    mean_of_neighbours = _adjacency(len(vertices), faces)
    x = np.array(vertices, dtype=np.float64)
    for _ in range(int(iterations)):
        check_cancel(cancel)
        x = x + lam * (mean_of_neighbours @ x - x)
        x = x + mu * (mean_of_neighbours @ x - x)
    return x


def _cluster(vertices: np.ndarray, faces: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    keys = np.floor((vertices - vertices.min(axis=0)) / cell).astype(np.int64)
    span = keys.max(axis=0) + 1
    flat = (keys[:, 0] * span[1] + keys[:, 1]) * span[2] + keys[:, 2]
    _, cluster = np.unique(flat, return_inverse=True)
    counts = np.bincount(cluster).astype(np.float64)
    new_vertices = np.stack([np.bincount(cluster, weights=vertices[:, a]) for a in range(3)], axis=1) / counts[:, None]
    f = cluster[faces]
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]
    # Faces collapsed onto the same three clusters: opposite pairs cancel, otherwise keep one.
    order = np.sort(f, axis=1)
    parity = ((f[:, 0] > f[:, 1]).astype(int) + (f[:, 1] > f[:, 2]) + (f[:, 0] > f[:, 2])) % 2
    sign = np.where(parity == 0, 1, -1)
    _, group, group_counts = np.unique(_row_keys(order), return_inverse=True, return_counts=True)
    group = group.ravel()
    net = np.bincount(group, weights=sign)
    first = np.full(len(group_counts), -1)
    keep = group_counts[group] == 1
    for idx in np.flatnonzero(~keep):  # rare: only where a thin part collapses
        g = group[idx]
        if first[g] < 0 and net[g] != 0 and np.sign(net[g]) == sign[idx]:
            first[g] = idx
            keep[idx] = True
    f = f[keep]
    used = np.unique(f)
    remap = np.full(len(new_vertices), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return new_vertices[used], remap[f]


def decimate_clusters(vertices: np.ndarray, faces: np.ndarray, fraction: float,
                      cancel: CancelEvent = None) -> tuple[np.ndarray, np.ndarray]:
    """Remove about ``fraction`` of the faces by vertex clustering.

    Vertices are binned on a cubic grid and each cell's vertices merged into their mean;
    triangles that collapse are dropped. The cell size is found by bisection so that the face
    count comes close to ``(1 - fraction) * faces``. This is the simple, robust scheme (Rossignac &
    Borrel) rather than quadric edge collapse, which needs VTK or open3d: it keeps the shape to
    within about one cell, but where a part is thinner than a cell the result can have a few
    non-manifold edges.
    """
    if not 0.0 <= fraction < 1.0:
        raise ParameterError(f"decimate must be a fraction of faces to remove in [0, 1), got {fraction}")
    if fraction == 0.0 or len(faces) < 8:
        return vertices, faces
    target = (1.0 - fraction) * len(faces)
    edge = float(np.median(np.linalg.norm(vertices[faces[:, 1]] - vertices[faces[:, 0]], axis=1)))
    lo, hi = np.log(edge * 0.25), np.log(edge * 50.0)
    best = (np.inf, vertices, faces)
    for _ in range(18):
        check_cancel(cancel)
        mid = 0.5 * (lo + hi)
        v, f = _cluster(vertices, faces, float(np.exp(mid)))
        err = abs(len(f) - target) / target
        if err < best[0]:
            best = (err, v, f)
        if err < 0.01:
            break
        lo, hi = (mid, hi) if len(f) > target else (lo, mid)
    return best[1], best[2]


def coarsened(surfaces: Sequence["Surface"], max_faces: int) -> list["Surface"]:
    """Copies with about ``max_faces`` faces in all, for drawing: one vertex-clustering pass each.

    Each copy is a :class:`DrawnSurface` whose area and volume are the full surface's, so a
    legend drawn from it states the real measures.

    The cell size comes from the surface area (about two triangles per cell of surface), so no
    search is needed; the face count lands near, not exactly at, the target.
    """
    total = sum(len(s.faces) for s in surfaces)
    if total <= max_faces:
        return list(surfaces)
    out = []
    for s in surfaces:
        share = max(1000, int(max_faces * len(s.faces) / total))
        if len(s.faces) <= share:
            out.append(s)
            continue
        cell = float(np.sqrt(2.0 * s.area_mm2 / share))
        v, f = _cluster(s.vertices, s.faces, cell)
        out.append(DrawnSurface(s.name, s.label_value, s.color, v, f, vertex_normals(v, f), s.space, full=s))
    return out


# --- extraction ---------------------------------------------------------------------------------

def _index_to_physical(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """(matrix, offset) with physical = matrix @ (x, y, z) index + offset."""
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    return direction @ np.diag(image.GetSpacing()), np.asarray(image.GetOrigin(), dtype=np.float64)


def label_surfaces(labels: sitk.Image, names: Mapping[int, str] | Sequence[Label] | None = None,
                   smooth_iterations: int = 0, decimate: float = 0.0, ras: bool = False,
                   values: Iterable[int] | None = None, progress: Progress | None = None,
                   cancel: CancelEvent = None, boxes: Mapping[int, tuple[slice, slice, slice]] | None = None
                   ) -> list[Surface]:
    """One closed, outward-oriented surface per non-zero label value (or per value in ``values``).

    ``names`` is ``{value: name}`` (as :func:`medseg.io.read_label_image` returns) or a list of
    :class:`Label`; names and colours follow :func:`medseg.labels.label_table` (``label-N`` for
    a value without a name). ``decimate`` is the fraction
    of faces to remove (vertex clustering), ``smooth_iterations`` the number of Taubin steps.
    Vertices are physical mm: LPS, or RAS with ``ras=True``. Values with no voxel are skipped.
    ``boxes`` ({value: (z, y, x) slices}, e.g. from the statistics' bounding boxes) together with
    ``values`` spares the passes over the whole volume that find the labels and their boxes.
    """
    if labels.GetDimension() != 3 or labels.GetNumberOfComponentsPerPixel() != 1:
        raise ParameterError("label_surfaces needs a 3D scalar label image")
    if smooth_iterations < 0:
        raise ParameterError(f"--smooth must be >= 0, got {smooth_iterations}")
    if not 0.0 <= decimate < 1.0:
        raise ParameterError(f"--decimate must be in [0, 1) (the fraction of faces to remove), got {decimate}")
    from skimage.measure import marching_cubes

    arr = sitk.GetArrayViewFromImage(labels)
    if boxes is not None and values is not None:
        wanted = [int(v) for v in values if int(v) in boxes]
        objects = {v: boxes[v] for v in wanted}
    else:
        present = [int(v) for v in np.unique(arr) if v != 0]
        wanted = present if values is None else [int(v) for v in values if int(v) in present]
        found = ndimage.find_objects(np.asarray(arr), max_label=max(wanted, default=0))
        objects = {v: found[v - 1] for v in wanted}
    info = {lab.value: (lab.name, lab.color) for lab in label_table(wanted, names)}
    matrix, offset = _index_to_physical(labels)
    flip = np.array([-1.0, -1.0, 1.0]) if ras else np.ones(3)
    surfaces = []
    for n, value in enumerate(wanted):
        check_cancel(cancel)
        report(progress, n / max(1, len(wanted)), f"meshing {info[value][0]}")
        box = objects[value]
        mask = np.zeros(tuple(b.stop - b.start + 2 for b in box), dtype=np.float32)
        mask[1:-1, 1:-1, 1:-1] = arr[box] == value
        verts, faces, _, _ = marching_cubes(mask, level=0.5)
        start = np.array([s.start for s in box], dtype=np.float64) - 1.0  # (z, y, x) of the padded crop
        index_xyz = (verts + start)[:, ::-1]
        points = (index_xyz @ matrix.T + offset) * flip
        faces = faces.astype(np.int64)
        if signed_volume(points, faces) < 0:
            faces = faces[:, ::-1].copy()
        if decimate > 0:
            points, faces = decimate_clusters(points, faces, decimate, cancel=cancel)
        if smooth_iterations:
            check_work(f"Taubin smoothing of {info[value][0]} (--smooth {smooth_iterations})", 2 * smooth_iterations,
                       len(points))
            points = taubin_smooth(points, faces, smooth_iterations, cancel=cancel)
        name, colour = info[value]
        surfaces.append(Surface(name, value, colour, points, faces, vertex_normals(points, faces),
                                space="RAS" if ras else "LPS"))
    report(progress, 1.0, f"{len(surfaces)} surfaces")
    return surfaces


__all__ = ["Surface", "DrawnSurface", "label_surfaces", "coarsened", "taubin_smooth", "decimate_clusters", "vertex_normals",
           "surface_area", "signed_volume", "edge_report"]
