"""MedSegLogic.growFromSeeds and MedSegLogic.classify on a real vtkMRMLScene (slicer-core)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import SimpleITK as sitk
import slicer  # noqa: F401  (slicer-core is required: fail, never skip)
from grow_helpers import phantom_lung_seeds, phantom_seed_table
from slicer_fixtures import headless_app  # noqa: F401

from medseg.measure.metrics import dice
from medseg.mrml import scene as S
from medseg.mrml.logic import MedSegLogic
from medseg.phantom import make_chest


@pytest.fixture
def logic(headless_app):
    return MedSegLogic(headless_app.scene, headless_app.app_logic)


def _seed_node(logic, phantom, volume):
    """Seed segments as a user paints them (:func:`grow_helpers.phantom_lung_seeds`), as a segmentation node."""
    seeds = phantom_lung_seeds(phantom)
    image = sitk.GetImageFromArray(seeds)
    image.CopyInformation(phantom.to_image())
    return S.labels_to_segmentation_node(logic.scene, image, phantom_seed_table(), reference_volume=volume,
                                         closed_surface=False), seeds


def test_grow_from_seeds_keeps_names_and_colours_and_matches_itk(logic):
    phantom = make_chest(seed=4)
    volume = S.image_to_volume_node(logic.scene, phantom.to_image(), "ct")
    seed_node, seeds = _seed_node(logic, phantom, volume)
    seen = []
    node = logic.growFromSeeds(volume, seed_node, smooth="median", closedSurface=False,
                               progress=lambda f, m: seen.append(f))
    seg = node.GetSegmentation()
    assert [seg.GetNthSegment(i).GetName() for i in range(seg.GetNumberOfSegments())] == \
        ["right lung", "left lung", "outside"]
    np.testing.assert_allclose(seg.GetNthSegment(0).GetColor(), (200 / 255, 60 / 255, 60 / 255), atol=1e-6)
    labels, _names = S.segmentation_node_to_labels(node, volume)
    grown = sitk.GetArrayFromImage(labels)
    assert dice(grown == 1, phantom.masks["lung-right"]) > 0.95
    assert dice(grown == 2, phantom.masks["lung-left"]) > 0.95
    assert seen[-1] == 1.0
    # Slicer's own filter and ITK's FastGrowCut (built from it) give the same labels
    pytest.importorskip("itk")
    from medseg.autolabel.grow import grow_from_seeds
    from medseg.autolabel.grow_engine import itk_grow_cut_here

    itk = grow_from_seeds(phantom.hu, seeds, phantom.spacing, smooth="median", engine=itk_grow_cut_here).labels
    assert np.mean(itk == grown) > 0.999


def test_grow_with_one_seed_segment_is_a_user_error(logic):
    from medseg.errors import ParameterError

    phantom = make_chest(seed=0)
    volume = S.image_to_volume_node(logic.scene, phantom.to_image(), "ct")
    seed_node, _ = _seed_node(logic, phantom, volume)
    with pytest.raises(ParameterError, match="two or more"):
        logic.growFromSeeds(volume, seed_node, segments=["right lung"])


def test_classify_returns_the_probabilities_and_keeps_them_on_the_volume(logic, tmp_path):
    torch = pytest.importorskip("torch")
    from medseg.classify.card import save_model
    from medseg.classify.model import Architecture, build

    torch.manual_seed(0)
    arch = Architecture(channels=[4, 4, 8, 8], dense=8)
    card = {"name": "tiny", "architecture": arch.to_dict(),
            "classes": [{"value": 0, "name": "normal"}, {"value": 1, "name": "abnormal"}],
            "preprocessing": {"window": [-1024.0, 3000.0], "size": [16, 32, 32], "orientation": "LPS"}}
    folder = save_model(build(arch), card, tmp_path / "tiny")
    volume = S.image_to_volume_node(logic.scene, make_chest(seed=0).to_image(), "ct")
    out = logic.classify(volume, folder, device="cpu")
    assert out["normal"] + out["abnormal"] == pytest.approx(1.0) and out["label"] in ("normal", "abnormal")
    assert json.loads(volume.GetAttribute("MedSeg.Classification"))["abnormal"] == pytest.approx(out["abnormal"])



def _grow_in_background(logic):
    """The chest phantom's lungs grown from seeds in the background worker: (phantom, volume node,
    seed node, the worker's events, the grown labels (z, y, x))."""
    from medseg.mrml import background

    phantom = make_chest(seed=4)
    volume = S.image_to_volume_node(logic.scene, phantom.to_image(), "ct")
    seed_node, _ = _seed_node(logic, phantom, volume)
    events = []
    node = background.run(logic, "growFromSeeds", volume, logic.growOptions(None, "median"), timeout=300,
                          on_event=events.append, segmentationNode=seed_node, closedSurface=False)
    return phantom, volume, seed_node, events, sitk.GetArrayFromImage(S.segmentation_node_to_labels(node, volume)[0])


def test_the_background_grow_uses_slicers_filter_where_slicer_has_put_its_wrapper_on_the_path(logic, tmp_path,
                                                                                             monkeypatch, request):
    """Slicer adds its module folders to sys.path as it loads them; the background process gets that folder."""
    wrapper = tmp_path / "slicer-modules"
    wrapper.mkdir()
    # STAND-IN for Slicer's vtkSlicerSegmentationsModuleLogicPython: it hands out slicer-core's class.
    (wrapper / "vtkSlicerSegmentationsModuleLogicPython.py").write_text(
        "from slicer import vtkImageGrowCutSegment  # noqa: F401  (STAND-IN, Testing/mrml/test_mrml_grow_classify.py)\n",
        encoding="utf-8")
    monkeypatch.syspath_prepend(str(wrapper))
    request.addfinalizer(lambda: sys.modules.pop("vtkSlicerSegmentationsModuleLogicPython", None))
    assert MedSegLogic.growBackgroundNeeds() == ("scipy",)  # nothing to install then
    phantom, volume, seed_node, events, grown = _grow_in_background(logic)
    assert any(e.text == "grow-cut: Slicer's vtkImageGrowCutSegment" for e in events), [e.text for e in events]
    here = logic.growFromSeeds(volume, seed_node, smooth="median", closedSurface=False)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(S.segmentation_node_to_labels(here, volume)[0]), grown)
    assert dice(grown == 1, phantom.masks["lung-right"]) > 0.95


def test_the_background_grow_falls_back_to_itk_without_slicers_wrapper(logic):
    pytest.importorskip("itk")
    from medseg.mrml.growcut import slicer_filter_available

    assert not slicer_filter_available()  # the slicer-core wheel has the class, not Slicer's wrapper module
    phantom, _volume, _seeds, events, grown = _grow_in_background(logic)
    assert any(e.text == "grow-cut: ITK's FastGrowCut" for e in events), [e.text for e in events]
    assert dice(grown == 2, phantom.masks["lung-left"]) > 0.95
