"""MedSegLogic and the scene adapter on a real vtkMRMLScene (slicer-core): the chest phantom and ct-abdomen-20."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import SimpleITK as sitk
import slicer  # noqa: F401  (slicer-core is required: fail, never skip)
import vtk
from slicer_fixtures import headless_app, vtk_matrix_to_numpy  # noqa: F401

from medseg import labels as L
from medseg.errors import Cancelled, GeometryError
from medseg.io import read_label_image
from medseg.measure.mesh import Surface
from medseg.mrml import scene as S
from medseg.mrml.headless import create_headless_app
from medseg.mrml.logic import MedSegLogic, list_models
from medseg.phantom import make_chest, write_phantom_study
from medseg.io import read_label_image


@pytest.fixture
def logic(headless_app):
    return MedSegLogic(headless_app.scene, headless_app.app_logic)


@pytest.fixture(scope="module")
def chest(tmp_path_factory):
    return write_phantom_study(tmp_path_factory.mktemp("chest"), seed=0)


def _names(node) -> list[str]:
    seg = node.GetSegmentation()
    return [seg.GetNthSegment(i).GetName() for i in range(seg.GetNumberOfSegments())]


def _parent(scene, node) -> int:
    sh = S.subject_hierarchy(scene)
    return sh.GetItemParent(sh.GetItemByDataNode(node))


# --- volumes -------------------------------------------------------------------------------------

def _oblique(array: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    angle = np.deg2rad(30.0)  # a rotation about an oblique axis: no axis lines up with LPS
    axis = np.array([1.0, 2.0, 2.0]) / 3.0
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
    image.SetDirection(tuple(rotation.ravel()))
    image.SetOrigin((12.5, -30.25, 7.75))
    image.SetSpacing((0.8, 1.2, 2.5))
    return image


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_volume_round_trip_is_exact_with_oblique_geometry(headless_app, dtype):
    array = (np.random.default_rng(1).normal(0, 300, (7, 6, 5))).astype(dtype)
    image = _oblique(array)
    node = S.image_to_volume_node(headless_app.scene, image, "oblique")
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    flip = np.diag([-1.0, -1.0, 1.0])
    expected = np.eye(4)
    expected[:3, :3] = flip @ np.asarray(image.GetDirection()).reshape(3, 3) @ np.diag(image.GetSpacing())
    expected[:3, 3] = flip @ np.asarray(image.GetOrigin())
    np.testing.assert_allclose(vtk_matrix_to_numpy(matrix), expected, atol=1e-12)
    # a voxel's RAS position in Slicer is its LPS position in SimpleITK with x and y negated
    lps = np.asarray(image.TransformIndexToPhysicalPoint((1, 2, 3)))
    np.testing.assert_allclose((vtk_matrix_to_numpy(matrix) @ [1, 2, 3, 1])[:3], flip @ lps, atol=1e-9)
    back = S.volume_node_to_image(node)
    assert back.GetOrigin() == image.GetOrigin() and back.GetSpacing() == image.GetSpacing()
    assert back.GetDirection() == image.GetDirection()
    assert back.GetPixelID() == image.GetPixelID()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), array)


def test_volume_under_a_transform_is_refused(headless_app):
    node = S.image_to_volume_node(headless_app.scene, _oblique(np.zeros((2, 2, 2), np.int16)))
    transform = headless_app.scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    node.SetAndObserveTransformNodeID(transform.GetID())
    with pytest.raises(GeometryError, match="harden"):
        S.volume_node_to_image(node)


# --- segmentations, tables, models ---------------------------------------------------------------

def test_labels_to_segmentation_names_colours_terminology_geometry(headless_app):
    phantom = make_chest(seed=0)
    scene = headless_app.scene
    volume = S.image_to_volume_node(scene, phantom.to_image(), "ct")
    study = S.place_in_study(scene, volume, "phantom", "chest")
    node = S.labels_to_segmentation_node(scene, phantom.labels_image(), L.AUTO_LABELS, reference_volume=volume)
    assert _names(node) == [lab.name for lab in L.AUTO_LABELS]
    seg = node.GetSegmentation()
    for i, lab in enumerate(L.AUTO_LABELS):
        segment = seg.GetNthSegment(i)
        np.testing.assert_allclose(segment.GetColor(), lab.color_float, atol=1e-6)
        mask = S.image_data_to_array(S.segment_mask(node, seg.GetNthSegmentID(i)))
        assert np.count_nonzero(mask) == np.count_nonzero(phantom.labels == lab.value)
    left = seg.GetSegment(seg.GetSegmentIdBySegmentName("lung-left"))
    lung = left.GetTerminology()  # slicer-core is 5.10+; on 5.8 MedSeg sets the same tag without this method
    assert lung == S.terminology("lung-left")
    assert lung.startswith("Segmentation category and type - MedSeg~SCT^123037004^Anatomical Structure~")
    assert "SCT^39607008^Lung" in lung and "SCT^7771000^Left" in lung
    bone = seg.GetSegment(seg.GetSegmentIdBySegmentName("bone")).GetTerminology()
    assert "SCT^85756007^Tissue~SCT^272673000^Bone" in bone
    assert S.terminology("table-headrest") is None  # no code: Slicer's default entry stays
    assert seg.ContainsRepresentation("Closed surface")
    assert node.GetNodeReference(node.GetReferenceImageGeometryReferenceRole()) is volume
    assert _parent(scene, node) == study


def test_segmentation_exports_back_exactly(headless_app):
    phantom = make_chest(seed=1)
    image = phantom.to_image()
    volume = S.image_to_volume_node(headless_app.scene, image)
    node = S.labels_to_segmentation_node(headless_app.scene, phantom.labels_image(), L.AUTO_LABELS, reference_volume=volume,
                                         closed_surface=False)
    labels, names = S.segmentation_node_to_labels(node)
    assert names == {lab.value: lab.name for lab in L.AUTO_LABELS}
    np.testing.assert_array_equal(sitk.GetArrayFromImage(labels), phantom.labels)
    assert labels.GetOrigin() == image.GetOrigin() and labels.GetDirection() == image.GetDirection()
    seg = node.GetSegmentation()
    only = [seg.GetSegmentIdBySegmentName("bone")]
    bone, names = S.segmentation_node_to_labels(node, volume, only)
    assert names == {6: "bone"}
    np.testing.assert_array_equal(sitk.GetArrayFromImage(bone) == 6, phantom.labels == 6)


def test_rows_to_table_node_keeps_types_and_order(headless_app):
    rows = [{"segment": "a", "label_value": 1, "volume_ml": 1.5, "note": None},
            {"segment": "b", "label_value": 2, "volume_ml": None, "extra": "x"}]
    node = S.rows_to_table_node(headless_app.scene, rows, "t")
    table = node.GetTable()
    assert [table.GetColumn(c).GetName() for c in range(table.GetNumberOfColumns())] == \
        ["segment", "label_value", "volume_ml", "note", "extra"]
    assert isinstance(table.GetColumnByName("label_value"), vtk.vtkIntArray)
    assert isinstance(table.GetColumnByName("volume_ml"), vtk.vtkDoubleArray)
    back = S.table_node_to_rows(node)
    assert back[0]["volume_ml"] == 1.5 and np.isnan(back[1]["volume_ml"]) and back[1]["extra"] == "x"


def test_surfaces_become_models_in_ras(headless_app):
    vertices = np.array([[10.0, 20.0, 30.0], [11.0, 20.0, 30.0], [10.0, 21.0, 30.0], [10.0, 20.0, 31.0]])
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    normals = vertices - vertices.mean(axis=0)
    surface = Surface("bone", 6, (241, 214, 145), vertices, faces, normals)
    volume = S.image_to_volume_node(headless_app.scene, make_chest(shape=(4, 16, 16)).to_image())
    (model,) = S.surfaces_to_model_nodes(headless_app.scene, [surface], reference_node=volume, folder="models")
    points = np.array([model.GetPolyData().GetPoint(i) for i in range(4)])
    np.testing.assert_allclose(points, vertices * [-1, -1, 1])
    assert model.GetPolyData().GetNumberOfPolys() == 4
    np.testing.assert_allclose(model.GetDisplayNode().GetColor(), np.array(surface.color) / 255)
    sh = S.subject_hierarchy(headless_app.scene)
    assert sh.GetItemName(_parent(headless_app.scene, model)) == "models"


# --- MedSegLogic on the chest phantom -------------------------------------------------------------

def test_convert_dicom_puts_hu_under_a_study(logic, chest):
    volume = logic.convertDicom(chest["dicom"])
    np.testing.assert_array_equal(sitk.GetArrayFromImage(S.volume_node_to_image(volume)), chest["phantom"].hu)
    sh = S.subject_hierarchy(logic.scene)
    assert sh.GetItemLevel(_parent(logic.scene, volume)) == "Study"
    assert volume.GetAttribute("MedSeg.IsHU") == "True" and logic.lastConversion["modality"] == "CT"
    assert (volume.GetDisplayNode().GetWindow(), volume.GetDisplayNode().GetLevel()) == (400.0, 40.0)


def test_remove_table_on_the_phantom(logic, chest):
    volume = logic.convertDicom(chest["dicom"])
    cleaned, node = logic.removeTable(volume)
    assert _names(node) == ["body", "table-headrest"]
    labels, _ = logic.segmentationToLabels(node, volume)
    body, truth = sitk.GetArrayFromImage(labels) == 1, chest["phantom"].masks["body"]
    assert 2 * np.count_nonzero(body & truth) / (body.sum() + truth.sum()) >= 0.99
    assert np.all(sitk.GetArrayFromImage(S.volume_node_to_image(cleaned))[chest["phantom"].masks["table-headrest"]] == -1024)
    assert _parent(logic.scene, cleaned) == _parent(logic.scene, node) == _parent(logic.scene, volume)


def test_segment_lungs_on_the_phantom(logic, chest):
    volume = logic.convertDicom(chest["dicom"])
    node = logic.segmentLungs(volume, split=True)
    assert _names(node) == ["lung-right", "lung-left"]
    labels, names = logic.segmentationToLabels(node)
    for value, name in names.items():
        measured, truth = np.count_nonzero(sitk.GetArrayFromImage(labels) == value), chest["phantom"].masks[name].sum()
        assert abs(measured - truth) / truth < 0.05, name


def test_autolabel_on_the_phantom(logic, chest):
    node = logic.autolabel(logic.convertDicom(chest["dicom"]))
    assert {"body", "lung-right", "lung-left"} <= set(_names(node)) <= {lab.name for lab in L.AUTO_LABELS}


def test_run_unet_with_a_model_folder(logic, chest, tmp_path):
    """The real U-Net step end to end, with a tiny untrained model: geometry and the card's class names."""
    import dataclasses

    from medseg.unet.card import save_model
    from medseg.unet.model import Architecture, build

    arch = Architecture(n_classes=3, depth=2, base=4, max_width=8)
    classes = [{"value": 0, "name": "background", "color": [0, 0, 0]},
               {"value": 1, "name": "lung-right", "color": list(L.LUNG_RIGHT.color)},
               {"value": 2, "name": "lung-left", "color": list(L.LUNG_LEFT.color)}]
    card = {"name": "tiny", "architecture": dataclasses.asdict(arch), "classes": classes,
            "preprocessing": {"window": [-1350.0, 150.0], "spacing_mm": None, "size": [128, 128], "orientation": "LPS"}}
    folder = save_model(build(arch), card, tmp_path / "tiny")
    volume = logic.convertDicom(chest["dicom"])
    node = logic.runUNet(volume, folder, device="cpu")
    assert set(_names(node)) <= {"lung-right", "lung-left"}
    assert node.GetNodeReference(node.GetReferenceImageGeometryReferenceRole()) is volume
    entry = list_models(tmp_path)["tiny"]
    assert entry.folder == folder and entry.kind == "unet" and "tiny" in list_models(tmp_path, kind="unet")


