"""Slicer's own grow-cut filter (``vtkImageGrowCutSegment``, Segmentations module logic) as a grow engine.

It is the same fast grow-cut as ITK's FastGrowCut (which was built from it), and it ships with
Slicer and slicer-core: where it can be imported, grow from seeds needs no extra package. It runs
in the calling process, like the Segment Editor's effect, so ``cancel`` is checked before and after
it, not during. Arrays are (z, y, x); spacing (z, y, x) mm.

:func:`pick_engine` chooses for a process that may not be Slicer's (the panel's background step):
Slicer's filter where its wrapper module imports without ``slicer``'s application, else ITK's
FastGrowCut (``itk-growcut``, the "grow" feature of :mod:`.install`).
"""

from __future__ import annotations

import importlib
import importlib.util

import numpy as np

from ..progress import check_cancel, report

#: Where ``vtkImageGrowCutSegment`` lives: Slicer's own wrapper module (as its Segment Editor effect
#: imports it), then the ``slicer`` package (Slicer's application, and the slicer-core wheel).
WRAPPER_MODULE = "vtkSlicerSegmentationsModuleLogicPython"


def _filter_class():
    """The ``vtkImageGrowCutSegment`` class, or None where neither place has it."""
    if importlib.util.find_spec(WRAPPER_MODULE) is not None:
        return importlib.import_module(WRAPPER_MODULE).vtkImageGrowCutSegment
    try:
        import slicer
    except ImportError:
        return None
    return getattr(slicer, "vtkImageGrowCutSegment", None)


def slicer_filter_available() -> bool:
    """Slicer's wrapper module is importable here (so a background step can use Slicer's filter)."""
    return importlib.util.find_spec(WRAPPER_MODULE) is not None


def wrapper_folder():
    """The folder of Slicer's wrapper module as this process finds it (None: not found), for the
    background process's import path: Slicer adds module folders to ``sys.path`` as it loads them,
    which its plain ``PythonSlicer`` does not."""
    import os

    spec = importlib.util.find_spec(WRAPPER_MODULE)
    return os.path.dirname(spec.origin) if spec is not None and spec.origin else None


def _image_data(array: np.ndarray, spacing):
    import vtk
    from vtk.util import numpy_support

    data = vtk.vtkImageData()
    data.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
    data.SetSpacing(*(float(s) for s in spacing[::-1]))
    scalars = numpy_support.numpy_to_vtk(np.ascontiguousarray(array).ravel(), deep=True)
    data.GetPointData().SetScalars(scalars)
    return data


def slicer_grow_cut(intensity: np.ndarray, seeds: np.ndarray, mask, spacing, distance_penalty: float = 0.0,
                    progress=None, cancel=None, grow_class=None) -> np.ndarray:
    """The engine signature of :mod:`medseg.autolabel.grow_engine`, run by Slicer's filter; uint8 labels."""
    from vtk.util import numpy_support

    check_cancel(cancel)
    grow = (grow_class or _filter_class())()
    grow.SetIntensityVolume(_image_data(intensity, spacing))
    grow.SetSeedLabelVolume(_image_data(seeds.astype(np.uint8, copy=False), spacing))
    if mask is not None:
        grow.SetMaskVolume(_image_data(mask.astype(np.uint8), spacing))
    grow.SetDistancePenalty(float(distance_penalty))
    grow.Update()
    out = numpy_support.vtk_to_numpy(grow.GetOutput().GetPointData().GetScalars()).reshape(seeds.shape)
    check_cancel(cancel)
    report(progress, 1.0, "grow-cut done (Slicer's filter)")
    return out.astype(np.uint8, copy=True)


ENGINES = ("slicer", "itk", "auto")


def pick_engine(name: str = "auto"):
    """(engine function, what it is) for ``name``: "slicer" (Slicer's filter, in this process), "itk"
    (ITK's FastGrowCut in a child process: progress in seconds, cancel at once) or "auto" (Slicer's
    filter where its wrapper module imports without ``slicer``, else ITK's, also when the wrapper is
    found but does not load)."""
    from ..errors import ParameterError

    if name not in ENGINES:
        raise ParameterError(f"grow engine must be one of {', '.join(ENGINES)}, got {name!r}")
    if name == "slicer":
        return slicer_grow_cut, "Slicer's vtkImageGrowCutSegment"
    if name == "auto" and slicer_filter_available():
        try:
            grow_class = _filter_class()
        except (ImportError, OSError):  # found, but its libraries are not loadable in this process
            grow_class = None
        if grow_class is not None:
            def engine(*args, **kwargs):
                return slicer_grow_cut(*args, grow_class=grow_class, **kwargs)
            return engine, "Slicer's vtkImageGrowCutSegment"
    from ..autolabel.grow_engine import itk_grow_cut

    return itk_grow_cut, "ITK's FastGrowCut"
