"""STAND-INS for the parts of Slicer that need its desktop application: Qt (``qt``, ``ctk``), the widgets of
MedSegModule.ui, ``slicer.ScriptedLoadableModule``, ``slicer.parameterNodeWrapper`` and ``slicer.app``.

They are *not* Slicer: they record what the panel does to them (text logged, buttons enabled, layouts
set) so that a test can drive the panel's handlers. Everything MRML stays real: the scene, the
application logic and the module logics come from the slicer-core wheel (``create_headless_app``),
and ``slicer.util`` is slicer-core's own module with only its Qt-bound helpers (loadUI,
childWidgetVariables, setSliceViewerLayers, selectModule, tryWithErrorDisplay, confirmOkCancelDisplay) replaced.
"""

from __future__ import annotations

import pathlib
import sys
import types
import unittest
import xml.etree.ElementTree as ET
from contextlib import contextmanager

# --- qt / ctk ------------------------------------------------------------------------------------


class StandInSignals:
    """PythonQt's ``obj.connect("signal(args)", slot)``; ``emit`` calls the slots."""

    def __init__(self):
        self._slots: dict[str, list] = {}

    def connect(self, signal, slot):
        self._slots.setdefault(signal.split("(")[0], []).append(slot)
        return True

    def disconnect(self, signal, slot=None):
        self._slots.pop(signal.split("(")[0], None)

    def emit(self, signal, *args):
        for slot in list(self._slots.get(signal.split("(")[0], [])):
            slot(*args)


class StandInTimer(StandInSignals):
    """qt.QTimer: the test's event loop (:func:`process_events`) fires active timers."""

    active: list = []

    def __init__(self):
        super().__init__()
        self.interval = 0

    def setInterval(self, ms):
        self.interval = ms

    def start(self, ms=None):
        if self not in StandInTimer.active:
            StandInTimer.active.append(self)

    def stop(self):
        if self in StandInTimer.active:
            StandInTimer.active.remove(self)

    def isActive(self):
        return self in StandInTimer.active

    @staticmethod
    def singleShot(ms, callback):
        callback()


def process_events():
    """One turn of the stand-in event loop: every active timer times out once."""
    for timer in list(StandInTimer.active):
        timer.emit("timeout()")


def make_qt_module():
    qt = types.ModuleType("qt")
    qt.__doc__ = "STAND-IN for PythonQt's qt module (Testing/mrml/panel_standins.py)"
    qt.QTimer = StandInTimer
    return qt


# --- the .ui's widgets ---------------------------------------------------------------------------

class StandInWidget(StandInSignals):
    """One widget of the .ui: its properties as attributes, and what the panel calls on its class."""

    def __init__(self, name, cls, properties):
        super().__init__()
        self.objectName, self.className = name, cls
        self.enabled, self.visible, self.toolTip, self.text = True, True, "", ""
        self.value, self.checked, self.currentPath = 0, False, ""
        self.__dict__.update(properties)
        self.items: list = []  # QComboBox: (text, data)
        self.lines: list = []  # QPlainTextEdit

    # QWidget
    def hide(self):
        self.visible = False

    def show(self):
        self.visible = True

    def setMRMLScene(self, scene):
        self.scene = scene

    def click(self):
        if self.enabled:
            self.emit("clicked(bool)", False)

    # QComboBox
    def addItem(self, text, data=None):
        self.items.append((text, data))

    def clear(self):
        self.items = []

    @property
    def count(self):
        return len(self.items)

    @property
    def currentText(self):
        return self.items[0][0] if self.items else ""

    @property
    def currentData(self):
        return self.items[0][1] if self.items else None

    # QPlainTextEdit
    def appendPlainText(self, text):
        self.lines.append(text)

    @property
    def plainText(self):
        return "\n".join(self.lines)


def _property_value(prop):
    for tag, convert in (("bool", lambda t: t == "true"), ("number", int), ("double", float), ("string", str)):
        found = prop.find(tag)
        if found is not None:
            return convert(found.text or "")
    return None


def load_ui(path):
    """slicer.util.loadUI stand-in: the root widget, with every named widget of the .ui under ``children``."""
    root = ET.parse(path).getroot()
    widgets = {}
    for w in root.iter("widget"):
        props = {p.get("name"): _property_value(p) for p in w.findall("property") if _property_value(p) is not None}
        props = {k: v for k, v in props.items() if k in ("enabled", "toolTip", "text", "value", "checked")}
        widgets[w.get("name")] = StandInWidget(w.get("name"), w.get("class"), props)
    top = widgets[root.find("widget").get("name")]
    top.children = widgets
    return top


def child_widget_variables(widget):
    return types.SimpleNamespace(**widget.children)


# --- slicer.ScriptedLoadableModule and slicer.parameterNodeWrapper -------------------------------

def make_scripted_loadable_module(module_dir: pathlib.Path, scene):
    m = types.ModuleType("slicer.ScriptedLoadableModule")
    m.__doc__ = "STAND-IN for slicer.ScriptedLoadableModule (Testing/mrml/panel_standins.py)"

    class ScriptedLoadableModule:
        def __init__(self, parent):
            self.parent = parent

    class Layout:
        def __init__(self):
            self.widgets = []

        def addWidget(self, widget):
            self.widgets.append(widget)

    class ScriptedLoadableModuleWidget:
        def __init__(self, parent=None):
            self.parent = parent
            self.layout = Layout()

        def setup(self):
            pass

        def resourcePath(self, filename):
            return str(module_dir / "Resources" / filename)

    class ScriptedLoadableModuleLogic:
        def __init__(self):
            self.parameterNode = None

        def getParameterNode(self):
            # A real parameter node (vtkMRMLScriptedModuleNode) in the real scene, as Slicer's is.
            if self.parameterNode is None:
                self.parameterNode = scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode", "MedSegModule")
            return self.parameterNode

    class ScriptedLoadableModuleTest(unittest.TestCase):
        def delayDisplay(self, message, msec=None):
            print(message)

    m.ScriptedLoadableModule = ScriptedLoadableModule
    m.ScriptedLoadableModuleWidget = ScriptedLoadableModuleWidget
    m.ScriptedLoadableModuleLogic = ScriptedLoadableModuleLogic
    m.ScriptedLoadableModuleTest = ScriptedLoadableModuleTest
    return m


