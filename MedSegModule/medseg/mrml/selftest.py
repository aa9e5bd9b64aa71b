"""MedSeg's self-test: every logic method on a generated chest phantom, checked against its truth.

The same steps run inside Slicer (``MedSegModuleTest``, ``Testing/run_in_slicer.py``) and under
pytest with slicer-core (``Testing/mrml/test_selftest.py``)::

    results = run_selftest(MedSegLogic(slicer.mrmlScene), workdir)
    assert not [r for r in results if r.status == FAILED]

Each step returns the numbers it measured (volumes in ml, counts) and raises ``AssertionError``
when one is off. Every step runs, whatever the others did:

* a step whose Python packages (:data:`STEP_NEEDS`) are missing is installed for first when
  ``install`` allows it (the user is asked), else **skipped** with the reason (Slicer's ``--testing``
  never installs; the Extension Index's test machines have only Slicer's own packages);
* a step that raises anything is **failed** with its error; the next steps still run;
* a step whose input step failed or was skipped is skipped, saying which.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import SimpleITK as sitk

from .. import labels as L
from . import install
from . import scene as S
from .logic import MedSegLogic, list_models

#: Largest relative lung volume error (|measured - truth| / truth) the lung steps may make.
LUNG_VOLUME_TOLERANCE = 0.05
#: Smallest body Dice of the table removal on the phantom.
BODY_DICE = 0.99
#: Smallest Dice of each lung grown from a few seed voxels on the phantom.
GROW_DICE = 0.95
#: Steps in the order they run; "phantom" writes the study, "truth" loads its ground truth labels.
STEPS = ("phantom", "convert", "truth", "removeTable", "segmentLungs", "autolabel", "runUNet", "growFromSeeds",
         "segmentStatistics", "exportRadiomics", "exportMeshes", "saveSegmentation")
#: Step -> the distributions it imports on the (uncompressed) phantom, as pyproject.toml names them.
#: Slicer bundles numpy, SimpleITK, scipy and pydicom; the others are what a step may have to skip.
STEP_NEEDS = {
    "phantom": ("pydicom", "scipy"), "convert": ("pydicom",), "truth": (), "removeTable": ("scipy",),
    "segmentLungs": ("scipy",), "autolabel": ("scipy", "scikit-image"), "runUNet": ("torch",), "growFromSeeds": ("scipy",),
    "segmentStatistics": ("scipy",), "exportRadiomics": ("pyradiomics", "pyyaml"), "exportMeshes": ("scikit-image",),
    "saveSegmentation": ("pynrrd",),
}
#: Step -> the steps whose results it uses.
STEP_INPUTS = {"convert": ("phantom",), "truth": ("convert",), "removeTable": ("convert",),
               "segmentLungs": ("convert",), "autolabel": ("convert",), "runUNet": ("convert",), "growFromSeeds": ("convert",),
               "segmentStatistics": ("truth",), "exportRadiomics": ("truth",), "exportMeshes": ("truth",),
               "saveSegmentation": ("truth",)}
OK, FAILED, SKIPPED = "ok", "failed", "skipped"


@dataclass
class StepResult:
    """One step's outcome: ``status`` (ok, failed, skipped), seconds, the numbers it measured, and why not ok."""

    name: str
    status: str
    seconds: float
    numbers: dict = field(default_factory=dict)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK


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
        the seg.nrrd. seed: the phantom's seed. shape: its (z, y, x) size. The study is written by
        the "phantom" step."""
        self.logic = logic
        self.workdir = Path(workdir)
        self.seed, self.shape = seed, shape
        self.study: dict = {}
        self.phantom = None
        self.voxel_ml = 0.0
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

    def step_phantom(self) -> dict:
        from ..phantom import write_phantom_study

        self.study = write_phantom_study(self.workdir / "chest-phantom", seed=self.seed, shape=self.shape)
        self.phantom = self.study["phantom"]
        self.voxel_ml = float(np.prod(self.phantom.spacing)) / 1000.0
        return {"shape": list(self.phantom.hu.shape), "files": len(self.study["files"]) if "files" in self.study else None}

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
        models = list_models(kind="unet")
        assert models, "no shipped U-Net model in medseg/resources/models"
        # The lungs model, as the phantom has lungs to find; the lung-tumour model rightly finds
        # nothing in this coarse phantom (2.7 mm pixels, outside its range).
        name = "lungs" if "lungs" in models else sorted(models)[0]
        node = self.logic.runUNet(self.volume, name, device="cpu")
        names = _names(node)
        assert names, f"model {name} found nothing"
        if name == "lungs":
            assert {"lung-right", "lung-left"} <= set(names), names
        return {"model": name, "segments": names}

    def step_growFromSeeds(self) -> dict:
        # Seeds as a user paints them: a 3x3x3 patch in each lung and background strokes; every other
        # voxel must then be grown into the right segment.
        seeds = np.zeros(self.phantom.hu.shape, np.uint8)
        for value, name in ((1, "lung-right"), (2, "lung-left")):
            idx = np.argwhere(self.phantom.masks[name])
            z, y, x = idx[len(idx) // 2]
            seeds[z - 1:z + 2, y - 1:y + 2, x - 1:x + 2] = value
        masks, hu = self.phantom.masks, self.phantom.hu
        # Background: a sparse sprinkle over the soft tissue, the bone and the room air, as a user's
        # strokes cover each kind of "not lung" (a single patch in the wall leaves tissue behind the
        # ribs closer to a lung seed).
        lungs = masks["lung-right"] | masks["lung-left"] | masks["airway"]
        for where in (masks["body"] & ~lungs & (hu > -200), ~masks["body"] & ~masks["table-headrest"] & (hu < -900)):
            for z, y, x in np.argwhere(where)[:: max(1, int(np.count_nonzero(where)) // 64)]:
                seeds[z, y, x] = 3
        image = sitk.GetImageFromArray(seeds)
        image.CopyInformation(self.phantom.labels_image())
        table = [L.Label(1, "lung-right", L.SPLIT_LUNG_RIGHT.color), L.Label(2, "lung-left", L.SPLIT_LUNG_LEFT.color),
                 L.Label(3, "background", (90, 90, 90))]
        seed_node = S.labels_to_segmentation_node(self.logic.scene, image, table, reference_volume=self.volume,
                                                  closed_surface=False, name="self-test seeds")
        node = self.logic.growFromSeeds(self.volume, seed_node, closedSurface=False)
        assert _names(node) == ["lung-right", "lung-left", "background"], _names(node)
        labels, _ = S.segmentation_node_to_labels(node, self.volume)
        grown = sitk.GetArrayViewFromImage(labels)
        numbers = {}
        for value, name in ((1, "lung-right"), (2, "lung-left")):
            found, truth = grown == value, masks[name]
            dice = 2 * np.count_nonzero(found & truth) / (np.count_nonzero(found) + np.count_nonzero(truth))
            numbers[f"{name}_dice"] = round(float(dice), 4)
            assert dice >= GROW_DICE, f"{name}: grown Dice {dice:.3f} < {GROW_DICE}"
        return numbers

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
                 log: Callable[[str], None] = print, install_missing: bool | None = None,
                 missing: Callable[[Sequence[str]], list] = install.missing) -> list[StepResult]:
    """Run the self-test steps on ``logic``'s scene; returns one :class:`StepResult` per step.

    logic: the MedSegLogic to test. workdir: folder for the phantom study (default a new temporary
    folder). steps: names from :data:`STEPS`. log: called with one line per step and a summary.
    install_missing: install a step's missing packages (asking the user) before it runs; None: when
    Slicer is not running its tests (``--testing``). missing(names): the unusable distributions.
    """
    workdir = Path(workdir or tempfile.mkdtemp(prefix="medseg-selftest-"))
    test = SelfTest(logic, workdir)
    if install_missing is None:
        install_missing = not _slicer_testing()
    results: dict[str, StepResult] = {}
    for name in steps:
        start = time.perf_counter()
        blocked = [s for s in STEP_INPUTS.get(name, ()) if s in results and not results[s].ok]
        if blocked:
            result = StepResult(name, SKIPPED, 0.0, error=f"needs {', '.join(blocked)}, which "
                                f"{'was' if len(blocked) == 1 else 'were'} not ok")
        else:
            result = _run_step(test, name, install_missing, missing, start)
        results[name] = result
        shown = {OK: "ok  ", FAILED: "FAIL", SKIPPED: "skip"}[result.status]
        log(f"{shown} {name} ({result.seconds:.2f} s) {result.numbers or result.error}")
    out = list(results.values())
    counts = {status: sum(r.status == status for r in out) for status in (OK, FAILED, SKIPPED)}
    log(f"MedSeg self-test: {counts[OK]} ok, {counts[FAILED]} failed, {counts[SKIPPED]} skipped")
    return out


def _run_step(test: SelfTest, name: str, install_missing: bool, missing, start: float) -> StepResult:
    needs = STEP_NEEDS.get(name, ())
    absent = missing(needs)
    if absent and install_missing:
        try:
            install.ensure(needs)
            absent = missing(needs)
        except Exception as exc:  # declined, no installer, failed pip: the step cannot run
            return StepResult(name, SKIPPED, time.perf_counter() - start, error=f"not installed: {exc}")
    if absent:
        why = "; ".join(c.reason for c in absent)
        if not install_missing:
            why += " (not installed: installing is off, as it is while Slicer runs its tests)"
        return StepResult(name, SKIPPED, time.perf_counter() - start, error=why)
    try:
        numbers = test.run_step(name)
    except Exception as exc:  # one step's failure must not hide the others'
        return StepResult(name, FAILED, time.perf_counter() - start, error=f"{type(exc).__name__}: {exc}")
    return StepResult(name, OK, time.perf_counter() - start, numbers)


def _slicer_testing() -> bool:
    """Slicer runs its tests (``--testing``): nothing may be installed."""
    import slicer

    app = getattr(slicer, "app", None)
    return bool(app is not None and app.commandOptions().testingEnabled)


def summary(results: Sequence[StepResult]) -> dict:
    """{"ok": [...], "failed": [...], "skipped": {name: reason}} of a run."""
    return {"ok": [r.name for r in results if r.status == OK],
            "failed": {r.name: r.error for r in results if r.status == FAILED},
            "skipped": {r.name: r.error for r in results if r.status == SKIPPED}}


__all__ = ["FAILED", "OK", "SKIPPED", "STEPS", "STEP_NEEDS", "SelfTest", "StepResult", "run_selftest", "summary",
           "LUNG_VOLUME_TOLERANCE"]
