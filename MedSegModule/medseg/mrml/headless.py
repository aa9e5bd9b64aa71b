"""Bootstrap slicer-core without the Slicer application: a scene plus the logics MedSeg needs.

Inside Slicer, use ``slicer.mrmlScene`` and the application's module logics instead. Under the
``slicer-core`` wheel there is no ``slicer.app``/``slicer.modules``, so tests and the Qt-free logic
build the same objects here::

    app = create_headless_app()
    node = app.scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    logic = MedSegLogic(app.scene, app.app_logic)
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import slicer
import vtk

#: Module logics registered by :func:`create_headless_app`, in registration order, as
#: (module name, class name in ``slicer``). Colors comes first: the volume display nodes the
#: others create refer to its default colour tables (``vtkMRMLColorTableNodeGrey``).
#: Terminologies is left out: the wheel has no terminology files for it to load, and MedSeg
#: writes its segments' terminology entries itself (``scene.terminology``).
MODULE_LOGICS: tuple[tuple[str, str], ...] = (
    ("Colors", "vtkSlicerColorLogic"),
    ("SubjectHierarchy", "vtkSlicerSubjectHierarchyModuleLogic"),
    ("Segmentations", "vtkSlicerSegmentationsModuleLogic"),
    ("Volumes", "vtkSlicerVolumesLogic"),
    ("Models", "vtkSlicerModelsLogic"),
    ("Tables", "vtkSlicerTablesLogic"),
)


@dataclass
class HeadlessSlicer:
    """A MRML scene with an application logic and the module logics of :data:`MODULE_LOGICS` registered."""

    scene: "slicer.vtkMRMLScene"
    app_logic: "slicer.vtkSlicerApplicationLogic"
    segmentations_logic: "slicer.vtkSlicerSegmentationsModuleLogic"
    logics: dict = field(default_factory=dict)

    def logic(self, module_name: str):
        """The registered logic of ``module_name`` ("Segmentations", "Models", ...)."""
        return self.logics[module_name]

    def clear(self) -> None:
        """Remove every node from the scene (keeps the logics)."""
        self.scene.Clear(False)


@contextmanager
def quiet_vtk():
    """Silence VTK warnings and errors for a moment (restoring the previous setting).

    The Colors logic complains that it has no home directory to read colour files from, though it
    adds its built-in colour tables, which is all MedSeg needs.
    """
    shown = vtk.vtkObject.GetGlobalWarningDisplay()
    vtk.vtkObject.GlobalWarningDisplayOff()
    try:
        yield
    finally:
        vtk.vtkObject.SetGlobalWarningDisplay(shown)


def register_module_logic(scene, app_logic, module_name: str, logic) -> object:
    """Give ``logic`` the application logic and the scene, and register it as ``module_name``.

    The order matters: Slicer's module logics look up sibling logics through the application
    logic while they observe the scene, so the application logic is set first.
    """
    logic.SetMRMLApplicationLogic(app_logic)
    logic.SetMRMLScene(scene)
    app_logic.SetModuleLogic(module_name, logic)
    return logic


def create_headless_app() -> HeadlessSlicer:
    """Create a ``vtkMRMLScene``, a ``vtkSlicerApplicationLogic`` and the module logics MedSeg uses.

    Each logic in :data:`MODULE_LOGICS` is given the scene and the application logic and is
    registered under its module name, as Slicer does at start-up; a logic class missing from this
    build of slicer-core is left out (``logics`` lists what is there).
    """
    scene = slicer.vtkMRMLScene()
    app_logic = slicer.vtkSlicerApplicationLogic()
    app_logic.SetMRMLScene(scene)
    logics = {}
    for module_name, class_name in MODULE_LOGICS:
        cls = getattr(slicer, class_name, None)
        if cls is None:
            continue
        # The dict keeps each logic alive: the application logic does not own them, and a
        # collected Colors logic takes its colour tables out of the scene with it.
        with quiet_vtk() if module_name == "Colors" else nullcontext():
            logics[module_name] = register_module_logic(scene, app_logic, module_name, cls())
    return HeadlessSlicer(scene=scene, app_logic=app_logic, segmentations_logic=logics["Segmentations"],
                          logics=logics)
