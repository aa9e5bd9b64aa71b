"""Pictures of what Slicer shows, rendered offscreen by Slicer's own view classes (no Qt).

A slice view (Red/Yellow/Green) is drawn as ``qMRMLSliceWidget`` draws it: ``vtkMRMLSliceLogic``
reslices and window-levels the background volume into an RGBA image, and the slice view
displayable managers (``vtkMRMLSegmentationsDisplayableManager2D``: segment fill and outline)
draw on top, in one offscreen render window. The 3D view uses the 3D displayable managers
(segmentation closed surfaces, models, the view box) with Slicer's default camera and background.
VTK renders offscreen here through EGL (or OSMesa); the PNGs are those renders, not mock-ups.

Every helper node made for a picture is removed from the scene afterwards.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from ..io.atomic import atomic_output

#: view name -> (orientation, view colour as Slicer's view controllers show it, RGB 0..1).
VIEWS = {
    "Red": ("Axial", (0.953, 0.290, 0.290)),
    "Yellow": ("Sagittal", (0.929, 0.835, 0.298)),
    "Green": ("Coronal", (0.431, 0.690, 0.294)),
}
SLICE_MANAGERS = ("vtkMRMLSegmentationsDisplayableManager2D", "vtkMRMLModelSliceDisplayableManager")
THREED_MANAGERS = ("vtkMRMLViewDisplayableManager", "vtkMRMLCameraDisplayableManager",
                   "vtkMRMLModelDisplayableManager", "vtkMRMLSegmentationsDisplayableManager3D")


@contextmanager
def _temporary_nodes(scene):
    """Collects nodes added for a picture and removes them from ``scene`` on the way out."""
    made: list = []
    try:
        yield made
    finally:
        for node in reversed(made):
            if node is not None and scene.IsNodePresent(node):
                scene.RemoveNode(node)


def _window(size: tuple[int, int]):
    window = vtk.vtkRenderWindow()
    window.SetOffScreenRendering(1)
    window.SetSize(*size)
    renderer = vtk.vtkRenderer()
    window.AddRenderer(renderer)
    # Displayable managers observe an interactor; a generic one needs no display connection.
    interactor = vtk.vtkGenericRenderWindowInteractor()
    interactor.SetRenderWindow(window)
    return window, renderer, interactor


def _managers(factory, renderer, names: Iterable[str], app_logic):
    factory.SetMRMLApplicationLogic(app_logic)
    for name in names:
        if hasattr(slicer, name) and not factory.IsDisplayableManagerRegistered(name):
            factory.RegisterDisplayableManager(name)
    return factory.InstantiateDisplayableManagers(renderer)


def _segmentation_nodes(scene) -> list:
    return [scene.GetNthNodeByClass(i, "vtkMRMLSegmentationNode")
            for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode"))]


def _hide_segments(scene, names: Iterable[str], setter: str) -> list[tuple]:
    """Turn a display setting off for the named segments of every segmentation; returns what changed."""
    names, changed = set(names), []
    for node in _segmentation_nodes(scene):
        display, seg = node.GetDisplayNode(), node.GetSegmentation()
        for i in range(seg.GetNumberOfSegments() if display is not None else 0):
            if seg.GetNthSegment(i).GetName() in names:
                changed.append((display, seg.GetNthSegmentID(i)))
                getattr(display, setter)(changed[-1][1], False)
    return changed


def _show_segments(changed: list[tuple], setter: str) -> None:
    for display, seg_id in changed:
        getattr(display, setter)(seg_id, True)


def _grab(window) -> np.ndarray:
    """The rendered window as an (H, W, 3) uint8 array, top row first."""
    window.Render()
    grab = vtk.vtkWindowToImageFilter()
    grab.SetInput(window)
    grab.SetInputBufferTypeToRGB()
    grab.ReadFrontBufferOff()
    grab.Update()
    image = grab.GetOutput()
    w, h, _ = image.GetDimensions()
    arr = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(h, w, -1)
    return np.ascontiguousarray(arr[::-1, :, :3])  # VTK's first row is the bottom one


def render_slice_view(scene, volumeNode, view: str = "Red", size=(512, 512), ras: Sequence[float] | None = None,
                      app_logic=None, hide_fill: Iterable[str] = (), segmentations: bool = True) -> np.ndarray:
    """Render one slice view of ``volumeNode`` with the scene's visible segmentations over it; (H, W, 3) uint8.

    view: "Red" (axial), "Yellow" (sagittal) or "Green" (coronal). size: (width, height) pixels.
    ras: a point (RAS mm) the slice goes through; default the volume's centre. The field of view
    fits the volume, as Slicer's "reset field of view" does. hide_fill: segment names drawn as
    outline only (e.g. "body", so the CT under it stays visible), a display setting Slicer has.
    segmentations: False draws the volume alone (the segmentations are hidden for this picture).
    """
    orientation = VIEWS[view][0]
    app_logic = app_logic or slicer.vtkMRMLApplicationLogic()
    with _temporary_nodes(scene) as made:
        slice_node = scene.AddNewNodeByClass("vtkMRMLSliceNode", view)
        made.append(slice_node)
        slice_node.SetLayoutName(view)
        slice_node.SetOrientation(orientation)
        slice_node.SetDimensions(size[0], size[1], 1)
        composite = scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
        made.append(composite)
        composite.SetLayoutName(view)
        composite.SetBackgroundVolumeID(volumeNode.GetID())
        logic = slicer.vtkMRMLSliceLogic()
        logic.SetMRMLApplicationLogic(app_logic)
        logic.SetMRMLScene(scene)
        logic.SetSliceNode(slice_node)
        logic.FitSliceToAll()
        if ras is None:
            bounds = [0.0] * 6
            volumeNode.GetRASBounds(bounds)
            ras = [(bounds[2 * i] + bounds[2 * i + 1]) / 2 for i in range(3)]
        slice_node.JumpSliceByOffsetting(*ras)
        hidden = _hide_segments(scene, hide_fill, "SetSegmentVisibility2DFill")
        shown = [n.GetDisplayNode() for n in _segmentation_nodes(scene) if not segmentations and n.GetDisplayNode()]
        for display in shown:
            display.SetVisibility2D(False)
        window, renderer, _interactor = _window(size)
        mapper = vtk.vtkImageMapper()
        mapper.SetInputConnection(logic.GetImageDataConnection())
        mapper.SetColorWindow(255.0)
        mapper.SetColorLevel(127.5)
        actor = vtk.vtkActor2D()
        actor.SetMapper(mapper)
        renderer.AddViewProp(actor)
        group = _managers(slicer.vtkMRMLSliceViewDisplayableManagerFactory.GetInstance(), renderer,
                          SLICE_MANAGERS, app_logic)
        group.SetMRMLDisplayableNode(slice_node)
        try:
            return _grab(window)
        finally:
            _show_segments(hidden, "SetSegmentVisibility2DFill")
            for display in shown:
                display.SetVisibility2D(True)
            group.SetMRMLDisplayableNode(None)
            logic.DeleteSliceModel()  # the slice logic adds a model of its plane for the 3D view
            logic.SetMRMLScene(None)


def render_3d_view(scene, size=(512, 512), app_logic=None, azimuth: float = 0.0, elevation: float = 0.0,
                   hide: Iterable[str] = ()) -> np.ndarray:
    """Render Slicer's 3D view of everything visible in ``scene`` (segment surfaces, models); (H, W, 3) uint8.

    The camera starts where Slicer's does (looking at the patient from the front, superior up),
    is turned by ``azimuth``/``elevation`` degrees, and is reset to fit what is shown. ``hide``:
    names of segments left out of the 3D view (e.g. the body, which hides everything inside it),
    for this picture only.
    """
    app_logic = app_logic or slicer.vtkMRMLApplicationLogic()
    hidden = _hide_segments(scene, hide, "SetSegmentVisibility3D")
    with _temporary_nodes(scene) as made:
        view = scene.AddNewNodeByClass("vtkMRMLViewNode")
        made.append(view)
        view.SetLayoutName("1")
        camera = scene.AddNewNodeByClass("vtkMRMLCameraNode")
        made.append(camera)
        camera.SetLayoutName("1")
        window, renderer, _interactor = _window(size)
        renderer.GradientBackgroundOn()
        renderer.SetBackground(*view.GetBackgroundColor())
        renderer.SetBackground2(*view.GetBackgroundColor2())
        group = _managers(slicer.vtkMRMLThreeDViewDisplayableManagerFactory.GetInstance(), renderer,
                          THREED_MANAGERS, app_logic)
        group.SetMRMLDisplayableNode(view)
        try:
            renderer.ResetCamera()
            renderer.GetActiveCamera().Azimuth(azimuth)
            renderer.GetActiveCamera().Elevation(elevation)
            renderer.ResetCamera()
            return _grab(window)
        finally:
            group.SetMRMLDisplayableNode(None)
            _show_segments(hidden, "SetSegmentVisibility3D")


def side_by_side(images: Sequence[np.ndarray], colours: Sequence[tuple[float, float, float]] | None = None,
                 bar: int = 6, gap: int = 4) -> np.ndarray:
    """Images in a row (heights padded to the tallest), each under a bar of its view's colour."""
    height = max(im.shape[0] for im in images)
    tiles = []
    for n, im in enumerate(images):
        tile = np.zeros((height + bar, im.shape[1], 3), dtype=np.uint8)
        if colours is not None:
            tile[:bar] = np.round(np.asarray(colours[n]) * 255).astype(np.uint8)
        tile[bar:bar + im.shape[0]] = im
        tiles.append(tile)
        tiles.append(np.full((height + bar, gap, 3), 255, dtype=np.uint8))
    return np.concatenate(tiles[:-1], axis=1)


def write_png(rgb: np.ndarray, path: str | os.PathLike) -> Path:
    """Write an (H, W, 3) uint8 array as PNG (vtkPNGWriter), atomically."""
    h, w, _ = rgb.shape
    image = vtk.vtkImageData()
    image.SetDimensions(w, h, 1)
    scalars = numpy_support.numpy_to_vtk(np.ascontiguousarray(rgb[::-1]).reshape(-1, 3), deep=True)
    image.GetPointData().SetScalars(scalars)
    with atomic_output(path) as tmp:
        writer = vtk.vtkPNGWriter()
        writer.SetFileName(str(tmp))
        writer.SetInputData(image)
        writer.Write()
    return Path(path)
