"""MedSeg's self-test: every logic method on a generated chest phantom, checked against its truth.

The same steps run inside Slicer (``MedSegModuleTest``, ``Testing/run_in_slicer.py``) and under
pytest with slicer-core (``Testing/test_selftest.py``)::

    results = run_selftest(MedSegLogic(slicer.mrmlScene), workdir)
    assert all(r.ok for r in results)

Each step returns the numbers it measured (volumes in ml, counts) and raises ``AssertionError``
when one is off.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import SimpleITK as sitk

from .. import labels as L
from ..errors import MedSegError
from . import scene as S
from .logic import MedSegLogic, list_models

#: Largest relative lung volume error (|measured - truth| / truth) the lung steps may make.
LUNG_VOLUME_TOLERANCE = 0.05
#: Smallest body Dice of the table removal on the phantom.
BODY_DICE = 0.99
#: Steps in the order they run; "truth" imports the phantom's ground truth for the table steps.
STEPS = ("convert", "truth", "removeTable", "segmentLungs", "autolabel", "runUNet", "segmentStatistics",
         "exportRadiomics", "exportMeshes", "saveSegmentation")


@dataclass
class StepResult:
    """One step's outcome: ``ok``, seconds taken, the numbers it measured, and the error if any."""

    name: str
    ok: bool
    seconds: float
    numbers: dict = field(default_factory=dict)
    error: str = ""


def _names(node) -> list[str]:
    seg = node.GetSegmentation()
    return [seg.GetNthSegment(i).GetName() for i in range(seg.GetNumberOfSegments())]


def _voxels(node) -> dict[str, int]:
    """{segment name: voxel count} from each segment's own 0/1 labelmap."""
    seg = node.GetSegmentation()
    out = {}
    for i in range(seg.GetNumberOfSegments()):
        image = S.segment_mask(node, seg.GetNthSegmentID(i))
        out[seg.GetNthSegment(i).GetName()] = int(np.count_nonzero(S.image_data_to_array(image, allow_empty=True)))
    return out


