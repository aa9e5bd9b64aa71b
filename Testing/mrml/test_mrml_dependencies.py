"""Install-on-first-use decisions (medseg.mrml.install), with fake installers: no Slicer app, no pip."""

from __future__ import annotations

import pytest

from medseg.errors import DependencyError
from medseg.mrml import install as D


class FakeSlicer:
    """Installers that record their calls; a "pip install" makes its packages importable."""

    def __init__(self, installed, answer=True, pip_ensure=True, pip_install=True, torch=True, testing=False):
        self.installed = set(installed)
        self.calls = []
        self.env = D.Environment(
            confirm=self.confirm,
            pip_ensure=self.pip_ensure if pip_ensure else None,
            pip_install=self.pip_install if pip_install else None,
            install_torch=self.install_torch if torch else None,
            testing=testing, installed={"numpy": "1.26.4", "SimpleITK": "2.3.1"})
        self.answer = answer

    def is_installed(self, module):
        return module in self.installed

    def confirm(self, message):
        self.calls.append(("confirm", message))
        return self.answer

    def _install(self, how, requirements, constraints):
        with open(constraints, encoding="utf-8") as f:
            self.calls.append((how, list(requirements), f.read()))
        modules = {d.requirement: d.module for f in D.FEATURES.values() for d in f}
        self.installed |= {modules[r] for r in requirements}

    def pip_ensure(self, requirements, constraints):
        self._install("pip_ensure", requirements, constraints)

    def pip_install(self, requirements, constraints):
        self._install("pip_install", requirements, constraints)

    def install_torch(self):
        self.calls.append(("torch",))
        self.installed.add("torch")
        return object()


SLICER_BUNDLED = {"numpy", "SimpleITK", "pydicom", "scipy", "yaml"}


def test_nothing_missing_asks_nothing():
    fake = FakeSlicer(SLICER_BUNDLED | {"skimage", "nrrd"})
    D.ensure(["core"], env=fake.env, is_installed=fake.is_installed)
    assert fake.calls == []


def test_missing_packages_are_confirmed_once_then_pip_ensure_with_slicer_packages_pinned():
    fake = FakeSlicer(SLICER_BUNDLED)
    D.ensure(["core"], env=fake.env, is_installed=fake.is_installed)
    (confirm, message), (how, requirements, constraints) = fake.calls
    assert confirm == "confirm" and "scikit-image>=0.22" in message and "pynrrd>=1.0" in message
    assert how == "pip_ensure" and requirements == ["scikit-image>=0.22", "pynrrd>=1.0"]
    assert constraints.splitlines() == ["SimpleITK==2.3.1", "numpy==1.26.4"]
    assert not any(r.lower().startswith(("numpy", "simpleitk")) for r in requirements)


def test_older_slicer_falls_back_to_pip_install():
    fake = FakeSlicer(SLICER_BUNDLED, pip_ensure=False)
    D.ensure(["core"], env=fake.env, is_installed=fake.is_installed)
    assert fake.calls[-1][0] == "pip_install"


def test_declined_installs_nothing():
    fake = FakeSlicer(SLICER_BUNDLED, answer=False)
    with pytest.raises(DependencyError, match="declined"):
        D.ensure(["core"], env=fake.env, is_installed=fake.is_installed)
    assert [c[0] for c in fake.calls] == ["confirm"]


def test_never_installs_while_slicer_runs_tests():
    fake = FakeSlicer(SLICER_BUNDLED, testing=True)
    with pytest.raises(DependencyError, match="tests"):
        D.ensure(["core"], env=fake.env, is_installed=fake.is_installed)
    assert fake.calls == []


def test_torch_comes_from_the_pytorch_extension():
    fake = FakeSlicer(SLICER_BUNDLED | {"skimage", "nrrd"})
    D.ensure(["core", "unet"], env=fake.env, is_installed=fake.is_installed)
    assert [c[0] for c in fake.calls] == ["confirm", "torch"]
    no_extension = FakeSlicer(SLICER_BUNDLED | {"skimage", "nrrd"}, torch=False)
    with pytest.raises(DependencyError, match="PyTorch extension"):
        D.ensure(["unet"], env=no_extension.env, is_installed=no_extension.is_installed)
    assert no_extension.calls == []


def test_pyradiomics_comes_from_slicer_radiomics_never_pip():
    fake = FakeSlicer(SLICER_BUNDLED | {"skimage", "nrrd"})
    with pytest.raises(DependencyError, match="SlicerRadiomics"):
        D.ensure(["radiomics"], env=fake.env, is_installed=fake.is_installed)
    assert fake.calls == []


def test_slicer_numpy_or_simpleitk_is_never_replaced():
    fake = FakeSlicer(SLICER_BUNDLED - {"numpy"})
    todo = D.plan(D.missing(["core"], fake.is_installed), fake.env)
    assert any("numpy is part of Slicer" in line for line in todo.cannot)
    assert "numpy" not in " ".join(todo.pip)


def test_still_missing_after_install_says_restart():
    fake = FakeSlicer(SLICER_BUNDLED)
    fake.pip_ensure = lambda requirements, constraints: None  # installs nothing importable
    fake.env.pip_ensure = fake.pip_ensure
    with pytest.raises(DependencyError, match="restart Slicer"):
        D.ensure(["core"], env=fake.env, is_installed=fake.is_installed)


def test_unknown_feature_is_a_bug():
    with pytest.raises(ValueError):
        D.missing(["gpu-magic"])


def test_real_check_sees_this_environment():
    """In the project's venv every core dependency is importable, so nothing would be installed."""
    assert D.missing(["core", "dicom", "unet", "radiomics"]) == []
