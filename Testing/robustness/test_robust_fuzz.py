"""The fuzzer in CI: 500 seeded cases (a few seconds to a minute on 2 cores) and the regression
cases it found, each in a forked child with a memory limit and a timeout (see fuzz.py)."""

from __future__ import annotations

import os

import pytest

import fuzz
from fuzz_regressions import REGRESSIONS

CI_CASES = 500


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    previous = os.environ.get("MEDSEG_MAX_BYTES")
    os.environ["MEDSEG_MAX_BYTES"] = fuzz.CHILD_MAX_BYTES
    try:
        yield root, fuzz.build_seeds(root / "seeds")
    finally:
        if previous is None:
            os.environ.pop("MEDSEG_MAX_BYTES", None)
        else:
            os.environ["MEDSEG_MAX_BYTES"] = previous


def _explain(tally) -> str:
    return "\n".join(f"{r.outcome}: {r.case}\n{r.detail.strip()[-800:]}" for r in tally.failures[:5])


def test_seeded_fuzz_ci(seeds):
    root, found = seeds
    tally = fuzz.seeded(found, root, CI_CASES, seed=20250, jobs=2, progress=False)
    assert tally.total == CI_CASES
    assert not tally.failures, _explain(tally)
    assert tally.counts.get(fuzz.REFUSED, 0) > 0 and tally.counts.get(fuzz.LOADED, 0) > 0  # both paths were taken


@pytest.mark.parametrize("case", REGRESSIONS, ids=str)
def test_fuzz_regression(case, seeds, tmp_path):
    root, found = seeds
    if case.seed not in found:
        pytest.skip(f"seed {case.seed} needs ../shared/data")
    result = fuzz.run_case(case, found, tmp_path / "work")
    assert result.outcome in fuzz.PASSING, f"{result.outcome}: {result.detail}"


def test_the_harness_sees_every_kind_of_failure(tmp_path, monkeypatch):
    """A child that raises, crashes, hangs or lies is reported as such (so a pass means something)."""
    import medseg.io

    target = tmp_path / "x"
    target.mkdir()
    monkeypatch.setattr(fuzz, "TIMEOUT_S", 2)
    behaviours = {
        fuzz.ESCAPED: lambda path: 1 / 0,
        fuzz.SIGNALLED: lambda path: os.abort(),
        fuzz.HUNG: lambda path: __import__("time").sleep(60),
    }
    for expected, load in behaviours.items():
        monkeypatch.setattr(medseg.io, "load", load)
        assert fuzz.run_in_child(target)[0] == expected

    import SimpleITK as sitk

    lying = sitk.Image(4, 4, 4, sitk.sitkFloat32)
    lying.SetOrigin((float("nan"), 0.0, 0.0))
    monkeypatch.setattr(medseg.io, "load", lambda path: (lying, {}))
    assert fuzz.run_in_child(target)[0] == fuzz.LIED
