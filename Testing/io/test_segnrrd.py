"""seg.nrrd writer/reader, checked against Slicer's own vtkMRMLSegmentationStorageNode (slicer-core)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import slicer  # noqa: F401  (slicer-core is required: fail, never skip)
import vtk
from slicer_fixtures import (LPS_TO_RAS, headless_app, ijk_to_ras, oriented_image_array,  # noqa: F401
                             oriented_image_from_mask, vtk_matrix_to_numpy)

from medseg import labels
from medseg.errors import GeometryError, InputError, OutputError, ParameterError
from medseg.io.segnrrd import SegNrrd, read_seg_nrrd, write_seg_nrrd

SIZE_XYZ = (40, 32, 24)
SEGMENTS = [labels.BODY, labels.LUNG_RIGHT, labels.BONE]


def _grid(array_zyx: np.ndarray) -> sitk.Image:
    """Flipped x, oblique-free but non-identity direction, non-zero origin, anisotropic spacing."""
    image = sitk.GetImageFromArray(array_zyx)
    image.SetSpacing((0.8, 1.2, 2.5))
    image.SetOrigin((12.5, -30.0, 7.0))
    image.SetDirection((-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    return image


def _labelmap() -> sitk.Image:
    arr = np.zeros(SIZE_XYZ[::-1], dtype=np.uint8)  # (z, y, x)
    arr[2:20, 4:28, 3:36] = labels.BODY.value
    arr[5:12, 8:16, 6:18] = labels.LUNG_RIGHT.value
    arr[14:18, 20:26, 25:33] = labels.BONE.value
    arr[0, 0, 0] = labels.BONE.value  # a voxel on the grid corner catches off-by-one geometry
    return _grid(arr)


def _body_and_organs() -> tuple[sitk.Image, sitk.Image]:
    body = np.zeros(SIZE_XYZ[::-1], dtype=np.uint8)
    body[1:22, 2:30, 2:38] = labels.BODY.value
    organs = sitk.GetArrayFromImage(_labelmap())
    organs[organs == labels.BODY.value] = 0
    organs[0, 0, 0] = 0
    return _grid(body), _grid(organs)


def _read_with_slicer(app, path):
    node = app.scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    storage = app.scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    node.SetAndObserveStorageNodeID(storage.GetID())
    storage.SetFileName(str(path))
    assert storage.ReadData(node) == 1
    return node


def _slicer_segments(app, node) -> dict[str, tuple[tuple[float, ...], np.ndarray, object]]:
    """name -> (colour, binary (z, y, x) array on the exported extent, exported vtkOrientedImageData)."""
    segmentation = node.GetSegmentation()
    out = {}
    for i in range(segmentation.GetNumberOfSegments()):
        seg_id = segmentation.GetNthSegmentID(i)
        segment = segmentation.GetSegment(seg_id)
        # The node's getter returns a true 0/1 copy of the segment. (The Segmentations logic's
        # GetSegmentBinaryLabelmapRepresentation returns the layer's shared labelmap, with every
        # segment of the layer at its own label value.)
        image = slicer.vtkOrientedImageData()
        assert node.GetBinaryLabelmapRepresentation(seg_id, image)
        shared = slicer.vtkOrientedImageData()
        assert app.segmentations_logic.GetSegmentBinaryLabelmapRepresentation(node, seg_id, shared)
        assert np.array_equal(oriented_image_array(shared) == segment.GetLabelValue(),
                              oriented_image_array(image).astype(bool))
        out[segment.GetName()] = (tuple(segment.GetColor()), oriented_image_array(image), image)
    return out


def _check_slicer_segment(image, binary: np.ndarray, expected_mask: np.ndarray, grid: sitk.Image) -> None:
    """The segment Slicer loaded has our voxels at our positions, in RAS."""
    assert np.count_nonzero(binary) == np.count_nonzero(expected_mask)
    world = vtk.vtkMatrix4x4()
    image.GetImageToWorldMatrix(world)
    np.testing.assert_allclose(vtk_matrix_to_numpy(world), ijk_to_ras(grid), atol=1e-6)
    if binary.size:
        e = image.GetExtent()  # indices on our grid (Slicer keeps the extent offset)
        window = expected_mask[e[4]:e[5] + 1, e[2]:e[3] + 1, e[0]:e[1] + 1]
        np.testing.assert_array_equal(binary.astype(bool), window)


def test_slicer_reads_our_file(headless_app, tmp_path):
    labelmap = _labelmap()
    arr = sitk.GetArrayFromImage(labelmap)
    path = tmp_path / "labels.seg.nrrd"
    write_seg_nrrd(labelmap, path, SEGMENTS + [labels.AIRWAY])  # airway: given but empty
    node = _read_with_slicer(headless_app, path)
    segments = _slicer_segments(headless_app, node)
    assert list(segments) == [s.name for s in SEGMENTS] + ["airway"]
    for label in SEGMENTS + [labels.AIRWAY]:
        color, binary, image = segments[label.name]
        np.testing.assert_allclose(color, label.color_float, atol=1e-3)
        _check_slicer_segment(image, binary, arr == label.value, labelmap)
    # the RAS geometry is our LPS geometry with x and y negated
    ras = ijk_to_ras(labelmap)
    np.testing.assert_allclose(ras[:3, 3], [-12.5, 30.0, 7.0])
    np.testing.assert_allclose(ras[:3, :3], np.diag([0.8, -1.2, 2.5]))
    assert node.GetSegmentation().GetSegment(node.GetSegmentation().GetNthSegmentID(0)).GetLabelValue() == 1


def test_we_read_slicers_file(headless_app, tmp_path):
    labelmap = _labelmap()
    arr = sitk.GetArrayFromImage(labelmap)
    node = headless_app.scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    segmentation = node.GetSegmentation()
    for label in SEGMENTS:
        seg_id = segmentation.AddEmptySegment(label.name, label.name, label.color_float)
        mask_image = oriented_image_from_mask(arr == label.value, labelmap)
        assert headless_app.segmentations_logic.SetBinaryLabelmapToSegment(mask_image, node, seg_id)
    storage = headless_app.scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    node.SetAndObserveStorageNodeID(storage.GetID())
    path = tmp_path / "slicer.seg.nrrd"
    storage.SetFileName(str(path))
    assert storage.WriteData(node) == 1

    seg = read_seg_nrrd(path)
    assert [s.name for s in seg.segments] == [s.name for s in SEGMENTS]
    for info, label in zip(seg.segments, SEGMENTS):
        np.testing.assert_allclose(info.color, label.color_float, atol=1e-3)
        mask = _on_grid(seg.mask(info), seg.layers[info.layer], labelmap)
        np.testing.assert_array_equal(mask, arr == label.value)


def _on_grid(mask: np.ndarray, image: sitk.Image, grid: sitk.Image) -> np.ndarray:
    """Paste a mask read on a (cropped) sub-grid of ``grid`` back onto ``grid`` (same axes and spacing)."""
    np.testing.assert_allclose(image.GetSpacing(), grid.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(image.GetDirection(), grid.GetDirection(), atol=1e-6)
    continuous = grid.TransformPhysicalPointToContinuousIndex(image.GetOrigin())
    offset = np.round(continuous).astype(int)
    np.testing.assert_allclose(continuous, offset, atol=1e-4)
    out = np.zeros(sitk.GetArrayViewFromImage(grid).shape, dtype=bool)
    x, y, z = offset
    out[z:z + mask.shape[0], y:y + mask.shape[1], x:x + mask.shape[2]] = mask
    return out


def test_slicer_overlapping_segments_read_as_layers(headless_app, tmp_path):
    body, organs = _body_and_organs()
    body_mask = sitk.GetArrayFromImage(body) > 0
    lung_mask = sitk.GetArrayFromImage(organs) == labels.LUNG_RIGHT.value
    node = headless_app.scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    segmentation = node.GetSegmentation()
    for label, mask in ((labels.BODY, body_mask), (labels.LUNG_RIGHT, lung_mask)):
        seg_id = segmentation.AddEmptySegment(label.name, label.name, label.color_float)
        assert headless_app.segmentations_logic.SetBinaryLabelmapToSegment(
            oriented_image_from_mask(mask, body), node, seg_id)
    assert segmentation.GetNumberOfLayers() == 2
    storage = headless_app.scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    node.SetAndObserveStorageNodeID(storage.GetID())
    path = tmp_path / "overlap.seg.nrrd"
    storage.SetFileName(str(path))
    assert storage.WriteData(node) == 1

    seg = read_seg_nrrd(path)
    assert len(seg.layers) == 2 and seg.image is None
    assert [(s.name, s.layer) for s in seg.segments] == [("body", 0), ("lung-right", 1)]
    for info, mask in zip(seg.segments, (body_mask, lung_mask)):
        np.testing.assert_array_equal(_on_grid(seg.mask(info), seg.layers[info.layer], body), mask)


def test_overlapping_layers_round_trip(headless_app, tmp_path):
    body, organs = _body_and_organs()
    path = tmp_path / "layers.seg.nrrd"
    organ_labels = [labels.LUNG_RIGHT, labels.BONE]
    write_seg_nrrd(body, path, [labels.BODY], layers=[(organs, organ_labels)])

    seg = read_seg_nrrd(path)
    assert len(seg.layers) == 2 and seg.image is None
    assert [(s.name, s.label_value, s.layer) for s in seg.segments] == [
        ("body", 1, 0), ("lung-right", 3, 1), ("bone", 6, 1)]
    for layer, original in zip(seg.layers, (body, organs)):
        np.testing.assert_array_equal(sitk.GetArrayFromImage(layer), sitk.GetArrayFromImage(original))
        _assert_same_geometry(layer, original)
    merged = sitk.GetArrayFromImage(seg.merged())
    expected = sitk.GetArrayFromImage(body)
    organ_arr = sitk.GetArrayFromImage(organs)
    expected[organ_arr > 0] = organ_arr[organ_arr > 0]
    np.testing.assert_array_equal(merged, expected)

    # Slicer sees body overlapping the organs
    segments = _slicer_segments(headless_app, _read_with_slicer(headless_app, path))
    assert list(segments) == ["body", "lung-right", "bone"]
    for name, source, value in (("body", body, 1), ("lung-right", organs, 3), ("bone", organs, 6)):
        color, binary, image = segments[name]
        np.testing.assert_allclose(color, labels.by_name(name).color_float, atol=1e-3)
        _check_slicer_segment(image, binary, sitk.GetArrayFromImage(source) == value, body)


def _assert_same_geometry(a: sitk.Image, b: sitk.Image) -> None:
    assert a.GetSize() == b.GetSize()
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-9)
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-9)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), atol=1e-9)


def test_pure_round_trip(tmp_path):
    labelmap = _labelmap()
    path = tmp_path / "labels.seg.nrrd"
    assert write_seg_nrrd(labelmap, path, segments=SEGMENTS) == path
    seg = read_seg_nrrd(path)
    assert isinstance(seg, SegNrrd) and len(seg.layers) == 1
    assert seg.image.GetPixelID() == sitk.sitkUInt8
    np.testing.assert_array_equal(sitk.GetArrayFromImage(seg.image), sitk.GetArrayFromImage(labelmap))
    _assert_same_geometry(seg.image, labelmap)
    assert seg.labels == SEGMENTS
    assert [s.layer for s in seg.segments] == [0, 0, 0]
    assert [s.id for s in seg.segments] == ["Segment_1", "Segment_3", "Segment_6"]
    np.testing.assert_array_equal(seg.mask("bone"), sitk.GetArrayFromImage(labelmap) == 6)
    assert seg.merged() is seg.image


def test_unknown_values_get_default_names(tmp_path):
    arr = np.zeros((4, 5, 6), dtype=np.uint8)
    arr[1, 1, 1] = 42
    write_seg_nrrd(_grid(arr), tmp_path / "x.seg.nrrd")
    (info,) = read_seg_nrrd(tmp_path / "x.seg.nrrd").segments
    assert (info.name, info.label_value) == ("label-42", 42)  # no file named it: no borrowed auto-label name
    assert all(0.0 <= c <= 1.0 for c in info.color)


def test_refuses_to_overwrite_input(tmp_path):
    path = tmp_path / "in.seg.nrrd"
    write_seg_nrrd(_labelmap(), path)
    before = path.read_bytes()
    with pytest.raises(OutputError):
        write_seg_nrrd(_labelmap(), path, inputs=[path])
    assert path.read_bytes() == before


def test_bad_arguments(tmp_path):
    labelmap = _labelmap()
    with pytest.raises(ParameterError):  # bone (6) is in the image but has no segment
        write_seg_nrrd(labelmap, tmp_path / "a.seg.nrrd", [labels.BODY, labels.LUNG_RIGHT])
    other = sitk.Image(10, 10, 10, sitk.sitkUInt8)
    with pytest.raises(GeometryError):
        write_seg_nrrd(labelmap, tmp_path / "b.seg.nrrd", layers=[(other, None)])
    assert not list(tmp_path.iterdir())


def test_non_seg_files_raise_input_error(tmp_path):
    plain = tmp_path / "plain.nrrd"
    sitk.WriteImage(_labelmap(), str(plain))
    with pytest.raises(InputError, match="not a segmentation"):
        read_seg_nrrd(plain)
    text = tmp_path / "notes.seg.nrrd"
    text.write_text("hello\n")
    with pytest.raises(InputError):
        read_seg_nrrd(text)
    with pytest.raises(InputError):
        read_seg_nrrd(tmp_path / "missing.seg.nrrd")
