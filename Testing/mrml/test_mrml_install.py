"""Install-on-first-use inside Slicer (medseg.mrml.install): requirements from the package metadata,
versions checked, with fake installers (no Slicer application, no pip)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from medseg.errors import DependencyError
from medseg.mrml import install as D

REPO = Path(__file__).resolve().parents[2]


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeSlicer:
    """Installers that record their calls; a pip install makes its distributions importable at that version."""

    def __init__(self, versions, answer=True, pip_ensure=True, torch=True, testing=False):
        self.versions = dict(versions)
        self.calls, self.answer = [], answer
        self.env = D.Environment(confirm=self.confirm, pip_ensure=self.pip_ensure if pip_ensure else None,
                                 pip_install=self.pip_install, install_torch=self.install_torch if torch else None,
                                 testing=testing, installed={"numpy": "1.26.4", "simpleitk": "2.3.1"})

    def kwargs(self):
        return {"importable": lambda module: any(D.MODULES.get(n, n.replace("-", "_")) == module
                                                 for n in self.versions),
                "version": lambda name: self.versions.get(name.lower()), "loaded": lambda module: False}

    def confirm(self, message):
        self.calls.append(("confirm", message))
        return self.answer

    def _install(self, how, requirements, constraints):
        from packaging.requirements import Requirement

        with open(constraints, encoding="utf-8") as f:
            self.calls.append((how, list(requirements), f.read()))
        for r in requirements:
            req = Requirement(r)
            self.versions[req.name.lower()] = "99.0" if not req.specifier else \
                next(s.version for s in req.specifier if s.operator == ">=")

    def pip_ensure(self, requirements, constraints):
        self._install("pip_ensure", requirements, constraints)

    def pip_install(self, requirements, constraints):
        self._install("pip_install", requirements, constraints)

    def install_torch(self):
        self.calls.append(("torch",))
        self.versions["torch"] = "2.5.0"
        return object()


#: What Slicer 5.8 brings (Testing/slicer_api/v5.8.0.json "bundled"), without medseg's other packages.
SLICER_58 = {"numpy": "1.26.4", "simpleitk": "2.3.1", "scipy": "1.13.1", "pydicom": "2.4.4", "packaging": "24.0"}


def test_requirements_file_matches_pyproject():
    assert _load_script("make_requirements").main(["--check"]) == 0, \
        "medseg/resources/requirements.json is stale: run scripts/make_requirements.py"


def test_requirements_come_from_pyproject():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = D.requirements()
    assert reqs["pydicom"] == "pydicom>=2.4,<4" and "pydicom>=2.4,<4" in project["dependencies"]
    assert reqs["torch"] in project["optional-dependencies"]["torch"]
    assert reqs["pyradiomics"] in project["optional-dependencies"]["radiomics"]


def test_every_supported_slicer_satisfies_the_ranges_of_its_own_packages():
    """MedSeg never replaces Slicer's own packages, so their ranges must hold for the versions each tag bundles."""
    for tag in ("v5.8.0", "v5.10.0", "v5.12.0"):
        bundled = json.loads((REPO / "Testing" / "slicer_api" / f"{tag}.json").read_text(encoding="utf-8"))["bundled"]
        checks = D.check(D.SLICER_OWN[:-1], importable=lambda m: True, version=lambda n: bundled[n.lower()])
        assert all(c.ok for c in checks), (tag, [c.reason for c in checks if not c.ok])


def test_versions_are_checked_not_just_imports():
    version = {"pydicom": "2.3.0"}.get
    (old,) = D.check(["pydicom"], importable=lambda m: True, version=version)
    assert not old.ok and old.reason == "pydicom 2.3.0 is installed, pydicom>=2.4,<4 is needed"
    for v, ok in (("2.4.4", True), ("3.0.2", True), ("4.0.0", False)):
        assert D.check(["pydicom"], importable=lambda m: True, version=lambda n: v)[0].ok is ok
    assert not D.check(["pydicom"], importable=lambda m: False, version=lambda n: "3.0.2")[0].ok


def test_missing_packages_are_confirmed_once_then_installed_with_slicer_packages_pinned():
    fake = FakeSlicer(SLICER_58)
    D.ensure(["scipy", "scikit-image", "pynrrd"], env=fake.env, **fake.kwargs())
    (confirm, message), (how, requirements, constraints) = fake.calls
    assert confirm == "confirm" and "scikit-image>=0.22" in message and "pynrrd>=1.0" in message
    assert how == "pip_ensure" and requirements == ["scikit-image>=0.22", "pynrrd>=1.0"]
    assert constraints.splitlines() == ["numpy==1.26.4", "simpleitk==2.3.1"]


def test_a_too_old_package_is_offered_as_an_upgrade():
    fake = FakeSlicer({**SLICER_58, "scikit-image": "0.19.3"})
    D.ensure(["scikit-image"], env=fake.env, **fake.kwargs())
    assert "upgrade scikit-image 0.19.3 -> scikit-image>=0.22" in fake.calls[0][1]
    assert fake.calls[1][1] == ["scikit-image>=0.22"]


