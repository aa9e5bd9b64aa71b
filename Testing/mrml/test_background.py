"""Long steps in a background process (medseg.mrml.background + worker): the same nodes as in this process,
Cancel, errors, and a worker that never imports Slicer, VTK or Qt."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk
import slicer  # noqa: F401  (slicer-core is required: fail, never skip)

from medseg.errors import Cancelled, MedSegError
from medseg.mrml import background
from medseg.mrml import scene as S
from medseg.mrml.headless import create_headless_app
from medseg.mrml.logic import MedSegLogic
from medseg.phantom import write_phantom_study


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    app = create_headless_app()
    logic = MedSegLogic(app.scene, app.app_logic)
    study = write_phantom_study(tmp_path_factory.mktemp("bg") / "chest", seed=0, shape=(24, 96, 96))
    yield logic, logic.convertDicom(study["dicom"])
    app.scene.Clear(True)


def _labels(logic, node, volume):
    return sitk.GetArrayFromImage(S.segmentation_node_to_labels(node, volume)[0])


def test_background_gives_the_nodes_the_method_gives(setup):
    logic, ct = setup
    here = logic.segmentLungs(ct, split=True)
    events = []
    there = background.run(logic, "segmentLungs", ct, {"split": True, "force": False}, on_event=events.append)
    assert "lungs" in there.GetName() and [e.kind for e in events][-1] == "done"
    assert any(e.kind == "progress" for e in events)
    np.testing.assert_array_equal(_labels(logic, there, ct), _labels(logic, here, ct))
    cleaned, table = background.run(logic, "removeTable", ct, {"force": False}, closedSurface=False)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(S.volume_node_to_image(cleaned)),
                                  sitk.GetArrayFromImage(S.volume_node_to_image(logic.removeTable(ct)[0])))


def test_cancel_adds_nothing_and_cleans_up(setup):
    logic, ct = setup
    before = logic.scene.GetNumberOfNodes()
    job = background.start(logic, "runUNet", ct, {"model": "lungs", "device": "cpu"})
    job.cancel()
    job.wait(timeout=120)
    with pytest.raises(Cancelled):
        job.finish()
    assert logic.scene.GetNumberOfNodes() == before and not job.folder.exists()


def test_a_users_mistake_comes_back_as_one_line(setup):
    logic, ct = setup
    job = background.start(logic, "runUNet", ct, {"model": "lungs", "device": "tpu"})
    assert job.wait(timeout=120) == 2
    with pytest.raises(MedSegError, match="device must be one of auto, cpu, cuda, mps"):
        job.finish()


def test_protocol_lines():
    assert background.parse_line('MEDSEG {"progress": 0.5, "message": "half"}\n') == \
        background.Event("progress", "half", 0.5)
    assert background.parse_line("a warning\n") == background.Event("log", "a warning")
    assert background.parse_line('MEDSEG {"error": "no"}').kind == "error"
    assert background.parse_line('MEDSEG {"cancelled": true}').kind == "cancelled"


def test_worker_never_imports_slicer_vtk_or_qt():
    script = ("import sys\nclass Block:\n    def find_spec(self, name, path=None, target=None):\n"
              "        if name.split('.')[0] in ('slicer', 'vtk', 'vtkmodules', 'qt', 'ctk'):\n"
              "            raise ImportError('blocked: ' + name)\n"
              "sys.meta_path.insert(0, Block())\nimport medseg.mrml.worker, medseg.mrml.compute\nprint('ok')\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