def test_run_unet_with_the_shipped_lungs_model(logic, chest):
    assert {"lungs", "table-headrest"} <= set(list_models())
    node = logic.runUNet(logic.convertDicom(chest["dicom"]), "lungs", device="cpu")
    assert set(_names(node)) == {"lung-right", "lung-left"}


def test_cancel_leaves_the_scene_as_it_was_and_progress_reaches_one(logic, chest):
    volume = logic.convertDicom(chest["dicom"])
    truth = S.labels_to_segmentation_node(logic.scene, chest["phantom"].labels_image(), L.AUTO_LABELS,
                                          reference_volume=volume)
    before = logic.scene.GetNumberOfNodes()
    cancel = threading.Event()
    cancel.set()
    for call in (lambda: logic.segmentStatistics(volume, truth, cancel=cancel),
                 lambda: logic.exportMeshes(truth, cancel=cancel)):
        with pytest.raises(Cancelled):
            call()
    assert logic.scene.GetNumberOfNodes() == before
    seen = []
    logic.segmentStatistics(volume, truth, progress=lambda f, m: seen.append(f))
    assert seen[-1] == 1.0 and seen == sorted(seen)


# --- ct-abdomen-20: real CT with 31 reference segments --------------------------------------------

@pytest.fixture(scope="module")
def abdomen(abdomen_dicom, abdomen_reference):
    app = create_headless_app()
    logic = MedSegLogic(app.scene, app.app_logic)
    volume = logic.convertDicom(abdomen_dicom)
    labels, names = read_label_image(abdomen_reference)
    node = S.labels_to_segmentation_node(app.scene, labels, names, reference_volume=volume, name="reference")
    yield app, logic, volume, node, sitk.GetArrayFromImage(labels), names
    app.scene.Clear(True)


