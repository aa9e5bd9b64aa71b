"""The module's Slicer API, checked against Slicer's own source at v5.8.0, v5.10.0 and v5.12.0.

``Testing/slicer_api/<tag>.json`` is written by ``scripts/make_slicer_api.py`` from Slicer's source at
each tag (see its docstring); ``slicer_api_check`` walks ``MedSegModule.py``, ``MedSegWidgets/`` and
``medseg/mrml/`` by AST. No Slicer application is needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import SimpleITK as sitk

from slicer_api_check import Api, check, parameter_node_problems, ui_widget_classes

REPO = Path(__file__).resolve().parents[2]
MODULE_DIR = REPO / "MedSegModule"
UI_FILE = MODULE_DIR / "Resources" / "UI" / "MedSegModule.ui"
TAGS = ("v5.8.0", "v5.10.0", "v5.12.0")
SOURCES = [MODULE_DIR / "MedSegModule.py", *sorted((MODULE_DIR / "MedSegWidgets").glob("*.py")),
           *sorted((MODULE_DIR / "medseg" / "mrml").glob("*.py"))]
#: SimpleITK's Image methods share VTK's CamelCase; an untyped call of one of them is not Slicer's API.
SITK_MEMBERS = {m for cls in (sitk.Image, sitk.ImageFileReader, sitk.ImageFileWriter) for m in dir(cls)}


def load_api(tag: str) -> Api:
    return Api(json.loads((REPO / "Testing" / "slicer_api" / f"{tag}.json").read_text(encoding="utf-8")))


@pytest.fixture(scope="module", params=TAGS)
def api(request) -> Api:
    return load_api(request.param)


def test_the_api_files_are_read_from_slicers_source(api):
    assert api.data["sources"]["slicer"] and len(api.data["sources"]["slicer"]) == 40
    assert {"vtkSegment", "vtkMRMLSegmentationNode", "vtkSlicerSegmentationsModuleLogic", "vtkMRMLTableNode",
            "vtkMRMLScene", "qSlicerApplication"} <= set(api.classes)
    assert {"loadUI", "childWidgetVariables", "setSliceViewerLayers", "tryWithErrorDisplay",
            "launchConsoleProcess"} <= set(api.data["python_modules"]["slicer.util"]["functions"])
    assert "ScriptedLoadableModuleWidget" in api.data["python_modules"]["slicer.ScriptedLoadableModule"]["classes"]


def test_facts_each_release_bundles():
    """What the module must live with (read from SuperBuild/ at each tag)."""
    facts = {tag: load_api(tag).data for tag in TAGS}
    assert facts["v5.8.0"]["python"] == "3.9.10"
    assert facts["v5.10.0"]["python"] == facts["v5.12.0"]["python"] == "3.12.10"
    assert facts["v5.8.0"]["bundled"]["pydicom"] == facts["v5.10.0"]["bundled"]["pydicom"] == "2.4.4"
    assert facts["v5.12.0"]["bundled"]["pydicom"] == "3.0.2"
    assert "6" in facts["v5.12.0"]["qt_classes"] and "6" not in facts["v5.8.0"]["qt_classes"]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(MODULE_DIR)))
def test_every_slicer_access_exists(api, path):
    problems = check(path.read_text(encoding="utf-8"), api, str(path.relative_to(MODULE_DIR)),
                     ui_widget_classes(UI_FILE), SITK_MEMBERS)
    assert not problems, "\n".join(problems)


def test_every_class_named_is_in_the_api_files(api):
    """A class the code names but the files lack: run scripts/make_slicer_api.py again."""
    assert set(api.data["missing_classes"]) <= {"QString", "vtkMRMLColorTableNodeGrey"}, api.data["missing_classes"]


def test_parameter_node_types_and_widgets(api):
    problems = parameter_node_problems((MODULE_DIR / "MedSegModule.py").read_text(encoding="utf-8"), api, UI_FILE)
    assert not problems, "\n".join(problems)


# --- the checker catches what a real Slicer would fail on ---------------------------------------

SHOW_TABLE = "import slicer\ndef show(table):\n    slicer.util.showTable(table)\n"
SET_TERMINOLOGY = """
import slicer
def name(term):
    node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    segment = node.GetSegmentation().GetNthSegment(0)
    segment.SetTerminology(term)
"""
GUARDED = """
import slicer
def name(node, term):
    segment = node.GetSegmentation().GetNthSegment(0)
    if hasattr(segment, "SetTerminology"):
        segment.SetTerminology(term)
    else:
        segment.SetTag(segment.GetTerminologyEntryTagName(), term)
"""


def test_checker_catches_a_missing_util_function():
    for tag in TAGS:
        assert any("slicer.util.showTable does not exist" in p for p in check(SHOW_TABLE, load_api(tag)))


def test_checker_catches_a_method_missing_in_an_older_release():
    problems = {tag: check(SET_TERMINOLOGY, load_api(tag)) for tag in TAGS}
    assert any("vtkSegment has no member 'SetTerminology'" in p for p in problems["v5.8.0"]), problems
    assert problems["v5.10.0"] == [] and problems["v5.12.0"] == []
    assert all(check(GUARDED, load_api(tag)) == [] for tag in TAGS)


def test_checker_catches_unknown_keywords_and_signals():
    source = """
import slicer, qt
def f(args):
    slicer.util.launchConsoleProcess(args, blocking=False)
    timer = qt.QTimer()
    timer.connect("timedOut()", print)
    timer.start(100)
"""
    old, new = check(source, load_api("v5.8.0")), check(source, load_api("v5.12.0"))
    assert any("launchConsoleProcess() has no parameter 'blocking'" in p for p in old), old
    assert not any("blocking" in p for p in new)
    assert any("QTimer has no signal 'timedOut()'" in p for p in old + new)


def test_checker_knows_the_widgets_of_the_ui_file():
    source = """
import slicer
class W:
    def f(self):
        self.ui.logTextEdit.appendPlainTex("typo")
        self.ui.cancelButton.enabld = False
        self.ui.modelFolderPathLineEdit.connect("pathChanged(QString)", print)
        self.ui.logTextEdit.appendPlainText("fine")
        self.ui.modelFolderPathLineEdit.connect("currentPathChanged(QString)", print)
        slicer.app.tempPath
"""
    for tag in TAGS:
        problems = "\n".join(check(source, load_api(tag), ui=ui_widget_classes(UI_FILE)))
        assert "QPlainTextEdit has no member 'appendPlainTex'" in problems
        assert "QPushButton has no member 'enabld'" in problems
        assert "ctkPathLineEdit has no signal 'pathChanged(QString)'" in problems
        assert "qSlicerApplication) has no member 'tempPath'" in problems
        assert problems.count("\n") == 3, problems
