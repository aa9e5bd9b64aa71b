"""The fast grow-cut engine: ITK's ``FastGrowCut`` (the ``itk-growcut`` package), in a child process.

``FastGrowCut`` is the ITK remote module built from Slicer's ``vtkImageGrowCutSegment``, the code
behind the Segment Editor's "Grow from seeds" effect (Zhu et al., MICCAI IMIC 2014): a Dijkstra
from all seeds at once over the 26-neighbourhood, where a step costs the absolute intensity
difference (plus ``distance_penalty`` per mm), and each voxel takes the label of the seed that
reaches it cheapest.

Its single C++ call neither reports progress nor stops early, and holds the interpreter lock for
minutes on a large volume. It therefore runs in a child interpreter that reads and writes
shared memory: the parent reports the elapsed time, and a set ``cancel`` event (or Ctrl-C) ends
the child at once. Any engine with the signature of :func:`itk_grow_cut` can stand in for it
(Slicer's own filter does in :mod:`medseg.mrml.logic`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from multiprocessing import shared_memory
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..errors import DependencyError, MedSegError
from ..progress import CancelEvent, Progress, check_cancel, report

#: ``engine(intensity, seeds, mask, spacing, distance_penalty, progress, cancel) -> labels``: arrays
#: (z, y, x) on one grid; intensity int16 or float32, seeds uint8 (0 = none), mask bool (True =
#: excluded from growing) or None, spacing (z, y, x) mm; returns uint8 labels.
Engine = Callable[..., np.ndarray]

#: The folder holding the ``medseg`` package, for the child's import path.
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINT = "grow from seeds needs ITK's fast grow-cut: pip install itk-growcut (make setup installs it)"


def require_itk_growcut() -> None:
    """Raise :class:`DependencyError` (one line, how to install) when itk-growcut is missing."""
    import importlib.util

    if importlib.util.find_spec("itk") is None or importlib.util.find_spec("itk.itkFastGrowCutPython") is None:
        raise DependencyError(INSTALL_HINT)


#: numpy dtype -> ITK's wrapped pixel type name (FastGrowCut is wrapped for these intensities).
_ITK_TYPES = {"int16": "SS", "uint8": "UC", "uint16": "US", "float32": "F", "float64": "D"}


def fast_grow_cut_in_process(intensity: np.ndarray, seeds: np.ndarray, mask: Optional[np.ndarray],
                             spacing, distance_penalty: float = 0.0) -> np.ndarray:
    """Run ITK's FastGrowCut here (blocking, no progress); returns the uint8 labels (z, y, x).

    The wrapped classes are imported directly: ``itk.FastGrowCut[...]``'s lazy loading of every
    ITK module takes about twice as long.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # SWIG's "builtin type ... has no __module__"
        from itk import itkFastGrowCutPython as growcut
        from itk import itkPyBufferPython as buffers

    kind = _ITK_TYPES.get(np.dtype(intensity.dtype).name)
    if kind is None:
        intensity, kind = intensity.astype(np.float32), "F"

    def image(array, pixel):
        img = getattr(buffers, f"itkPyBufferI{pixel}3").GetImageViewFromArray(np.ascontiguousarray(array))
        img.SetSpacing([float(s) for s in spacing[::-1]])
        return img

    grey, seed_image = image(intensity, kind), image(seeds.astype(np.uint8, copy=False), "UC")
    grow = getattr(growcut, f"itkFastGrowCutI{kind}3IUC3_New")()
    grow.SetInput(grey)
    grow.SetSeedImage(seed_image)
    if mask is not None:
        mask_image = image(mask.astype(np.uint8), "UC")
        grow.SetMaskImage(mask_image)
    grow.SetDistancePenalty(float(distance_penalty))
    grow.Update()
    output = grow.GetOutput()  # held while its buffer is viewed, then copied
    return np.array(buffers.itkPyBufferIUC3.GetArrayViewFromImage(output), dtype=np.uint8, copy=True)


def itk_grow_cut_here(intensity: np.ndarray, seeds: np.ndarray, mask: Optional[np.ndarray], spacing,
                      distance_penalty: float = 0.0, progress: Progress | None = None,
                      cancel: CancelEvent = None) -> np.ndarray:
    """The same engine in this process: no child start-up (seconds), but no cancel while it runs."""
    require_itk_growcut()
    check_cancel(cancel)
    labels = fast_grow_cut_in_process(intensity, seeds, mask, spacing, distance_penalty)
    report(progress, 1.0, "grow-cut done")
    return labels