def test_abdomen_segments_and_voxel_counts(abdomen):
    _app, _logic, _volume, node, arr, names = abdomen
    assert _names(node) == [names[v] for v in sorted(names)]
    values = S.segment_label_values(node)
    assert sorted(values.values()) == sorted(names)
    for seg_id, value in values.items():
        count = np.count_nonzero(S.image_data_to_array(S.segment_mask(node, seg_id), allow_empty=True))
        assert count == np.count_nonzero(arr == value), names[value]


def test_abdomen_statistics_table(abdomen):
    _app, logic, volume, node, arr, names = abdomen
    rows = S.table_node_to_rows(logic.segmentStatistics(volume, node))
    assert [r["segment"] for r in rows] == [names[v] for v in sorted(names)]
    for row in rows:
        assert row["voxel_count"] == np.count_nonzero(arr == row["label_value"])
    liver = next(r for r in rows if r["segment"] == "liver")
    assert 30 < liver["mean"] < 150  # liver parenchyma, HU


def test_abdomen_radiomics_table(abdomen):
    _app, logic, volume, node, _arr, _names_ = abdomen
    table = logic.exportRadiomics(volume, node, preset="ct-baseline", segments=["liver", "spleen"])
    rows = S.table_node_to_rows(table)
    assert [r["segment"] for r in rows] == ["spleen", "liver"]  # the segmentation's order
    assert all(30 < r["original_firstorder_Mean"] < 200 for r in rows)


def test_abdomen_meshes(abdomen):
    app, logic, _volume, node, _arr, names = abdomen
    models = logic.exportMeshes(node, segments=["liver", "aorta", "spinal_cord"], smoothIterations=0)
    assert [m.GetName() for m in models] == ["liver", "aorta", "spinal_cord"]  # the segmentation's order
    assert all(m.GetPolyData().GetNumberOfPolys() > 100 for m in models)


def test_abdomen_segnrrd_written_by_the_storage_node_reads_back(abdomen, tmp_path):
    app, logic, _volume, node, arr, names = abdomen
    path = logic.saveSegmentation(node, tmp_path / "reference.seg.nrrd")
    labels, read_names = read_label_image(path)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(labels), arr)
    assert sorted(read_names.values()) == sorted(names.values())
    back = app.scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    storage = app.scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    back.SetAndObserveStorageNodeID(storage.GetID())
    storage.SetFileName(str(path))
    assert storage.ReadData(back) == 1 and _names(back) == _names(node)