def test_upgrading_a_loaded_package_says_restart():
    fake = FakeSlicer({**SLICER_58, "pynrrd": "0.4.0"})
    with pytest.raises(DependencyError, match="restart Slicer"):
        D.ensure(["pynrrd"], env=fake.env, **{**fake.kwargs(), "loaded": lambda module: module == "nrrd"})
    assert fake.calls[1][0] == "pip_ensure"


def test_older_slicer_falls_back_to_pip_install():
    fake = FakeSlicer(SLICER_58, pip_ensure=False)
    D.ensure(["pynrrd"], env=fake.env, **fake.kwargs())
    assert fake.calls[-1][0] == "pip_install"


def test_declined_installs_nothing():
    fake = FakeSlicer(SLICER_58, answer=False)
    with pytest.raises(DependencyError, match="declined"):
        D.ensure(["pynrrd"], env=fake.env, **fake.kwargs())
    assert [c[0] for c in fake.calls] == ["confirm"]


def test_never_installs_while_slicer_runs_tests():
    fake = FakeSlicer(SLICER_58, testing=True)
    with pytest.raises(DependencyError, match="not installed while Slicer runs tests"):
        D.ensure(["pynrrd"], env=fake.env, **fake.kwargs())
    assert fake.calls == []


def test_torch_comes_from_the_pytorch_extension():
    fake = FakeSlicer(SLICER_58)
    D.ensure(["torch"], env=fake.env, **fake.kwargs())
    assert [c[0] for c in fake.calls] == ["confirm", "torch"]
    no_extension = FakeSlicer(SLICER_58, torch=False)
    with pytest.raises(DependencyError, match="PyTorch extension"):
        D.ensure(["torch"], env=no_extension.env, **no_extension.kwargs())
    assert no_extension.calls == []


def test_pyradiomics_comes_from_slicer_radiomics_never_pip():
    fake = FakeSlicer(SLICER_58)
    with pytest.raises(DependencyError, match="SlicerRadiomics"):
        D.ensure(["pyradiomics"], env=fake.env, **fake.kwargs())
    assert fake.calls == []


def test_slicer_own_packages_are_never_replaced():
    fake = FakeSlicer({**SLICER_58, "pydicom": "2.3.0"})
    kwargs = {k: v for k, v in fake.kwargs().items() if k != "loaded"}
    todo = D.plan(D.missing(["pydicom", "numpy"], **kwargs), fake.env)
    assert todo.pip == [] and any("pydicom 2.3.0 is installed" in line and "part of Slicer" in line for line in todo.cannot)


def test_unknown_distribution_is_a_bug():
    with pytest.raises(ValueError, match="not a requirement"):
        D.check(["gpu-magic"])


def test_every_method_needs_known_distributions_and_this_venv_has_them():
    import slicer  # noqa: F401  (slicer-core: the logic imports it)

    from medseg.mrml.logic import MedSegLogic

    names = {n for needs in MedSegLogic.NEEDS.values() for n in needs}
    assert names <= {k for k in D.requirements()} | {n for n in names if n.lower() in D.requirements()}
    assert [c.reason for c in D.missing(sorted(names))] == []


def test_features_name_known_distributions_and_install_on_first_use():
    assert set(D.FEATURES) == {"classify", "grow"}
    for names in D.FEATURES.values():
        assert [c.name for c in D.check(names)] == list(names)  # every one is a requirement of medseg
    fake = FakeSlicer(SLICER_58)
    D.ensure_feature("grow", env=fake.env, **fake.kwargs())
    (confirm, message), (how, requirements, constraints) = fake.calls
    assert requirements == ["itk-growcut>=1.0.1"] and "numpy==1.26.4" in constraints  # checked version; numpy pinned
    D.ensure_feature("grow", env=fake.env, **fake.kwargs())
    assert len(fake.calls) == 2  # satisfied now: nothing asked again
    fake = FakeSlicer(SLICER_58)
    D.ensure_feature("classify", env=fake.env, **fake.kwargs())
    assert [c[0] for c in fake.calls] == ["confirm", "torch"]  # torch through the PyTorch extension, never pip
    with pytest.raises(ValueError, match="not a MedSeg feature"):
        D.ensure_feature("telepathy", env=fake.env, **fake.kwargs())


def test_a_too_old_itk_growcut_is_offered_as_an_upgrade():
    fake = FakeSlicer({**SLICER_58, "itk-growcut": "0.9"})
    D.ensure_feature("grow", env=fake.env, **fake.kwargs())
    assert "upgrade itk-growcut 0.9 -> itk-growcut>=1.0.1" in fake.calls[0][1]


def test_the_panels_grow_needs_itk_only_where_slicers_filter_cannot_be_imported(monkeypatch):
    import slicer  # noqa: F401  (slicer-core: the logic imports it)

    from medseg.mrml import growcut
    from medseg.mrml.logic import MedSegLogic

    monkeypatch.setattr(growcut, "slicer_filter_available", lambda: True)
    assert "itk-growcut" not in MedSegLogic.growBackgroundNeeds()
    monkeypatch.setattr(growcut, "slicer_filter_available", lambda: False)
    assert MedSegLogic.growBackgroundNeeds() == D.FEATURES["grow"]
    assert MedSegLogic.NEEDS["classify"] == D.FEATURES["classify"] and "itk-growcut" not in MedSegLogic.NEEDS["growFromSeeds"]
