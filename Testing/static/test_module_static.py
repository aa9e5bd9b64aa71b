"""Static checks of the Slicer extension: no Slicer application needed.

Slicer installs only the files MedSegModule/CMakeLists.txt lists, binds .ui widgets by name and
parameters by their SlicerParameterName property; mistakes in any of these show up only inside
Slicer, so they are checked here from the sources.
"""

from __future__ import annotations

import ast
import importlib.util
import py_compile
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULE_DIR = REPO / "MedSegModule"
MODULE_PY = MODULE_DIR / "MedSegModule.py"
UI_FILE = MODULE_DIR / "Resources" / "UI" / "MedSegModule.ui"


def _load_updater():
    spec = importlib.util.spec_from_file_location("update_cmake_lists", REPO / "scripts" / "update_cmake_lists.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ui_widgets() -> dict[str, ET.Element]:
    return {w.get("name"): w for w in ET.parse(UI_FILE).getroot().iter("widget")}


def _module_tree() -> ast.Module:
    return ast.parse(MODULE_PY.read_text(encoding="utf-8"), filename=str(MODULE_PY))


def _parameter_node_fields() -> set[str]:
    """Annotated fields of the class decorated with @parameterNodeWrapper in MedSegModule.py."""
    classes = [
        node for node in ast.walk(_module_tree())
        if isinstance(node, ast.ClassDef)
        and any((d.id if isinstance(d, ast.Name) else getattr(d, "attr", None)) == "parameterNodeWrapper"
                for d in node.decorator_list)
    ]
    assert len(classes) == 1, "MedSegModule.py should have exactly one @parameterNodeWrapper class"
    return {s.target.id for s in classes[0].body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)}


# (a) -------------------------------------------------------------------------------------------
def test_cmake_lists_every_module_file():
    updater = _load_updater()
    problems = updater.check(REPO)
    assert not problems, "MedSegModule/CMakeLists.txt is out of date (run scripts/update_cmake_lists.py):\n" + "\n".join(problems)


def test_cmake_lists_cover_the_known_files():
    lists = _load_updater().expected_lists(REPO)
    assert "MedSegModule.py" in lists["MODULE_PYTHON_SCRIPTS"]
    assert "medseg/__init__.py" in lists["MODULE_PYTHON_SCRIPTS"]
    for resource in ("Resources/Icons/MedSegModule.png", "Resources/UI/MedSegModule.ui"):
        assert resource in lists["MODULE_PYTHON_RESOURCES"]
    assert all(not f.endswith(".py") for f in lists["MODULE_PYTHON_RESOURCES"])
    assert not any("__pycache__" in f or ".egg-info" in f for files in lists.values() for f in files)


