"""The module's self-test (medseg.mrml.selftest), run under slicer-core as Slicer runs it: each step is its own test."""

from __future__ import annotations

import pytest
import slicer  # noqa: F401  (slicer-core is required: fail, never skip)

from medseg.mrml.headless import create_headless_app
from medseg.mrml.logic import MedSegLogic
from medseg.mrml.selftest import LUNG_VOLUME_TOLERANCE, STEPS, SelfTest, run_selftest


@pytest.fixture(scope="module")
def selftest(tmp_path_factory):
    app = create_headless_app()
    test = SelfTest(MedSegLogic(app.scene, app.app_logic), tmp_path_factory.mktemp("selftest"))
    yield test
    app.scene.Clear(True)


@pytest.mark.parametrize("step", STEPS)
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
    results = run_selftest(MedSegLogic(app.scene, app.app_logic), tmp_path, log=lines.append)
    assert [r.name for r in results] == list(STEPS) and len(lines) == len(STEPS)
    for result in results:
        assert result.ok, f"{result.name}: {result.error}"
    app.scene.Clear(True)