class SelfTest:
    """The self-test on one scene: writes the phantom study to ``workdir`` and runs :data:`STEPS`."""

    def __init__(self, logic: MedSegLogic, workdir: str | Path, seed: int = 0, shape=(32, 128, 128)):
        """logic: a MedSegLogic on the scene to test in. workdir: a folder for the phantom study and
        the seg.nrrd. seed: the phantom's seed. shape: its (z, y, x) size."""
        from ..phantom import write_phantom_study

        self.logic = logic
        self.workdir = Path(workdir)
        self.study = write_phantom_study(self.workdir / "chest-phantom", seed=seed, shape=shape)
        self.phantom = self.study["phantom"]
        self.voxel_ml = float(np.prod(self.phantom.spacing)) / 1000.0
        self._volume = None
        self._truth = None

    # --- shared inputs ------------------------------------------------------------------------------

    @property
    def volume(self):
        """The phantom's CT, loaded from its DICOM series by ``convertDicom`` (once)."""
        if self._volume is None:
            self._volume = self.logic.convertDicom(self.study["dicom"])
        return self._volume

    @property
    def truth(self):
        """The phantom's ground-truth labels as a segmentation node on the CT (once)."""
        if self._truth is None:
            labels = self.phantom.labels_image()
            self._truth = S.labels_to_segmentation_node(self.logic.scene, labels, L.AUTO_LABELS,
                                                        reference_volume=self.volume, name="phantom truth")
        return self._truth

    def _truth_ml(self, name: str) -> float:
        return float(np.count_nonzero(self.phantom.masks[name])) * self.voxel_ml

    def _check_lungs(self, node, numbers: dict) -> None:
        labels, names = S.segmentation_node_to_labels(node, self.volume)
        arr = sitk.GetArrayViewFromImage(labels)
        for value, name in names.items():
            if name not in ("lung-right", "lung-left"):
                continue
            measured, truth = np.count_nonzero(arr == value) * self.voxel_ml, self._truth_ml(name)
            numbers[f"{name}_ml"], numbers[f"{name}_truth_ml"] = round(float(measured), 1), round(truth, 1)
            error = abs(measured - truth) / truth
            assert error <= LUNG_VOLUME_TOLERANCE, f"{name}: {measured:.1f} ml vs truth {truth:.1f} ml ({error:.1%})"

    # --- the steps ----------------------------------------------------------------------------------

    def step_convert(self) -> dict:
        volume = self.volume
        image = S.volume_node_to_image(volume)
        assert np.array_equal(sitk.GetArrayViewFromImage(image), self.phantom.hu), "HU differ from the phantom's"
        np.testing.assert_allclose(image.GetOrigin(), self.phantom.origin, atol=1e-3)
        sh = S.subject_hierarchy(self.logic.scene)
        assert sh.GetItemLevel(sh.GetItemParent(sh.GetItemByDataNode(volume))) == "Study", "volume is not under a study"
        return {"size": list(image.GetSize()), "hu_min": int(self.phantom.hu.min()), "hu_max": int(self.phantom.hu.max())}

    def step_truth(self) -> dict:
        expected = [lab.name for lab in L.AUTO_LABELS if np.any(self.phantom.labels == lab.value)]
        assert _names(self.truth) == expected, f"segments {_names(self.truth)} != {expected}"
        counts = _voxels(self.truth)
        for lab in L.AUTO_LABELS:
            if lab.name in counts:
                assert counts[lab.name] == np.count_nonzero(self.phantom.labels == lab.value), lab.name
        return {"segments": len(counts), "voxels": sum(counts.values())}

    def step_removeTable(self) -> dict:
        cleaned, node = self.logic.removeTable(self.volume)
        assert _names(node) == ["body", "table-headrest"], _names(node)
        labels, _ = S.segmentation_node_to_labels(node, self.volume)
        body, truth = sitk.GetArrayViewFromImage(labels) == L.BODY.value, self.phantom.masks["body"]
        dice = 2 * np.count_nonzero(body & truth) / (np.count_nonzero(body) + np.count_nonzero(truth))
        assert dice >= BODY_DICE, f"body Dice {dice:.4f} < {BODY_DICE}"
        hu = sitk.GetArrayFromImage(S.volume_node_to_image(cleaned))
        assert np.all(hu[self.phantom.masks["table-headrest"]] == L.AIR_HU), "table voxels are not AIR_HU"
        return {"body_dice": round(float(dice), 4)}

    def step_segmentLungs(self) -> dict:
        node = self.logic.segmentLungs(self.volume, split=True)
        assert _names(node) == ["lung-right", "lung-left"], _names(node)
        numbers: dict = {}
        self._check_lungs(node, numbers)
        return numbers

    def step_autolabel(self) -> dict:
        node = self.logic.autolabel(self.volume)
        names = _names(node)
        assert {"body", "lung-right", "lung-left"} <= set(names), names
        assert set(names) <= {lab.name for lab in L.AUTO_LABELS}, names
        numbers: dict = {"segments": names}
        self._check_lungs(node, numbers)
        return numbers

    def step_runUNet(self) -> dict:
        models = list_models()
        assert models, "no shipped U-Net model in medseg/resources/models"
        name = sorted(models)[0]
        node = self.logic.runUNet(self.volume, name, device="cpu")
        assert node.GetSegmentation().GetNumberOfSegments() >= 1, f"model {name} found nothing"
        return {"model": name, "segments": _names(node)}

    def step_segmentStatistics(self) -> dict:
        rows = S.table_node_to_rows(self.logic.segmentStatistics(self.volume, self.truth))
        counts = _voxels(self.truth)
        assert [r["segment"] for r in rows] == list(counts), [r["segment"] for r in rows]
        for row in rows:
            assert row["voxel_count"] == counts[row["segment"]], row["segment"]
            assert abs(row["volume_ml"] - counts[row["segment"]] * self.voxel_ml) < 1e-6, row["segment"]
        lung = next(r for r in rows if r["segment"] == "lung-right")
        assert -900 <= lung["mean"] <= -600, f"right lung mean {lung['mean']:.0f} HU"
        return {"rows": len(rows), "lung_right_mean_hu": round(lung["mean"], 1)}

    def step_exportRadiomics(self) -> dict:
        rows = S.table_node_to_rows(self.logic.exportRadiomics(self.volume, self.truth, preset="ct-baseline"))
        expected = [n for n in _names(self.truth) if n not in ("body", "table-headrest")]
        assert [r["segment"] for r in rows] == expected, [r["segment"] for r in rows]
        lung = next(r for r in rows if r["segment"] == "lung-right")
        assert -900 <= lung["original_firstorder_Mean"] <= -600, lung["original_firstorder_Mean"]
        return {"rows": len(rows), "columns": len(rows[0])}

    def step_exportMeshes(self) -> dict:
        models = self.logic.exportMeshes(self.truth, smoothIterations=0)
        names = [m.GetName() for m in models]
        assert names == _names(self.truth), names
        volumes = {}
        for model in models:
            mass = vtk_mass(model.GetPolyData())
            volumes[model.GetName()] = round(mass / 1000.0, 1)
        for name in ("lung-right", "lung-left"):
            truth = self._truth_ml(name)
            assert abs(volumes[name] - truth) / truth < 0.05, f"{name} mesh {volumes[name]} ml vs {truth:.1f} ml"
        return {"models": len(models), "mesh_ml": volumes}

    def step_saveSegmentation(self) -> dict:
        from ..io import read_label_image

        path = self.logic.saveSegmentation(self.truth, self.workdir / "truth.seg.nrrd")
        back = self.logic.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "read back")
        storage = self.logic.scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
        back.SetAndObserveStorageNodeID(storage.GetID())
        storage.SetFileName(str(path))
        assert storage.ReadData(back), f"Slicer could not read {path}"
        assert _names(back) == _names(self.truth) and _voxels(back) == _voxels(self.truth)
        labels, names = read_label_image(path)
        assert np.array_equal(sitk.GetArrayViewFromImage(labels), self.phantom.labels), "medseg reads other labels"
        return {"file": path.name, "segments": len(names)}

    # --- running ------------------------------------------------------------------------------------

    def run_step(self, name: str) -> dict:
        """Run one step of :data:`STEPS`; returns its numbers."""
        return getattr(self, f"step_{name}")()


