"""Slicer's own grow-cut filter (``vtkImageGrowCutSegment``, Segmentations module logic) as a grow engine.

It is the same fast grow-cut as ITK's FastGrowCut (which was built from it), and it ships with
Slicer and slicer-core: in Slicer, grow from seeds needs no extra package. It runs in this process,
like the Segment Editor's effect, so ``cancel`` is checked before and after it, not during.
Arrays are (z, y, x); spacing (z, y, x) mm.
"""

from __future__ import annotations

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from ..progress import check_cancel, report


def _image_data(array: np.ndarray, spacing) -> vtk.vtkImageData:
    data = vtk.vtkImageData()
    data.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
    data.SetSpacing(*(float(s) for s in spacing[::-1]))
    scalars = numpy_support.numpy_to_vtk(np.ascontiguousarray(array).ravel(), deep=True)
    data.GetPointData().SetScalars(scalars)
    return data


def slicer_grow_cut(intensity: np.ndarray, seeds: np.ndarray, mask, spacing, distance_penalty: float = 0.0,
                    progress=None, cancel=None) -> np.ndarray:
    """The engine signature of :mod:`medseg.autolabel.grow_engine`, run by Slicer's filter; uint8 labels."""
    check_cancel(cancel)
    grow = slicer.vtkImageGrowCutSegment()
    grow.SetIntensityVolume(_image_data(intensity, spacing))
    grow.SetSeedLabelVolume(_image_data(seeds.astype(np.uint8, copy=False), spacing))
    if mask is not None:
        grow.SetMaskVolume(_image_data(mask.astype(np.uint8), spacing))
    grow.SetDistancePenalty(float(distance_penalty))
    grow.Update()
    out = numpy_support.vtk_to_numpy(grow.GetOutput().GetPointData().GetScalars()).reshape(seeds.shape)
    check_cancel(cancel)
    report(progress, 1.0, "grow-cut done")
    return out.astype(np.uint8, copy=True)
