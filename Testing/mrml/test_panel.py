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
