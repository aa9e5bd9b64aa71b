"""The panel (MedSegModule.py) driven button by button against a real slicer-core scene.

Qt, the .ui's widgets, slicer.ScriptedLoadableModule, slicer.parameterNodeWrapper and slicer.app are
STAND-INS (Testing/mrml/panel_standins.py); the scene, the application and module logics, and every
step (the long ones in their real background process) are real. Every handler's path to the logic
runs once; the desktop application itself is never run here.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest
import slicer  # noqa: F401  (slicer-core is required: fail, never skip)

from medseg.mrml.headless import create_headless_app
from medseg.phantom import write_phantom_study
from panel_standins import panel_environment, process_events

MODULE_DIR = Path(__file__).resolve().parents[2] / "MedSegModule"


def _import_module_file():
    spec = importlib.util.spec_from_file_location("MedSegModule", MODULE_DIR / "MedSegModule.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["MedSegModule"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return write_phantom_study(tmp_path_factory.mktemp("panel") / "chest", seed=0, shape=(24, 96, 96))


@pytest.fixture
def panel(monkeypatch, tmp_path, study):
    headless = create_headless_app()
    with panel_environment(monkeypatch, headless, MODULE_DIR, tmp_path) as record:
        monkeypatch.delitem(sys.modules, "MedSegModule", raising=False)
        for name in [m for m in sys.modules if m.startswith("MedSegWidgets")]:
            monkeypatch.delitem(sys.modules, name)
        module = _import_module_file()
        parent = type("Parent", (), {"isEntered": True})()
        module.MedSegModule(parent)
        widget = module.MedSegModuleWidget(parent)
        widget.setup()
        record.widget, record.ui, record.scene, record.module = widget, widget.ui, headless.scene, module
        yield record
        widget.cleanup()
    monkeypatch.delitem(sys.modules, "MedSegModule", raising=False)
    headless.scene.Clear(True)


def _log(panel) -> str:
    return panel.ui.logTextEdit.plainText


def _wait(panel, timeout=300.0):
    """Run the stand-in event loop until the background step has ended."""
    deadline = time.monotonic() + timeout
    while panel.widget.runner.busy:
        assert time.monotonic() < deadline, _log(panel)
        process_events()
        time.sleep(0.05)


def _count(panel, cls):
    return panel.scene.GetNumberOfNodesByClass(cls)


def _load(panel, study):
    panel.widget._parameterNode.dicomFolder = Path(study["dicom"])
    assert panel.ui.loadDicomButton.enabled
    panel.ui.loadDicomButton.click()
    assert "Loading DICOM: done." in _log(panel), _log(panel)
    return panel.widget._parameterNode.inputVolume


def test_every_button_reaches_the_logic(panel, study):
    p, ui = panel.widget._parameterNode, panel.ui
    assert not ui.loadDicomButton.enabled and not ui.cleanButton.enabled  # nothing chosen yet
    volume = _load(panel, study)
    assert volume is not None and volume.GetName()
    assert ui.cleanButton.enabled and not ui.statisticsButton.enabled
    for button, line in ((ui.checkHUButton, "HU check: done."), (ui.applyWindowButton, "Window: done."),
                         (ui.resampleButton, "Resampling: done.")):
        button.click()
        assert line in _log(panel), _log(panel)
    assert p.inputVolume is not volume  # the resampled volume became the input
    p.inputVolume = volume

    segmentations = _count(panel, "vtkMRMLSegmentationNode")
    ui.autolabelButton.click()  # a background step: the buttons wait for it
    assert panel.widget.runner.busy and not ui.lungsButton.enabled and ui.cancelButton.enabled
    assert "running in a background process" in _log(panel)
    _wait(panel)
    assert "Auto-label: done." in _log(panel), _log(panel)
    assert _count(panel, "vtkMRMLSegmentationNode") == segmentations + 1
    assert p.segmentation.GetName().endswith("auto-labels") and ui.lungsButton.enabled and not ui.cancelButton.enabled

    ui.cleanButton.click()
    _wait(panel)
    assert "Removing the table: done." in _log(panel), _log(panel)
    assert p.inputVolume.GetName().endswith("cleaned") and p.segmentation.GetName().endswith("body and table")
    p.inputVolume = volume

    ui.lungsButton.click()
    _wait(panel)
    seg = p.segmentation.GetSegmentation()
    assert [seg.GetNthSegment(i).GetName() for i in range(seg.GetNumberOfSegments())] == ["lung-right", "lung-left"]

    ui.radiomicsButton.click()
    _wait(panel)
    assert "Radiomics: done." in _log(panel), _log(panel)
    assert p.radiomicsTable.GetNumberOfRows() == 2
    selection = panel.app.applicationLogic().GetSelectionNode()
    assert selection.GetActiveTableID() == p.radiomicsTable.GetID() and panel.app.layoutManager().layouts

    ui.statisticsButton.click()
    assert "Statistics: done." in _log(panel)
    assert selection.GetActiveTableID() != p.radiomicsTable.GetID()  # the statistics table is shown now

    ui.meshesButton.click()
    assert "Meshes: done." in _log(panel) and _count(panel, "vtkMRMLModelNode") >= 2

    p.device = "cpu"
    ui.runUNetButton.click()
    _wait(panel)
    assert "U-Net: done." in _log(panel), _log(panel)
    assert "on cpu" in _log(panel)  # the device used is in the log
    assert panel.errors == [], panel.errors


def test_cancel_leaves_the_scene_as_it_was(panel, study):
    _load(panel, study)
    before = panel.scene.GetNumberOfNodes()
    panel.ui.autolabelButton.click()
    panel.ui.cancelButton.click()
    _wait(panel)
    assert "Auto-label: cancelled; the scene is as it was." in _log(panel), _log(panel)
    assert panel.scene.GetNumberOfNodes() == before and panel.errors == []
    assert panel.ui.autolabelButton.enabled  # usable again


def test_leaving_the_module_or_closing_the_scene_stops_the_step(panel, study):
    _load(panel, study)
    before = panel.scene.GetNumberOfNodes()
    panel.ui.lungsButton.click()
    job = panel.widget.runner.job
    panel.widget.exit()
    assert job.process.poll() is not None and not job.folder.exists()
    assert "Lungs: cancelled" in _log(panel) and not panel.widget.runner.busy
    assert panel.scene.GetNumberOfNodes() == before
    panel.widget.enter()
    panel.ui.autolabelButton.click()
    job = panel.widget.runner.job
    panel.widget.onSceneStartClose(None, None)
    assert job.process.poll() is not None and not panel.widget.runner.busy


def test_a_failing_step_is_shown_and_the_panel_stays_usable(panel, study):
    _load(panel, study)
    panel.widget._parameterNode.device = "mps"  # this machine has no Apple GPU
    panel.ui.runUNetButton.click()
    _wait(panel)
    assert "U-Net failed: --device mps asked, but torch sees no Apple GPU" in _log(panel), _log(panel)
    assert panel.errors and "U-Net failed." in panel.errors[0]
    assert panel.ui.runUNetButton.enabled


# --- Grow from seeds and Classify volume ----------------------------------------------------------

def _bound_widgets():
    """{SlicerParameterName: (widget name, class)} of the .ui file."""
    import xml.etree.ElementTree as ET

    out = {}
    for w in ET.parse(MODULE_DIR / "Resources" / "UI" / "MedSegModule.ui").getroot().iter("widget"):
        for prop in w.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                out[prop.findtext("string")] = (w.get("name"), w.get("class"))
    return out


def test_the_two_sections_widgets_are_in_the_ui_and_wired_to_the_parameter_node(panel):
    bound = _bound_widgets()
    assert bound["seedSegmentation"] == ("seedSegmentationSelector", "qMRMLNodeComboBox")
    assert bound["growRangeLow"] == ("growRangeLowSpinBox", "QDoubleSpinBox")
    assert bound["growRangeHigh"] == ("growRangeHighSpinBox", "QDoubleSpinBox")
    assert bound["growSmooth"] == ("growSmoothComboBox", "QComboBox")
    assert bound["classifyVolume"] == ("classifyVolumeSelector", "qMRMLNodeComboBox")
    assert bound["classifierFolder"] == ("classifierFolderPathLineEdit", "ctkPathLineEdit")
    p, ui = panel.widget._parameterNode, panel.ui
    for name in bound:
        getattr(p, name)  # every bound name is a field of the parameter node
    assert p.growSmooth == "median" and p.growRangeVolumeID == ""
    for widget in ("growButton", "segmentEditorButton", "growNoteLabel", "classifierComboBox", "classifyButton",
                   "classifyResultLabel"):
        assert hasattr(ui, widget), widget
    assert "Grow from seeds" in ui.growNoteLabel.text and "Segment Editor" in ui.growNoteLabel.text
    assert not ui.growButton.enabled and not ui.classifyButton.enabled  # no volume, no seeds, no classifier


def _seed_node(panel, study, volume):
    """Seed segments as painted in the Segment Editor (:func:`grow_helpers.phantom_lung_seeds`)."""
    import SimpleITK as sitk

    from grow_helpers import phantom_lung_seeds, phantom_seed_table
    from medseg.mrml import scene as S

    phantom = study["phantom"]
    image = S.volume_node_to_image(volume)
    assert sitk.GetArrayViewFromImage(image).shape == phantom.hu.shape
    labels = sitk.GetImageFromArray(phantom_lung_seeds(phantom))
    labels.CopyInformation(image)
    return S.labels_to_segmentation_node(panel.scene, labels, phantom_seed_table(), reference_volume=volume,
                                         name="seeds", closed_surface=False)


@pytest.fixture
def started(monkeypatch):
    """Every background step started by the panel: (step, options, the Job)."""
    from medseg.mrml import background

    jobs, start = [], background.start

    def recording_start(logic, step, volumeNode, options, **kwargs):
        job = start(logic, step, volumeNode, options, **kwargs)
        jobs.append((step, options, job))
        return job

    monkeypatch.setattr(background, "start", recording_start)
    return jobs


def test_grow_from_seeds_runs_in_a_background_process_and_adds_the_grown_segments(panel, study, started):
    import os

    import numpy as np
    import SimpleITK as sitk

    from medseg.measure.metrics import dice
    from medseg.mrml import scene as S

    p, ui = panel.widget._parameterNode, panel.ui
    volume = _load(panel, study)
    lo, hi = volume.GetImageData().GetScalarRange()
    assert (p.growRangeLow, p.growRangeHigh) == (lo, hi) and p.growRangeVolumeID == volume.GetID()  # the volume's range
    assert not ui.growButton.enabled  # no seeds yet
    ui.segmentEditorButton.click()
    assert panel.modules_selected == ["SegmentEditor"]
    p.seedSegmentation = _seed_node(panel, study, volume)
    assert ui.growButton.enabled
    p.growSmooth = "closing"

    segmentations = _count(panel, "vtkMRMLSegmentationNode")
    ui.growButton.click()
    assert panel.widget.runner.busy and not ui.growButton.enabled and ui.cancelButton.enabled
    (step, options, job), = started
    assert step == "growFromSeeds" and job.process.pid != os.getpid()  # the grow-cut is not on the GUI thread
    assert options["hu_range"] is None and options["smooth"] == "closing" and options["engine"] == "auto"
    _wait(panel)
    assert "Grow from seeds: done." in _log(panel), _log(panel)
    assert "grow-cut: " in _log(panel)  # the engine the background process used
    assert _count(panel, "vtkMRMLSegmentationNode") == segmentations + 1
    node = p.segmentation
    assert node.GetName() == f"{volume.GetName()} grown" and node is not p.seedSegmentation
    seg = node.GetSegmentation()
    assert [seg.GetNthSegment(i).GetName() for i in range(seg.GetNumberOfSegments())] == \
        ["right lung", "left lung", "outside"]
    grown = sitk.GetArrayFromImage(S.segmentation_node_to_labels(node, volume)[0])
    phantom = study["phantom"]
    assert dice(grown == 1, phantom.masks["lung-right"]) > 0.95 and dice(grown == 2, phantom.masks["lung-left"]) > 0.95
    # the same seeds grown by Slicer's own filter in this process (MedSegLogic.growFromSeeds) give the same labels
    here = panel.widget.logic.medseg.growFromSeeds(volume, p.seedSegmentation, smooth="closing", closedSurface=False)
    same = sitk.GetArrayFromImage(S.segmentation_node_to_labels(here, volume)[0])
    assert np.mean(same == grown) > 0.999

    # a narrower editable range is passed on; an empty one disables Run
    p.growRangeLow, p.growRangeHigh = -1100.0, 200.0
    ui.growButton.click()
    _wait(panel)
    assert started[-1][1]["hu_range"] == [-1100.0, 200.0] and "Grow from seeds: done." in _log(panel)
    p.growRangeLow = p.growRangeHigh
    assert not ui.growButton.enabled
    assert panel.errors == [], panel.errors


def test_cancelling_grow_from_seeds_leaves_the_scene_as_it_was(panel, study, started):
    p, ui = panel.widget._parameterNode, panel.ui
    volume = _load(panel, study)
    p.seedSegmentation = _seed_node(panel, study, volume)
    before = panel.scene.GetNumberOfNodes()
    ui.growButton.click()
    ui.cancelButton.click()
    _wait(panel)
    assert "Grow from seeds: cancelled; the scene is as it was." in _log(panel), _log(panel)
    assert panel.scene.GetNumberOfNodes() == before and panel.errors == [] and ui.growButton.enabled


def _tiny_models(folder):
    """A volume classifier and a U-Net saved side by side, as in a user's models folder."""
    import dataclasses

    torch = pytest.importorskip("torch")
    from medseg.classify.card import save_model as save_classifier
    from medseg.classify.model import Architecture as ClassifierArchitecture, build as build_classifier
    from medseg.unet.card import save_model as save_unet
    from medseg.unet.model import Architecture, build

    torch.manual_seed(0)
    arch = ClassifierArchitecture(channels=[4, 4, 8, 8], dense=8)
    save_classifier(build_classifier(arch), {
        "name": "tiny-classifier", "architecture": arch.to_dict(),
        "classes": [{"value": 0, "name": "normal"}, {"value": 1, "name": "abnormal"}],
        "preprocessing": {"window": [-1024.0, 3000.0], "size": [16, 32, 32], "orientation": "LPS"}},
        folder / "tiny-classifier")
    uarch = Architecture(n_classes=2, depth=2, base=4, max_width=8)
    save_unet(build(uarch), {"name": "tiny-unet", "architecture": dataclasses.asdict(uarch),
                             "classes": [{"value": 0, "name": "background", "color": [0, 0, 0]},
                                         {"value": 1, "name": "lung", "color": [200, 100, 100]}],
                             "preprocessing": {"window": [-1350.0, 150.0], "spacing_mm": None, "size": [64, 64],
                                               "orientation": "LPS"}}, folder / "tiny-unet")
    return folder


