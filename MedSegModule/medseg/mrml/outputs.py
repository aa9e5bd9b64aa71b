"""Result nodes: rows (list of dicts) -> ``vtkMRMLTableNode``, surfaces -> ``vtkMRMLModelNode``s.

Surfaces are :class:`medseg.measure.mesh.Surface`-like records (``name``, ``color`` 0-255, ``vertices``
mm, ``faces``, ``normals``, ``space`` "LPS" or "RAS"); MRML models are in RAS.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import vtk
from vtk.util import numpy_support

from .hierarchy import place_beside, sh_item, subject_hierarchy

#: Model node attribute holding the label value a surface was made from.
LABEL_VALUE_ATTRIBUTE = "MedSeg.LabelValue"


# --- tables --------------------------------------------------------------------------------------

def _column_array(values: list) -> vtk.vtkAbstractArray:
    present = [v for v in values if v is not None and v != ""]
    numeric = all(isinstance(v, (int, float, np.integer, np.floating)) for v in present)
    if numeric and present and all(isinstance(v, (int, bool, np.integer)) for v in values):
        if all(-2**31 <= int(v) < 2**31 for v in values):
            array = vtk.vtkIntArray()
            for v in values:
                array.InsertNextValue(int(v))
            return array
    if numeric and present:
        array = vtk.vtkDoubleArray()
        for v in values:
            array.InsertNextValue(math.nan if v is None or v == "" else float(v))
        return array
    array = vtk.vtkStringArray()
    for v in values:
        array.InsertNextValue("" if v is None else str(v))
    return array


def rows_to_table_node(scene, rows: Sequence[Mapping[str, Any]], name: str = "table", node=None,
                       reference_node=None):
    """A ``vtkMRMLTableNode`` with one row per dict and one column per key (first-seen order).

    Whole-number columns become integer columns, other numbers double (``None`` -> NaN), the rest
    strings. ``node``: a table node to overwrite. ``reference_node``: the node the table goes beside
    in the subject hierarchy.
    """
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name))
    table = vtk.vtkTable()
    columns: dict[str, None] = {}
    for row in rows:
        for key in row:
            columns.setdefault(key, None)
    for key in columns:
        array = _column_array([row.get(key) for row in rows])
        array.SetName(key)
        table.AddColumn(array)
    node.SetAndObserveTable(table)
    if hasattr(node, "SetUseColumnTitleAsColumnHeader"):
        node.SetUseColumnTitleAsColumnHeader(True)
    place_beside(scene, node, reference_node)
    return node


def table_node_to_rows(node) -> list[dict[str, Any]]:
    """The rows of a table node as dicts (numbers as Python numbers, NaN kept)."""
    table = node.GetTable()
    out = []
    for r in range(table.GetNumberOfRows()):
        row = {}
        for c in range(table.GetNumberOfColumns()):
            column = table.GetColumn(c)
            value = column.GetValue(r)
            row[column.GetName()] = value
        out.append(row)
    return out


# --- models --------------------------------------------------------------------------------------

def surface_to_polydata(vertices: np.ndarray, faces: np.ndarray, normals: np.ndarray | None = None,
                        space: str = "LPS") -> vtk.vtkPolyData:
    """Triangle mesh (vertices mm, faces (M, 3) indices) -> vtkPolyData in RAS.

    LPS -> RAS negates x and y of points and normals: a rotation by 180° about z, so the faces'
    winding (outward normals) is unchanged.
    """
    flip = np.array([-1.0, -1.0, 1.0]) if space.upper() == "LPS" else np.ones(3)
    points = vtk.vtkPoints()
    points.SetData(numpy_support.numpy_to_vtk(np.ascontiguousarray(np.asarray(vertices, float) * flip), deep=True))
    faces = np.asarray(faces, dtype=np.int64)
    cells = vtk.vtkCellArray()
    offsets = numpy_support.numpy_to_vtkIdTypeArray(np.arange(0, 3 * len(faces) + 1, 3, dtype=np.int64), deep=True)
    connectivity = numpy_support.numpy_to_vtkIdTypeArray(np.ascontiguousarray(faces.ravel()), deep=True)
    cells.SetData(offsets, connectivity)
    poly = vtk.vtkPolyData()
    poly.SetPoints(points)
    poly.SetPolys(cells)
    if normals is not None and len(normals) == len(vertices):
        n = numpy_support.numpy_to_vtk(np.ascontiguousarray(np.asarray(normals, float) * flip), deep=True)
        n.SetName("Normals")
        poly.GetPointData().SetNormals(n)
    return poly


def surfaces_to_model_nodes(scene, surfaces: Sequence[Any], reference_node=None, folder: str | None = None) -> list:
    """One model node per surface (``name``, ``color`` 0-255, ``vertices``, ``faces``, ``normals``, ``space``).

    The models go in a subject hierarchy folder named ``folder`` beside ``reference_node`` (or
    directly beside it when ``folder`` is None).
    """
    sh = subject_hierarchy(scene)
    parent = sh.GetSceneItemID()
    if reference_node is not None:
        parent = sh.GetItemParent(sh_item(scene, reference_node)) or parent
    if folder:
        parent = sh.CreateFolderItem(parent, folder)
    nodes = []
    for s in surfaces:
        node = scene.AddNewNodeByClass("vtkMRMLModelNode", scene.GenerateUniqueName(s.name))
        node.SetAndObservePolyData(surface_to_polydata(s.vertices, s.faces, getattr(s, "normals", None),
                                                       getattr(s, "space", "LPS")))
        node.CreateDefaultDisplayNodes()
        display = node.GetDisplayNode()
        display.SetColor(*(c / 255.0 for c in s.color))
        display.SetVisibility2D(True)  # the outline in the slice views, as segmentations show it
        node.SetAttribute(LABEL_VALUE_ATTRIBUTE, str(getattr(s, "label_value", "")))
        sh.SetItemParent(sh_item(scene, node, parent), parent)
        nodes.append(node)
    return nodes
