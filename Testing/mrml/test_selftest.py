"""The module's self-test (medseg.mrml.selftest), run under slicer-core as Slicer runs it: each step is its own
test; a run with packages hidden skips what needs them, says why, and runs the rest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import slicer  # noqa: F401  (slicer-core is required: fail, never skip)

from medseg.mrml.headless import create_headless_app
from medseg.mrml.logic import MedSegLogic
from medseg.mrml.selftest import FAILED, LUNG_VOLUME_TOLERANCE, OK, SKIPPED, STEPS, SelfTest, run_selftest


@pytest.fixture(scope="module")
def selftest(tmp_path_factory):
    app = create_headless_app()
    test = SelfTest(MedSegLogic(app.scene, app.app_logic), tmp_path_factory.mktemp("selftest"))
    test.run_step("phantom")
    yield test
    app.scene.Clear(True)


@pytest.mark.parametrize("step", STEPS[1:])
def test_selftest_step(selftest, step):
    numbers = selftest.run_step(step)
    assert isinstance(numbers, dict)
    if step == "segmentLungs":  # the lung volume check itself: within tolerance of the phantom's truth
        for side in ("lung-right", "lung-left"):
            measured, truth = numbers[f"{side}_ml"], numbers[f"{side}_truth_ml"]
            assert abs(measured - truth) <= LUNG_VOLUME_TOLERANCE * truth


def test_run_selftest_reports_every_step(tmp_path):
    app = create_headless_app()
    lines = []
    results = run_selftest(MedSegLogic(app.scene, app.app_logic), tmp_path, log=lines.append, install_missing=False)
    assert [r.name for r in results] == list(STEPS) and len(lines) == len(STEPS) + 1
    for result in results:
        assert result.status == OK, f"{result.name}: {result.error}"
    assert lines[-1] == f"MedSeg self-test: {len(STEPS)} ok, 0 failed, 0 skipped"
    app.scene.Clear(True)


def test_a_failing_step_does_not_hide_the_others(tmp_path, monkeypatch):
    app = create_headless_app()
    monkeypatch.setattr(SelfTest, "step_removeTable", lambda self: 1 / 0)
    results = {r.name: r for r in run_selftest(MedSegLogic(app.scene, app.app_logic), tmp_path, log=lambda _: None,
                                               steps=("phantom", "convert", "removeTable", "segmentLungs"),
                                               install_missing=False)}
    assert results["removeTable"].status == FAILED and "ZeroDivisionError" in results["removeTable"].error
    assert results["segmentLungs"].status == OK
    app.scene.Clear(True)


HIDDEN = ("nrrd", "skimage", "torch")
# A fresh interpreter where pynrrd, scikit-image and torch cannot be imported, as on a Slicer without them.
SCRIPT = textwrap.dedent("""
    import json, sys
    HIDDEN = set(json.loads(sys.argv[1]))

    class Hide:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in HIDDEN:
                raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)")
            return None

    sys.meta_path.insert(0, Hide())
    from medseg.mrml.headless import create_headless_app
    from medseg.mrml.logic import MedSegLogic
    from medseg.mrml.selftest import run_selftest, summary

    app = create_headless_app()
    lines = []
    results = run_selftest(MedSegLogic(app.scene, app.app_logic), sys.argv[2], log=lines.append, install_missing=False)
    print(json.dumps({"summary": summary(results), "last": lines[-1],
                      "leaked": sorted(m for m in sys.modules if m.split(".")[0] in HIDDEN)}))
""")


def test_missing_packages_skip_their_steps_by_name_and_the_rest_runs(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([p for p in sys.path if p]))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(HIDDEN), str(tmp_path)], capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    result = report["summary"]
    assert result["failed"] == {}, result["failed"]
    assert set(result["skipped"]) == {"autolabel", "runUNet", "exportMeshes", "saveSegmentation"}, result["skipped"]
    assert "scikit-image is not installed" in result["skipped"]["autolabel"]
    assert "torch is not installed" in result["skipped"]["runUNet"]
    assert "pynrrd is not installed" in result["skipped"]["saveSegmentation"]
    assert all("installing is off" in why for why in result["skipped"].values())
    assert set(result["ok"]) == set(STEPS) - set(result["skipped"])
    assert report["last"] == f"MedSeg self-test: {len(result['ok'])} ok, 0 failed, 4 skipped"
    assert report["leaked"] == []