def test_each_model_list_shows_only_its_kind(panel, tmp_path):
    folder = _tiny_models(tmp_path / "models")
    ui = panel.ui
    for edit in (ui.modelFolderPathLineEdit, ui.classifierFolderPathLineEdit):
        edit.currentPath = str(folder)
        edit.emit("currentPathChanged(QString)", str(folder))
    unets = [name for name, _ in ui.modelComboBox.items]
    classifiers = [name for name, _ in ui.classifierComboBox.items]
    assert "tiny-unet" in unets and "tiny-classifier" not in unets and {"lungs", "table-headrest"} <= set(unets)
    assert classifiers == ["tiny-classifier"] and ui.classifierComboBox.items[0][1] == str(folder / "tiny-classifier")


def test_classify_runs_in_a_background_process_and_shows_the_probabilities(panel, study, tmp_path, started):
    import json
    import os

    folder = _tiny_models(tmp_path / "models")
    p, ui = panel.widget._parameterNode, panel.ui
    assert "No classifier found" in ui.classifyButton.toolTip
    volume = _load(panel, study)
    assert p.classifyVolume is volume  # it follows the input volume until the user picks another
    ui.classifierFolderPathLineEdit.currentPath = str(folder)
    ui.classifierFolderPathLineEdit.emit("currentPathChanged(QString)", str(folder))
    assert ui.classifyButton.enabled and ui.classifyResultLabel.text == "Not classified yet."
    p.device = "cpu"
    ui.classifyButton.click()
    assert panel.widget.runner.busy and not ui.classifyButton.enabled
    (step, options, job), = started
    assert step == "classify" and options == {"model": str(folder / "tiny-classifier"), "device": "cpu"}
    assert job.process.pid != os.getpid()
    _wait(panel)
    assert "Classify: done." in _log(panel), _log(panel)
    result = json.loads(volume.GetAttribute("MedSeg.Classification"))
    assert result["normal"] + result["abnormal"] == pytest.approx(1.0) and result["model"] == "tiny-classifier"
    shown = ui.classifyResultLabel.text
    assert f"normal {result['normal']:.3f}, abnormal {result['abnormal']:.3f}: {result['label']}" in shown
    assert "(model tiny-classifier)" in shown and shown.splitlines()[0] in _log(panel)
    # the same numbers as MedSegLogic.classify in this process
    here = panel.widget.logic.medseg.classify(volume, folder / "tiny-classifier", device="cpu")
    assert here["abnormal"] == pytest.approx(result["abnormal"], abs=1e-5)
    assert panel.errors == [], panel.errors