def _shared(array: np.ndarray) -> tuple[shared_memory.SharedMemory, np.ndarray]:
    block = shared_memory.SharedMemory(create=True, size=max(1, array.nbytes))
    view = np.ndarray(array.shape, array.dtype, buffer=block.buf)
    view[...] = array
    return block, view


def _attach(name: str) -> shared_memory.SharedMemory:
    """Open a block of the parent's; this process's exit must not remove it (the parent unlinks it)."""
    try:
        return shared_memory.SharedMemory(name=name, track=False)  # Python >= 3.13
    except TypeError:
        from multiprocessing import resource_tracker

        block = shared_memory.SharedMemory(name=name)
        resource_tracker.unregister(block._name, "shared_memory")  # noqa: SLF001  (this process's own tracker)
        return block


def _child_main(spec: dict) -> int:
    """``python -m medseg.autolabel.grow_engine SPEC``: attach the blocks, grow, write the labels.

    Prints one JSON line, ``{"ok": true}`` or ``{"ok": false, "error": ...}``.
    """
    blocks = {k: _attach(v) for k, v in spec["blocks"].items()}
    shape = tuple(spec["shape"])
    arrays = {k: np.ndarray(shape, np.dtype(spec["dtypes"][k]), buffer=b.buf) for k, b in blocks.items()}
    try:
        arrays["out"][...] = fast_grow_cut_in_process(arrays["intensity"], arrays["seeds"], arrays.get("mask"),
                                                      spec["spacing"], spec["distance_penalty"])
        print(json.dumps({"ok": True}), flush=True)
        return 0
    except Exception as exc:  # the parent raises it, with this text
        print(json.dumps({"ok": False, "error": f"{exc.__class__.__name__}: {exc}"}), flush=True)
        return 1
    finally:
        arrays.clear()
        for b in blocks.values():
            b.close()


def itk_grow_cut(intensity: np.ndarray, seeds: np.ndarray, mask: Optional[np.ndarray], spacing,
                 distance_penalty: float = 0.0, progress: Progress | None = None,
                 cancel: CancelEvent = None, poll_s: float = 0.25) -> np.ndarray:
    """ITK's FastGrowCut in a child process (see the module's docstring); returns uint8 labels (z, y, x).

    ``progress`` gets the elapsed seconds (the C++ call tells nothing more); ``cancel`` stops the
    child within ``poll_s`` and raises :class:`~medseg.errors.Cancelled`.
    """
    require_itk_growcut()
    check_cancel(cancel)
    inputs = {"intensity": intensity, "seeds": seeds.astype(np.uint8, copy=False)}
    if mask is not None:
        inputs["mask"] = mask.astype(np.uint8, copy=False)
    blocks, views = {}, {}
    proc = None
    try:
        for key, arr in {**inputs, "out": np.zeros(intensity.shape, np.uint8)}.items():
            blocks[key], views[key] = _shared(arr)
        spec = {"blocks": {k: b.name for k, b in blocks.items()}, "shape": list(intensity.shape),
                "dtypes": {k: v.dtype.str for k, v in views.items()}, "spacing": [float(s) for s in spacing],
                "distance_penalty": float(distance_penalty)}
        # A plain interpreter running this module, not multiprocessing: it needs no guarded __main__
        # in the caller's script, and the child imports only numpy and itk.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")]))
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", __name__, json.dumps(spec)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        while proc.poll() is None:
            check_cancel(cancel)
            report(progress, 0.5, f"grow-cut: {time.perf_counter() - t0:.0f} s")
            try:
                proc.wait(poll_s)
            except subprocess.TimeoutExpired:
                pass
        out, err = proc.communicate()
        lines = [line for line in out.splitlines() if line.startswith("{")]
        result = json.loads(lines[-1]) if lines else {"ok": False, "error": (
            f"the grow-cut process ended with exit code {proc.returncode} (out of memory?) "
            + (err.strip().splitlines() or [""])[-1])}
        if not result["ok"]:
            if result["error"].startswith(("ModuleNotFoundError", "ImportError")):
                raise DependencyError(f"{INSTALL_HINT} ({result['error']})")
            raise MedSegError(f"grow from seeds failed: {result['error']}")
        report(progress, 1.0, f"grow-cut: {time.perf_counter() - t0:.1f} s")
        return views["out"].copy()
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()  # a cancel, Ctrl-C or error in the parent: the child's work is dropped
            proc.wait()
        views.clear()
        for block in blocks.values():
            block.close()
            block.unlink()


if __name__ == "__main__":
    sys.exit(_child_main(json.loads(sys.argv[1])))