def test_cmake_updater_check_reports_missing_and_extra(tmp_path):
    """--check logic on a scratch tree (not a git checkout, so the folder is walked)."""
    updater = _load_updater()
    module = tmp_path / "MedSegModule"
    for rel in ("MedSegModule.py", "medseg/__init__.py", "medseg/resources/models/x/model.json",
                "Resources/UI/MedSegModule.ui", "medseg/__pycache__/junk.pyc"):
        (module / rel).parent.mkdir(parents=True, exist_ok=True)
        (module / rel).write_text("")
    template = (MODULE_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    stale = updater.render(template, {"MODULE_PYTHON_SCRIPTS": ["MedSegModule.py", "Gone.py"],
                                      "MODULE_PYTHON_RESOURCES": ["Resources/UI/MedSegModule.ui"]})
    (module / "CMakeLists.txt").write_text(stale)
    problems = updater.check(tmp_path)
    assert "MODULE_PYTHON_SCRIPTS: missing medseg/__init__.py" in problems
    assert any(p.startswith("MODULE_PYTHON_SCRIPTS: extra Gone.py") for p in problems)
    assert "MODULE_PYTHON_RESOURCES: missing medseg/resources/models/x/model.json" in problems
    assert not any("__pycache__" in p for p in problems)

    fresh = updater.render(stale, updater.expected_lists(tmp_path))
    (module / "CMakeLists.txt").write_text(fresh)
    assert updater.check(tmp_path) == []
    assert updater.render(fresh, updater.read_lists(fresh)) == fresh  # idempotent


# (b) -------------------------------------------------------------------------------------------
def test_ui_has_every_widget_the_module_uses():
    used = set(re.findall(r"\bself\.ui\.(\w+)", MODULE_PY.read_text(encoding="utf-8")))
    assert used, "MedSegModule.py uses no self.ui widgets?"
    # The Qt helpers beside the module reach the same widgets through their own `ui` handle.
    for helper in sorted((MODULE_DIR / "MedSegWidgets").glob("*.py")):
        used |= set(re.findall(r"\bui\.(\w+)", helper.read_text(encoding="utf-8")))
    missing = used - set(_ui_widgets())
    assert not missing, f"self.ui names not in {UI_FILE.name}: {sorted(missing)}"


def test_ui_root_and_scene_connection():
    root = ET.parse(UI_FILE).getroot()
    top = root.find("widget")
    assert top.get("class") == "qMRMLWidget"
    connections = {
        (c.findtext("sender"), c.findtext("signal"), c.findtext("receiver"), c.findtext("slot"))
        for c in root.iter("connection")
    }
    for name, widget in _ui_widgets().items():
        if widget.get("class", "").startswith("qMRML") and name != top.get("name"):
            assert (top.get("name"), "mrmlSceneChanged(vtkMRMLScene*)", name, "setMRMLScene(vtkMRMLScene*)") in connections, \
                f"{name} never gets the MRML scene"


# (c) -------------------------------------------------------------------------------------------
def _slicer_parameter_names() -> dict[str, str]:
    names = {}
    for name, widget in _ui_widgets().items():
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                names[name] = prop.findtext("string")
    return names


def test_ui_parameter_names_match_the_parameter_node():
    fields = _parameter_node_fields()
    bound = _slicer_parameter_names()
    assert {"inputVolume", "dicomFolder"} <= set(bound.values())
    unknown = {w: p for w, p in bound.items() if p not in fields}
    assert not unknown, f"SlicerParameterName not a parameter node field ({sorted(fields)}): {unknown}"


def test_input_volume_selector_is_for_scalar_volumes():
    selector = _ui_widgets()["inputVolumeSelector"]
    assert selector.get("class") == "qMRMLNodeComboBox"
    node_types = [s.text for p in selector.findall("property") if p.get("name") == "nodeTypes" for s in p.iter("string")]
    assert node_types == ["vtkMRMLScalarVolumeNode"]


# (d) -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("needle", [
    "cmake_minimum_required(VERSION 3.16.3",
    "project(MedSeg)",
    "set(EXTENSION_HOMEPAGE ",
    'set(EXTENSION_CATEGORY "Segmentation")',
    "set(EXTENSION_CONTRIBUTORS ",
    "set(EXTENSION_DESCRIPTION ",
    "set(EXTENSION_ICONURL ",
    "set(EXTENSION_SCREENSHOTURLS ",
    'set(EXTENSION_DEPENDS "PyTorch SlicerRadiomics")',
    "find_package(Slicer REQUIRED)",
    "include(${Slicer_USE_FILE})",
    "add_subdirectory(MedSegModule)",
    "include(${Slicer_EXTENSION_GENERATE_CONFIG})",
    "include(${Slicer_EXTENSION_CPACK})",
])
def test_extension_cmake(needle):
    assert needle in (REPO / "CMakeLists.txt").read_text(encoding="utf-8")


def test_module_cmake_builds_scripted_module():
    text = (MODULE_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    for needle in ("slicerMacroBuildScriptedModule(", "SCRIPTS ${MODULE_PYTHON_SCRIPTS}",
                   "RESOURCES ${MODULE_PYTHON_RESOURCES}", "WITH_GENERIC_TESTS",
                   "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)"):
        assert needle in text


def test_icons_exist_and_are_128px():
    for icon in (MODULE_DIR / "Resources" / "Icons" / "MedSegModule.png", REPO / "Resources" / "Icons" / "MedSeg.png"):
        data = icon.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", icon
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert (width, height) == (128, 128), icon


# (e) -------------------------------------------------------------------------------------------
def test_module_compiles_and_is_thin(tmp_path):
    py_compile.compile(str(MODULE_PY), cfile=str(tmp_path / "MedSegModule.pyc"), doraise=True)
    lines = MODULE_PY.read_text(encoding="utf-8").count("\n")
    assert lines < 250, f"MedSegModule.py has {lines} lines; move work into medseg"


def test_module_imports_medseglib_only_inside_functions():
    """Slicer must be able to load the module before medseg's dependencies are installed."""
    for node in _module_tree().body:
        if isinstance(node, ast.Import):
            assert not any(a.name.split(".")[0] == "medseg" for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] != "medseg"


def test_module_class_names_follow_slicer_conventions():
    classes = {node.name: node for node in _module_tree().body if isinstance(node, ast.ClassDef)}
    expected_bases = {
        "MedSegModule": "ScriptedLoadableModule",
        "MedSegModuleWidget": "ScriptedLoadableModuleWidget",
        "MedSegModuleLogic": "ScriptedLoadableModuleLogic",
        "MedSegModuleTest": "ScriptedLoadableModuleTest",
    }
    for name, base in expected_bases.items():
        assert name in classes, f"MedSegModule.py lacks class {name}"
        assert base in {ast.unparse(b) for b in classes[name].bases}
