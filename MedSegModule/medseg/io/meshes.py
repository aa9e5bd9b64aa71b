"""Write surfaces as STL, OBJ, PLY or VTP files.

A surface is any object with ``name``, ``label_value``, ``color``, ``vertices`` (N, 3) mm,
``faces`` (M, 3), ``normals`` (N, 3) and ``space`` ("LPS" or "RAS"), such as
:class:`medseg.measure.mesh.Surface`. Every file goes through :func:`atomic_output`. The formats
are written by hand:

* ``.stl``: binary STL, facet normals from the geometry;
* ``.obj``: Wavefront text with ``v``/``vn``/``f`` (1-based, ``f a//a b//b c//c``);
* ``.ply``: binary little-endian PLY with float32 position and normal, uchar RGB per vertex;
* ``.vtp``: VTK XML PolyData, inline base64 ``binary`` arrays (UInt32 headers), with point
  normals: plain XML text that VTK, ParaView and Slicer read. No VTK import.

Coordinates are the surface's (LPS mm by default, RAS with ``--ras``); each file says which in
its header or a comment.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import ParameterError
from .atomic import atomic_output, check_output_path, output_group

FORMATS = ("stl", "obj", "ply", "vtp")



def _fmt(path: str | os.PathLike) -> str:
    ext = Path(path).suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise ParameterError(f"{path}: unknown mesh format '.{ext}'; use one of {', '.join('.' + f for f in FORMATS)}")
    return ext


def write_mesh(surface: Surface, path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Write one surface; the format follows the extension (.stl, .obj, .ply, .vtp)."""
    writer = {"stl": _write_stl, "obj": _write_obj, "ply": _write_ply, "vtp": _write_vtp}[_fmt(path)]
    with atomic_output(path, inputs) as tmp:
        writer(surface, tmp)
    return Path(path)