def vtk_mass(polydata) -> float:
    """Enclosed volume (mm³) of a closed surface."""
    import vtk

    mass = vtk.vtkMassProperties()
    mass.SetInputData(polydata)
    mass.Update()
    return mass.GetVolume()


def run_selftest(logic: MedSegLogic, workdir: str | Path | None = None, steps=STEPS,
                 log: Callable[[str], None] = print) -> list[StepResult]:
    """Run the self-test steps on ``logic``'s scene; returns one :class:`StepResult` per step.

    logic: the MedSegLogic to test. workdir: folder for the phantom study (default a new temporary
    folder). steps: names from :data:`STEPS`. log: called with one line per step.
    """
    workdir = Path(workdir or tempfile.mkdtemp(prefix="medseg-selftest-"))
    test = SelfTest(logic, workdir)
    results = []
    for name in steps:
        start = time.perf_counter()
        try:
            numbers = test.run_step(name)
            result = StepResult(name, True, time.perf_counter() - start, numbers)
        except (AssertionError, MedSegError) as exc:
            result = StepResult(name, False, time.perf_counter() - start, error=f"{type(exc).__name__}: {exc}")
        results.append(result)
        log(f"{'ok  ' if result.ok else 'FAIL'} {name} ({result.seconds:.2f} s) {result.numbers or result.error}")
    return results


__all__ = ["STEPS", "SelfTest", "StepResult", "run_selftest", "LUNG_VOLUME_TOLERANCE"]
