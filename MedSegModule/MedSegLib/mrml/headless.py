"""Bootstrap slicer-core without the Slicer application: a scene plus the logics MedSeg needs.

Inside Slicer, use ``slicer.mrmlScene`` and the application's module logics instead. Under the
``slicer-core`` wheel there is no ``slicer.app``/``slicer.modules``, so tests and the Qt-free logic
build the same objects here::

    app = create_headless_app()
    node = app.scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
"""

from __future__ import annotations

from dataclasses import dataclass

import slicer


@dataclass
class HeadlessSlicer:
    """A MRML scene with an application logic and the Segmentations module logic registered."""

    scene: "slicer.vtkMRMLScene"
    app_logic: "slicer.vtkSlicerApplicationLogic"
    segmentations_logic: "slicer.vtkSlicerSegmentationsModuleLogic"

    def clear(self) -> None:
        """Remove every node from the scene (keeps the logics)."""
        self.scene.Clear(False)


def create_headless_app() -> HeadlessSlicer:
    """Create a ``vtkMRMLScene``, a ``vtkSlicerApplicationLogic`` and a registered Segmentations logic.

    The Segmentations logic is given the scene and the application logic, and is registered as
    the application's ``"Segmentations"`` module logic, as Slicer does at start-up.
    """
    scene = slicer.vtkMRMLScene()
    app_logic = slicer.vtkSlicerApplicationLogic()
    app_logic.SetMRMLScene(scene)
    segmentations = slicer.vtkSlicerSegmentationsModuleLogic()
    segmentations.SetMRMLScene(scene)
    segmentations.SetMRMLApplicationLogic(app_logic)
    app_logic.SetModuleLogic("Segmentations", segmentations)
    return HeadlessSlicer(scene=scene, app_logic=app_logic, segmentations_logic=segmentations)