#: Longest file stem :func:`safe_name` gives (file systems allow 255 bytes per name, with the
#: suffix, the label value and the writer's temporary-name prefix still to come).
MAX_STEM = 100
#: Names Windows reserves for devices; a segment called so gets a trailing underscore.
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def safe_name(name: str) -> str:
    """A file-name-safe version of a segment name: ASCII letters, digits, ``._-``, at most
    :data:`MAX_STEM` characters (a longer name is cut and given a short hash of the full name,
    so two long names stay apart)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._") or "segment"
    if len(stem) > MAX_STEM:
        digest = hashlib.sha1(str(name).encode("utf-8", "replace")).hexdigest()[:8]
        stem = f"{stem[:MAX_STEM - 9].rstrip('._-')}-{digest}"
    if stem.split(".")[0].upper() in _RESERVED:
        stem += "_"
    return stem


def mesh_paths(surfaces: Sequence[Surface], out_dir: str | os.PathLike, fmt: str = "stl") -> list[Path]:
    """The file each surface goes to: ``out_dir/<name>.<fmt>`` (``<name>-<value>`` where names repeat)."""
    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ParameterError(f"unknown mesh format '{fmt}'; use one of {', '.join(FORMATS)}")
    stems = [safe_name(s.name) for s in surfaces]
    return [Path(out_dir) / f"{f'{stem}-{s.label_value}' if stems.count(stem) > 1 else stem}.{fmt}"
            for s, stem in zip(surfaces, stems)]


def write_meshes(surfaces: Sequence[Surface], out_dir: str | os.PathLike, fmt: str = "stl",
                 inputs: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """Write each surface as ``out_dir/<name>.<fmt>`` (``<name>-<value>`` where names repeat).

    All of them or none: every path is checked first, then each file is written to its temporary
    file and only when all are written are they renamed into place (:func:`output_group`).
    """
    paths = mesh_paths(surfaces, out_dir, fmt)
    inputs = list(inputs)
    for path in paths:
        check_output_path(path, inputs)
    with output_group():
        for surface, path in zip(surfaces, paths):
            write_mesh(surface, path, inputs)
    return paths


def _describe(s: Surface) -> str:
    return f"MedSeg surface '{s.name}' (label {s.label_value}), {s.space} mm"


def _write_stl(s: Surface, path: Path) -> None:
    tri = s.vertices[s.faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-30)
    rec = np.zeros(len(s.faces), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")])
    rec["n"], rec["v"] = normals, tri
    header = _describe(s).encode("ascii", "replace")[:80].ljust(80, b" ")
    with open(path, "wb") as fh:
        fh.write(header)
        fh.write(np.uint32(len(s.faces)).tobytes())
        fh.write(rec.tobytes())


def _write_obj(s: Surface, path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(f"# {_describe(s)}\n# vertices {len(s.vertices)} faces {len(s.faces)}\no {safe_name(s.name)}\n")
        np.savetxt(fh, s.vertices, fmt="v %.6f %.6f %.6f")
        np.savetxt(fh, s.normals, fmt="vn %.6f %.6f %.6f")
        f = s.faces + 1
        np.savetxt(fh, np.repeat(f, 2, axis=1), fmt="f %d//%d %d//%d %d//%d")


def _write_ply(s: Surface, path: Path) -> None:
    vert = np.zeros(len(s.vertices), dtype=[("p", "<f4", 3), ("n", "<f4", 3), ("rgb", "u1", 3)])
    vert["p"], vert["n"], vert["rgb"] = s.vertices, s.normals, s.color
    face = np.zeros(len(s.faces), dtype=[("count", "u1"), ("idx", "<i4", 3)])
    face["count"], face["idx"] = 3, s.faces
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"comment {_describe(s)}\n"
              f"element vertex {len(s.vertices)}\n"
              "property float x\nproperty float y\nproperty float z\n"
              "property float nx\nproperty float ny\nproperty float nz\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\n"
              f"element face {len(s.faces)}\nproperty list uchar int vertex_indices\nend_header\n")
    with open(path, "wb") as fh:
        fh.write(header.encode("ascii", "replace"))
        fh.write(vert.tobytes())
        fh.write(face.tobytes())


def _b64(array: np.ndarray) -> str:
    raw = np.ascontiguousarray(array).tobytes()
    return base64.b64encode(np.uint32(len(raw)).tobytes() + raw).decode("ascii")


def _write_vtp(s: Surface, path: Path) -> None:
    n, m = len(s.vertices), len(s.faces)

    def array(name: str, dtype: str, data: np.ndarray, comps: int = 1) -> str:
        comp = f' NumberOfComponents="{comps}"' if comps > 1 else ""
        return f'<DataArray type="{dtype}" Name="{name}"{comp} format="binary">{_b64(data)}</DataArray>'

    xml = "\n".join([
        '<?xml version="1.0"?>',
        f"<!-- {_describe(s).replace('--', '-')} -->",
        '<VTKFile type="PolyData" version="0.1" byte_order="LittleEndian" header_type="UInt32">',
        "<PolyData>",
        f'<FieldData><Array type="String" Name="SegmentName" NumberOfTuples="1" format="ascii">'
        f"{' '.join(str(b) for b in s.name.encode('utf-8'))} 0</Array></FieldData>" if s.name else "",
        f'<Piece NumberOfPoints="{n}" NumberOfVerts="0" NumberOfLines="0" NumberOfStrips="0" NumberOfPolys="{m}">',
        f'<PointData Normals="Normals">{array("Normals", "Float32", s.normals.astype("<f4"), 3)}</PointData>',
        f'<Points>{array("Points", "Float32", s.vertices.astype("<f4"), 3)}</Points>',
        "<Polys>",
        array("connectivity", "Int64", s.faces.astype("<i8").ravel()),
        array("offsets", "Int64", np.arange(3, 3 * m + 1, 3, dtype="<i8")),
        "</Polys>",
        "</Piece>",
        "</PolyData>",
        "</VTKFile>",
        "",
    ])
    path.write_text(xml, encoding="utf-8")


__all__ = ["FORMATS", "MAX_STEM", "mesh_paths", "write_mesh", "write_meshes", "safe_name"]
