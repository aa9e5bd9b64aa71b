"""Move data between medseg's objects and MRML nodes (no Qt; Slicer or slicer-core).

* volume node <-> ``SimpleITK.Image``: SimpleITK holds LPS, MRML holds RAS, and
  ``RAS = diag(-1, -1, 1) · LPS`` for both the origin and every axis direction. Spacing, origin
  and axis directions are set separately (not through a 4x4 matrix), so a round trip is exact.
* label image <-> segmentation node: one segment per label value, named and coloured from a
  label table, with DICOM terminology for the auto-labels, the source volume as reference
  geometry, and a closed surface for the 3D view. Back: a label image on the volume's grid.
* rows (list of dicts) -> ``vtkMRMLTableNode``; :class:`medseg.measure.mesh.Surface` -> model nodes.
* every new node is placed in the subject hierarchy beside its input (under the input's study).

Only module logics' own methods and node methods are used, never ``slicer.util`` helpers that
need ``slicer.modules`` (absent under slicer-core).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import SimpleITK as sitk
import slicer
import vtk
from vtk.util import numpy_support

from ..errors import GeometryError, ParameterError
from ..labels import Label, label_table
from .hierarchy import place_beside, place_in_study, sh_item, subject_hierarchy  # noqa: F401  (one import for callers)
from .outputs import rows_to_table_node, surface_to_polydata, surfaces_to_model_nodes, table_node_to_rows

#: LPS <-> RAS: negate x and y (its own inverse).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])

#: Segment tag holding the label value a segment came from, so an export gives the same values back.
LABEL_VALUE_TAG = "MedSeg.LabelValue"

#: MedSeg's terms (SNOMED CT codes), as Slicer's extensions ship theirs; the module loads the file into
#: Slicer's Terminologies module, so the segment editor shows them. The table/headrest has no code.
TERMINOLOGY_FILE = Path(__file__).resolve().parents[1] / "resources" / "terminology" / \
    "SegmentationCategoryTypeModifier-MedSeg.term.json"
_REGION_CONTEXT = "Anatomic codes - DICOM master list"


def _code(entry: dict) -> str:
    return f"{entry['CodingSchemeDesignator']}^{entry['CodeValue']}^{entry['CodeMeaning']}"


@lru_cache(maxsize=None)
def _terms() -> dict:
    """{segment name: (category, type, modifier)} as "SCT^code^meaning" triplets, from the .term.json."""
    data = json.loads(TERMINOLOGY_FILE.read_text(encoding="utf-8"))
    out = {}
    for category in data["SegmentationCodes"]["Category"]:
        for type_ in category["Type"]:
            out[type_["3dSlicerLabel"]] = (_code(category), _code(type_), "")
            for modifier in type_.get("Modifier", []):
                out[modifier["3dSlicerLabel"]] = (_code(category), _code(type_), _code(modifier))
    return {"context": data["SegmentationCategoryTypeContextName"], "terms": out}


# --- volumes -------------------------------------------------------------------------------------

def _vtk_matrix(m: np.ndarray) -> vtk.vtkMatrix4x4:
    out = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            out.SetElement(r, c, float(m[r, c]))
    return out


def ijk_to_ras(image: sitk.Image) -> np.ndarray:
    """4x4 matrix from voxel index (i, j, k) = (x, y, z) to RAS mm, for a SimpleITK (LPS) image."""
    m = np.eye(4)
    m[:3, :3] = LPS_TO_RAS @ np.asarray(image.GetDirection()).reshape(3, 3) @ np.diag(image.GetSpacing())
    m[:3, 3] = LPS_TO_RAS @ np.asarray(image.GetOrigin())
    return m


def _array_to_vtk_image(array: np.ndarray, image_data=None):
    """(z, y, x) array -> vtkImageData (or the given subclass instance) with origin 0 and spacing 1, a deep copy."""
    image_data = image_data if image_data is not None else vtk.vtkImageData()
    image_data.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
    scalars = numpy_support.numpy_to_vtk(np.ascontiguousarray(array).ravel(), deep=True)
    scalars.SetName("ImageScalars")
    image_data.GetPointData().SetScalars(scalars)
    return image_data


def image_data_to_array(image_data, allow_empty: bool = False) -> np.ndarray:
    """Scalars of a vtkImageData (or vtkOrientedImageData) as a (z, y, x) array (a copy).

    An image with no voxels (an empty segment's labelmap) gives a (0, 0, 0) array when
    ``allow_empty``, else :class:`GeometryError`.
    """
    e = image_data.GetExtent()
    shape = (e[5] - e[4] + 1, e[3] - e[2] + 1, e[1] - e[0] + 1)
    scalars = image_data.GetPointData().GetScalars()
    if scalars is None or min(shape) <= 0:
        if allow_empty:
            return np.zeros((0, 0, 0), dtype=np.uint8)
        raise GeometryError("the MRML node holds no voxels")
    return numpy_support.vtk_to_numpy(scalars).reshape(shape).copy()


def image_to_volume_node(scene, image: sitk.Image, name: str = "volume", node=None,
                         class_name: str = "vtkMRMLScalarVolumeNode", window: tuple[float, float] | None = None):
    """Put a 3D scalar SimpleITK image (LPS) into a volume node (RAS); returns the node.

    ``node``: an existing volume node to fill (its display is kept); else a new ``class_name`` node
    named ``name`` (unique in the scene). ``window``: (centre, width) in image units (HU), else
    Slicer's automatic window. The voxel type is kept (int16 stays int16).
    """
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ParameterError(f"expected a 3D scalar image, got {image.GetDimension()}D with "
                             f"{image.GetNumberOfComponentsPerPixel()} components")
    if node is None:
        node = scene.AddNewNodeByClass(class_name, scene.GenerateUniqueName(name))
    node.SetAndObserveImageData(_array_to_vtk_image(sitk.GetArrayViewFromImage(image)))
    node.SetSpacing(*image.GetSpacing())
    node.SetOrigin(*(LPS_TO_RAS @ np.asarray(image.GetOrigin())))
    axes = LPS_TO_RAS @ np.asarray(image.GetDirection()).reshape(3, 3)  # columns: i, j, k in RAS
    node.SetIToRASDirection(*axes[:, 0])
    node.SetJToRASDirection(*axes[:, 1])
    node.SetKToRASDirection(*axes[:, 2])
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    if window is not None and display is not None and hasattr(display, "SetWindowLevel"):
        display.AutoWindowLevelOff()
        display.SetWindowLevel(float(window[1]), float(window[0]))
    return node


def volume_geometry(node) -> tuple[tuple, tuple, tuple]:
    """(spacing, origin, direction) of a volume node in SimpleITK's LPS terms."""
    if node.GetParentTransformNode() is not None:
        raise GeometryError(f"volume {node.GetName()!r} is under a transform; harden it first (Data module)")
    axes = np.zeros((3, 3))
    for c, getter in enumerate((node.GetIToRASDirection, node.GetJToRASDirection, node.GetKToRASDirection)):
        v = [0.0, 0.0, 0.0]
        getter(v)
        axes[:, c] = v
    direction = LPS_TO_RAS @ axes
    origin = LPS_TO_RAS @ np.asarray(node.GetOrigin())
    return tuple(node.GetSpacing()), tuple(float(o) for o in origin), tuple(float(d) for d in direction.ravel())


def volume_node_to_image(node) -> sitk.Image:
    """The voxels of a volume node as a SimpleITK image in LPS (a copy; the node is not changed)."""
    if node is None or node.GetImageData() is None:
        raise ParameterError("no volume selected, or the volume holds no voxels")
    image = sitk.GetImageFromArray(image_data_to_array(node.GetImageData()))
    spacing, origin, direction = volume_geometry(node)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(direction)
    return image


# --- segmentations -------------------------------------------------------------------------------

def terminology(name: str) -> str | None:
    """Slicer's serialized terminology entry for an auto-label name, or None when it has no code."""
    terms = _terms()
    found = terms["terms"].get(name)
    if found is None:
        return None
    category, type_, modifier = found
    return f"{terms['context']}~{category}~{type_}~{modifier or '^^'}~{_REGION_CONTEXT}~^^~^^"


def _oriented_image(array: np.ndarray, matrix: np.ndarray):
    image = _array_to_vtk_image(array, slicer.vtkOrientedImageData())
    image.SetImageToWorldMatrix(_vtk_matrix(matrix))
    return image


def labels_to_segmentation_node(scene, labels: sitk.Image, names: Sequence[Label] | Mapping[int, str] | None = None,
                                 reference_volume=None, name: str = "segmentation", node=None,
                                 closed_surface: bool = True):
    """One segment per non-zero value of ``labels``, named and coloured from ``names``; returns the node.

    ``names``: Labels or {value: name}, as :func:`medseg.labels.label_table` takes them (default: ``label-N``). ``reference_volume``: the
    volume the labels were made on; it becomes the segmentation's reference geometry and the node
    goes beside it in the subject hierarchy. ``node``: an existing segmentation node to replace the
    segments of. ``closed_surface``: also build the closed surface shown in 3D views.
    """
    arr = sitk.GetArrayViewFromImage(labels)
    if arr.dtype.kind not in "iub":
        raise ParameterError(f"labels must be integers, got {labels.GetPixelIDTypeAsString()}")
    values = [int(v) for v in np.unique(arr) if v != 0]
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", scene.GenerateUniqueName(name))
    node.GetSegmentation().RemoveAllSegments()
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    if reference_volume is not None:
        node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume)
        place_beside(scene, node, reference_volume)
    # int16 holds every value a label map of ours uses and is the type Slicer's labelmaps have.
    image = _oriented_image(arr.astype(np.int16), ijk_to_ras(labels))
    if values and not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(image, node, ""):
        raise GeometryError("Slicer could not import the label image into a segmentation")
    segmentation = node.GetSegmentation()
    table = {lab.value: lab for lab in label_table(values, names)}
    for i in range(segmentation.GetNumberOfSegments()):
        segment = segmentation.GetNthSegment(i)
        label = table.get(segment.GetLabelValue())
        if label is None:
            continue
        segment.SetName(label.name)
        segment.SetColor(*label.color_float)
        segment.SetTag(LABEL_VALUE_TAG, str(label.value))
        term = terminology(label.name)
        if term:
            # What vtkSegment.SetTerminology does (Slicer 5.10+); 5.8's vtkSegment has only the tag.
            segment.SetTag(segment.GetTerminologyEntryTagName(), term)
    if closed_surface and values:
        node.CreateClosedSurfaceRepresentation()
    return node