def make_parameter_node_wrapper():
    """Typed fields over a real vtkMRMLScriptedModuleNode; setting one sends the node's ModifiedEvent."""
    m = types.ModuleType("slicer.parameterNodeWrapper")
    m.__doc__ = "STAND-IN for slicer.parameterNodeWrapper (Testing/mrml/panel_standins.py)"

    class Choice:
        def __init__(self, choices):
            self.choices = choices

    class WithinRange:
        def __init__(self, low, high):
            self.low, self.high = low, high

    def parameterNodeWrapper(cls):
        defaults = {name: getattr(cls, name, pathlib.Path() if "Path" in str(t) else None)
                    for name, t in cls.__annotations__.items()}

        class Wrapped:
            def __init__(self, node):
                object.__setattr__(self, "node", node)
                object.__setattr__(self, "values", dict(defaults))

            def __getattr__(self, name):
                if name in defaults:
                    return self.values[name]
                raise AttributeError(name)

            def __setattr__(self, name, value):
                if name not in defaults:
                    raise AttributeError(f"{cls.__name__} has no parameter {name!r}")
                self.values[name] = value
                self.node.Modified()

            def connectGui(self, ui):
                return ("gui", id(ui))

            def disconnectGui(self, tag):
                pass

            def AddObserver(self, event, callback, priority=0.0):
                return self.node.AddObserver(event, callback, priority)

            def RemoveObserver(self, tag):
                self.node.RemoveObserver(tag)

        Wrapped.__name__ = cls.__name__
        return Wrapped

    m.Choice, m.WithinRange, m.parameterNodeWrapper = Choice, WithinRange, parameterNodeWrapper
    return m


# --- slicer.app and slicer.modules -----------------------------------------------------------------

class StandInLayoutManager:
    def __init__(self):
        self.layout = 1
        self.layouts = []

    def setLayout(self, layout):
        self.layout = layout
        self.layouts.append(layout)


class StandInApplication(StandInSignals):
    """slicer.app: the real application logic of the headless scene; the rest recorded."""

    def __init__(self, app_logic, temporary_path):
        super().__init__()
        self._app_logic, self.temporaryPath = app_logic, str(temporary_path)
        self._layout = StandInLayoutManager()
        self.testing = False

    def applicationLogic(self):
        return self._app_logic

    def layoutManager(self):
        return self._layout

    def commandOptions(self):
        return types.SimpleNamespace(testingEnabled=self.testing)

    def processEvents(self):
        pass


class StandInModuleLogic:
    def __init__(self, logic):
        self._logic = logic

    def logic(self):
        return self._logic


# --- putting them in place -------------------------------------------------------------------------

@contextmanager
def panel_environment(monkeypatch, headless, module_dir: pathlib.Path, temporary_path):
    """Install the stand-ins around the real ``slicer`` module; yields a record of what the panel showed."""
    import slicer
    import slicer.util

    record = types.SimpleNamespace(errors=[], slice_layers=[], confirmations=[], modules_selected=[],
                                   app=StandInApplication(headless.app_logic, temporary_path))
    monkeypatch.setitem(sys.modules, "qt", make_qt_module())
    monkeypatch.setitem(sys.modules, "ctk", types.ModuleType("ctk"))
    monkeypatch.setitem(sys.modules, "slicer.ScriptedLoadableModule",
                        make_scripted_loadable_module(module_dir, headless.scene))
    monkeypatch.setitem(sys.modules, "slicer.parameterNodeWrapper", make_parameter_node_wrapper())
    monkeypatch.setattr(slicer, "app", record.app, raising=False)
    monkeypatch.setattr(slicer, "mrmlScene", headless.scene, raising=False)
    modules = types.SimpleNamespace(tables=StandInModuleLogic(headless.logic("Tables")))
    monkeypatch.setattr(slicer, "modules", modules, raising=False)
    monkeypatch.setattr(slicer.util, "loadUI", load_ui)
    monkeypatch.setattr(slicer.util, "childWidgetVariables", child_widget_variables)
    monkeypatch.setattr(slicer.util, "setSliceViewerLayers", lambda **kw: record.slice_layers.append(kw))
    monkeypatch.setattr(slicer.util, "selectModule", lambda name: record.modules_selected.append(name))

    def confirm(text, windowTitle=None, **kw):
        record.confirmations.append(text)
        return True

    monkeypatch.setattr(slicer.util, "confirmOkCancelDisplay", confirm)

    @contextmanager
    def try_with_error_display(message=None, show=True, waitCursor=False):
        try:
            yield
        except Exception as exc:  # as Slicer's: show, then raise again
            record.errors.append(f"{message} {exc}")
            raise

    monkeypatch.setattr(slicer.util, "tryWithErrorDisplay", try_with_error_display)
    monkeypatch.syspath_prepend(str(module_dir))
    StandInTimer.active = []
    yield record
    StandInTimer.active = []
