"""`medseg autolabel`: the DESIGN label table on phantoms and real CT, bone cleaning, and Slicer reading it."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import slicer  # noqa: F401  (slicer-core is required: fail, never skip)
from slicer_fixtures import headless_app, oriented_image_array  # noqa: F401

from medseg import labels
from medseg.pipeline import steps as pipeline
from medseg.autolabel.bone import bone_mask
from medseg.errors import NotCTError
from medseg.io import load, write_label_image
from medseg.measure.metrics import dice
from medseg.phantom import make_abdomen, make_cardiac_mr, make_chest

CT = {"modality": "CT", "is_hu": True}
NAMES = [lab.name for lab in labels.AUTO_LABELS]


@pytest.fixture(scope="module")
def chest():
    phantom = make_chest(seed=0)
    return phantom, pipeline.autolabel(phantom.to_image(), CT)


def test_chest_phantom_label_table(chest):
    phantom, result = chest
    out = sitk.GetArrayFromImage(result.labels)
    assert out.dtype == np.uint8 and set(np.unique(out)) == {0, 1, 2, 3, 4, 5, 6}
    assert [s.name for s in result.segments] == NAMES
    assert result.labels.GetOrigin() == phantom.to_image().GetOrigin()
    minimum = {"body": 0.99, "table-headrest": 0.95, "lung-right": 0.97, "lung-left": 0.97, "airway": 0.8, "bone": 0.95}
    for lab in labels.AUTO_LABELS:
        assert dice(out == lab.value, phantom.labels == lab.value) >= minimum[lab.name], lab.name
    assert result.stats["voxels"]["lung-right"] == int((out == labels.LUNG_RIGHT.value).sum())


def test_slicer_reads_the_autolabel_seg_nrrd(chest, headless_app, tmp_path):  # noqa: F811
    _, result = chest
    path = tmp_path / "auto.seg.nrrd"
    write_label_image(result.labels, path, segments=list(result.segments))
    node = headless_app.scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    storage = headless_app.scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    node.SetAndObserveStorageNodeID(storage.GetID())
    storage.SetFileName(str(path))
    assert storage.ReadData(node) == 1
    segmentation = node.GetSegmentation()
    expected = sitk.GetArrayFromImage(result.labels)
    seen = []
    for i in range(segmentation.GetNumberOfSegments()):
        seg_id = segmentation.GetNthSegmentID(i)
        segment = segmentation.GetSegment(seg_id)
        lab = labels.by_name(segment.GetName())
        np.testing.assert_allclose(segment.GetColor(), lab.color_float, atol=1e-3)
        image = slicer.vtkOrientedImageData()
        assert node.GetBinaryLabelmapRepresentation(seg_id, image)
        assert int(oriented_image_array(image).astype(bool).sum()) == int((expected == lab.value).sum()), lab.name
        seen.append(lab.name)
    assert seen == NAMES


def test_partial_lungs_and_arms_on_the_abdomen_phantom():
    phantom = make_abdomen(seed=0, lung_bases=True)
    out = sitk.GetArrayFromImage(pipeline.autolabel(phantom.to_image(), CT).labels)
    for lab in (labels.LUNG_RIGHT, labels.LUNG_LEFT):
        assert dice(out == lab.value, phantom.labels == lab.value) >= 0.97
    assert not (out == labels.AIRWAY.value).any()
    # The humeri in the arms beside the body are bone, inside the body.
    humerus = phantom.tissues["humerus"]
    assert (out[humerus] == labels.BONE.value).mean() >= 0.95
    assert dice(out == labels.BONE.value, phantom.labels == labels.BONE.value) >= 0.95


def test_abdomen_phantom_gas_is_not_lung():
    phantom = make_abdomen(seed=1)
    out = sitk.GetArrayFromImage(pipeline.autolabel(phantom.to_image(), CT).labels)
    assert not np.isin(out, [labels.LUNG_RIGHT.value, labels.LUNG_LEFT.value, labels.AIRWAY.value]).any()
    assert (out[phantom.masks["gas"]] == labels.BODY.value).all()


def test_real_abdomen(abdomen_dicom):
    image, meta = load(abdomen_dicom)
    result = pipeline.autolabel(image, meta)
    v = result.stats["voxels"]
    body_total = sum(v[n] for n in ("body", "lung-right", "lung-left", "airway", "bone"))
    assert v["lung-right"] + v["lung-left"] <= 0.001 * body_total
    assert v["airway"] == 0
    assert v["bone"] > 50_000 and v["table-headrest"] > 10_000


def test_real_chest2(chest_dicom):
    image, meta = load(chest_dicom)
    result = pipeline.autolabel(image, meta)
    v = result.stats["voxels"]
    assert v["lung-right"] == pytest.approx(64752, rel=0.03) and v["lung-left"] == pytest.approx(36536, rel=0.03)
    assert v["bone"] > 5_000
    # The contrast-filled heart and aorta are as dense as bone but are not bone.
    assert result.stats["bone"]["contrast_blood_components_dropped"] >= 1


def test_non_ct_input_is_refused():
    mr = make_cardiac_mr(seed=0).to_image()
    with pytest.raises(NotCTError):
        pipeline.autolabel(mr, {"modality": "MR", "is_hu": False})


# --- bone cleaning ----------------------------------------------------------------------------


def _slab(shape=(6, 80, 80)):
    hu = np.full(shape, 40, dtype=np.int16)  # soft tissue
    return hu, np.ones(shape, dtype=bool), (2.0, 1.0, 1.0)


def test_bone_keeps_marrow_fills_not_the_canal():
    hu, body, spacing = _slab()
    yy, xx = np.mgrid[:80, :80]
    r_vb = np.hypot(yy - 30, xx - 40)
    hu[:, r_vb <= 12] = 650
    hu[:, r_vb <= 9] = 220  # cancellous: marrow inside a cortical shell
    r_canal = np.hypot(yy - 52, xx - 40)
    hu[:, r_canal <= 8] = 550  # the arch around the canal, behind the body's centre (rows grow posterior)
    hu[:, r_canal <= 5] = 15  # CSF
    bone, _ = bone_mask(hu, body, spacing)
    assert bone[:, r_vb <= 12].all()
    assert not bone[:, r_canal <= 4].any()
    assert bone[:, (r_canal > 5.5) & (r_canal <= 8)].all()


def test_bone_drops_small_specks_and_contrast_blood():
    hu, body, spacing = _slab()
    yy, xx = np.mgrid[:80, :80]
    rng = np.random.default_rng(0)
    hu[:, np.hypot(yy - 40, xx - 20) <= 14] = 450 + rng.normal(0, 20, (6, 80, 80))[:, np.hypot(yy - 40, xx - 20) <= 14]
    hu[3, 10, 70] = 900  # a one-voxel speck (noise or a tiny calcification)
    ring = (np.hypot(yy - 40, xx - 60) <= 10) & (np.hypot(yy - 40, xx - 60) > 7)
    hu[:, ring] = 900
    bone, stats = bone_mask(hu, body, spacing)
    assert stats["contrast_blood_components_dropped"] == 1
    assert not bone[:, np.hypot(yy - 40, xx - 20) <= 14].any()
    assert not bone[3, 10, 70]
    assert bone[:, ring].all()


def test_bone_does_not_fill_the_skull():
    """The skull is a closed bony ring in every slice; the brain inside it is not marrow."""
    import SimpleITK as sitk

    from medseg.phantom import make_head
    from medseg.pipeline.steps import autolabel

    phantom = make_head(seed=0, headrest="separate")
    result = autolabel(phantom.to_image(), {"is_hu": True})
    auto = sitk.GetArrayFromImage(result.labels)
    truth = phantom.labels
    for value in (1, 6):  # body (brain, scalp) and bone (skull)
        a, t = auto == value, truth == value
        assert 2 * (a & t).sum() / (a.sum() + t.sum()) > 0.9, value