def segment_label_values(node) -> dict[str, int]:
    """{segment ID: label value}: the value each segment was imported with, else its 1-based position."""
    segmentation = node.GetSegmentation()
    out = {}
    for i in range(segmentation.GetNumberOfSegments()):
        seg_id = segmentation.GetNthSegmentID(i)
        tag = vtk.reference("")
        has_tag = segmentation.GetSegment(seg_id).GetTag(LABEL_VALUE_TAG, tag)
        out[seg_id] = int(str(tag)) if has_tag and str(tag).strip() else i + 1
    return out


def segmentation_node_to_labels(node, reference_volume=None, segment_ids: Sequence[str] | None = None
                                ) -> tuple[sitk.Image, dict[int, str]]:
    """Export segments to one label image on ``reference_volume``'s grid; returns (labels, {value: name}).

    Values are those the segments were imported with (:func:`segment_label_values`). Where segments
    overlap, the later one wins. ``reference_volume`` defaults to the segmentation's reference volume.
    """
    reference_volume = reference_volume or node.GetNodeReference(
        slicer.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole())
    if reference_volume is None or reference_volume.GetImageData() is None:
        raise ParameterError(f"segmentation {node.GetName()!r} has no reference volume; pass one")
    spacing, origin, direction = volume_geometry(reference_volume)
    geometry_image = sitk.Image([1, 1, 1], sitk.sitkUInt8)
    geometry_image.SetSpacing(spacing)
    geometry_image.SetOrigin(origin)
    geometry_image.SetDirection(direction)
    geometry = slicer.vtkOrientedImageData()
    geometry.SetExtent(reference_volume.GetImageData().GetExtent())
    geometry.SetImageToWorldMatrix(_vtk_matrix(ijk_to_ras(geometry_image)))
    values = segment_label_values(node)
    ids = list(segment_ids) if segment_ids is not None else list(values)
    id_array, value_array = vtk.vtkStringArray(), vtk.vtkIntArray()
    for seg_id in ids:
        id_array.InsertNextValue(seg_id)
        value_array.InsertNextValue(values[seg_id])
    merged = slicer.vtkOrientedImageData()
    if not node.GenerateMergedLabelmapForAllSegments(merged, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY,
                                                     geometry, id_array, value_array):
        raise GeometryError(f"Slicer could not export segmentation {node.GetName()!r} to a label image")
    arr = image_data_to_array(merged)
    dtype = np.uint8 if arr.max(initial=0) < 256 else np.uint16
    labels = sitk.GetImageFromArray(arr.astype(dtype))
    labels.SetSpacing(spacing)
    labels.SetOrigin(origin)
    labels.SetDirection(direction)
    segmentation = node.GetSegmentation()
    return labels, {values[i]: segmentation.GetSegment(i).GetName() for i in ids}


def segment_mask(node, segment_id: str):
    """A true 0/1 copy of one segment (``vtkOrientedImageData``; the shared layer holds every segment's value)."""
    image = slicer.vtkOrientedImageData()
    if not node.GetBinaryLabelmapRepresentation(segment_id, image):
        raise ParameterError(f"segment {segment_id!r} has no binary labelmap")
    return image
