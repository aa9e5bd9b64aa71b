"""Install medseg's Python dependencies inside Slicer on first use, after asking the user.

* **When:** a button that needs a feature calls :func:`ensure` first; nothing is checked or
  installed at import, so Slicer loads the module even with nothing installed.
* **How:** one confirmation listing every missing package, then
  ``pip_ensure`` (``slicer.pydeps``/``slicer.packaging``, Slicer >= 5.11) where it exists,
  else ``slicer.util.pip_install``.
* **torch** comes from the PyTorch extension's installer (``PyTorchUtils``), which picks the
  build that matches the GPU driver; **pyradiomics** comes from the SlicerRadiomics extension
  (it has no wheels for Slicer's Python). Both extensions are in ``EXTENSION_DEPENDS``.
* Slicer's own **numpy, SimpleITK and VTK are never replaced**: they are never requested, and a
  constraints file pins them at the installed versions, so pip cannot upgrade them as a side effect.

The decision (:func:`plan`) is pure and unit-tested with fakes; :func:`slicer_environment` is the
only place that touches ``slicer``, imported inside the function.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Iterable

from ..errors import DependencyError

PIP, PYTORCH, RADIOMICS, SLICER = "pip", "PyTorch extension", "SlicerRadiomics extension", "Slicer"


@dataclass(frozen=True)
class Dependency:
    """A package medseg imports: its import name, and where it comes from inside Slicer."""

    name: str  # distribution name, as users and pip know it
    module: str  # import name that is checked
    requirement: str | None = None  # pip requirement; None when pip must not install it
    source: str = PIP


#: Slicer's own builds: never installed or upgraded by MedSeg (pinned by the constraints file).
NEVER_INSTALL = ("numpy", "SimpleITK", "vtk")

#: feature -> what it needs. "core" is everything the module's logic imports.
FEATURES: dict[str, tuple[Dependency, ...]] = {
    "core": (
        Dependency("numpy", "numpy", None, SLICER),
        Dependency("SimpleITK", "SimpleITK", None, SLICER),
        Dependency("pydicom", "pydicom", "pydicom>=2.4"),
        Dependency("scipy", "scipy", "scipy>=1.10"),
        Dependency("scikit-image", "skimage", "scikit-image>=0.22"),
        Dependency("pynrrd", "nrrd", "pynrrd>=1.0"),
        Dependency("PyYAML", "yaml", "pyyaml>=6.0"),
    ),
    # Compressed transfer syntaxes (JPEG 2000, JPEG-LS, JPEG lossless).
    "dicom": (
        Dependency("pylibjpeg", "pylibjpeg", "pylibjpeg>=2.0"),
        Dependency("pylibjpeg-openjpeg", "openjpeg", "pylibjpeg-openjpeg>=2.3"),
        Dependency("pylibjpeg-libjpeg", "libjpeg", "pylibjpeg-libjpeg>=2.2"),
        Dependency("python-gdcm", "gdcm", "python-gdcm>=3.0.24"),
    ),
    "unet": (Dependency("torch", "torch", None, PYTORCH),),
    "radiomics": (Dependency("pyradiomics", "radiomics", None, RADIOMICS),),
}


@dataclass
class Environment:
    """What this Slicer offers for installing. Every callable is None where it is not available.

    pip_ensure(requirements, constraints) and pip_install(requirements, constraints) take pip
    requirement strings and a constraints file path; install_torch() returns the torch module or
    None; confirm(message) -> bool asks the user; testing: Slicer runs its tests (never install).
    """

    confirm: Callable[[str], bool]
    pip_ensure: Callable[[list[str], str], object] | None = None
    pip_install: Callable[[list[str], str], object] | None = None
    install_torch: Callable[[], object] | None = None
    testing: bool = False
    installed: dict[str, str] = field(default_factory=dict)  # NEVER_INSTALL name -> installed version


@dataclass
class Plan:
    """What :func:`ensure` will do: pip requirements, torch through PyTorchUtils, and what it cannot do."""

    pip: list[str] = field(default_factory=list)
    torch: bool = False
    cannot: list[str] = field(default_factory=list)  # one line each: why a dependency cannot be installed here
    installer: str = ""  # "pip_ensure" or "pip_install"

    @property
    def message(self) -> str:
        """The confirmation text: what will be installed, and how."""
        parts = []
        if self.pip:
            parts.append(f"pip ({self.installer}): {', '.join(self.pip)}")
        if self.torch:
            parts.append("PyTorch, with the PyTorch extension's installer (it picks the build for your GPU)")
        return "MedSeg needs Python packages that are not installed yet:\n- " + "\n- ".join(parts) + \
            "\nSlicer's own numpy and SimpleITK are kept. Install now? This can take a few minutes."


def missing(features: Iterable[str], is_installed: Callable[[str], bool] | None = None) -> list[Dependency]:
    """The dependencies of ``features`` (keys of :data:`FEATURES`) that cannot be imported, in order."""
    is_installed = is_installed or (lambda module: importlib.util.find_spec(module) is not None)
    out: list[Dependency] = []
    for feature in features:
        if feature not in FEATURES:
            raise ValueError(f"unknown feature {feature!r}; known: {', '.join(FEATURES)}")
        out += [d for d in FEATURES[feature] if d not in out and not is_installed(d.module)]
    return out


def plan(needed: list[Dependency], env: Environment) -> Plan:
    """Decide how to provide ``needed`` in ``env`` (pure: nothing is installed here)."""
    result = Plan(installer="pip_ensure" if env.pip_ensure else "pip_install")
    for dep in needed:
        if dep.source == SLICER or dep.name in NEVER_INSTALL:
            result.cannot.append(f"{dep.name} is part of Slicer and is never replaced; reinstall Slicer")
        elif dep.source == PYTORCH:
            if env.install_torch is None:
                result.cannot.append("torch comes with the PyTorch extension: install it from the Extensions "
                                     "Manager, restart Slicer, and try again")
            else:
                result.torch = True
        elif dep.source == RADIOMICS:
            result.cannot.append("pyradiomics comes with the SlicerRadiomics extension: install it from the "
                                 "Extensions Manager and restart Slicer")
        elif env.pip_ensure is None and env.pip_install is None:
            result.cannot.append(f"{dep.name} is missing and this Slicer has no pip installer")
        else:
            result.pip.append(dep.requirement or dep.name)
    return result


def constraints_text(installed: dict[str, str]) -> str:
    """pip constraints pinning Slicer's own packages at their installed versions."""
    return "".join(f"{name}=={version}\n" for name, version in sorted(installed.items()) if version)


def ensure(features: Iterable[str], env: Environment | None = None,
           is_installed: Callable[[str], bool] | None = None) -> None:
    """Make every dependency of ``features`` importable, asking the user first; else :class:`DependencyError`.

    features: keys of :data:`FEATURES` ("core", "dicom", "unet", "radiomics"). env: the
    installers to use (default :func:`slicer_environment`). is_installed(module) -> bool: the
    check (default: importable). Returns at once when nothing is missing.
    """
    features = list(features)
    needed = missing(features, is_installed)
    if not needed:
        return
    env = env or slicer_environment()
    todo = plan(needed, env)
    if todo.cannot:
        raise DependencyError("; ".join(todo.cannot))
    names = ", ".join(d.name for d in needed)
    if env.testing:
        raise DependencyError(f"missing {names}; packages are not installed while Slicer runs tests")
    if not env.confirm(todo.message):
        raise DependencyError(f"MedSeg needs {names}; installation was declined")
    if todo.torch and env.install_torch() is None:
        raise DependencyError("the PyTorch extension did not install torch")
    if todo.pip:
        with tempfile.TemporaryDirectory(prefix="medseg-pip-") as folder:
            constraints = os.path.join(folder, "constraints.txt")
            with open(constraints, "w", encoding="utf-8") as f:
                f.write(constraints_text(env.installed))
            (env.pip_ensure or env.pip_install)(todo.pip, constraints)
    importlib.invalidate_caches()
    still = missing(features, is_installed)
    if still:
        raise DependencyError(f"installed, but {', '.join(d.name for d in still)} still cannot be imported; "
                              "restart Slicer and try again")


def _installed_versions() -> dict[str, str]:
    versions = {}
    for name in NEVER_INSTALL:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass  # bundled without pip metadata (VTK in Slicer): pip does not see it to replace it either
    return versions


def slicer_environment() -> Environment:
    """The installers of the running Slicer application (imports ``slicer`` here, never at module import)."""
    import slicer

    pydeps = None
    for name in ("pydeps", "packaging"):  # slicer.pydeps (5.11+); slicer.packaging in some builds
        try:
            candidate = importlib.import_module(f"slicer.{name}")
        except ImportError:
            continue
        if hasattr(candidate, "pip_ensure"):
            pydeps = candidate
            break

    def pip_ensure(requirements, constraints):
        from packaging.requirements import Requirement

        return pydeps.pip_ensure([Requirement(r) for r in requirements], constraints=constraints,
                                 prompt_install=False, requester="MedSeg")

    def pip_install(requirements, constraints):
        return slicer.util.pip_install([*requirements, "--constraint", constraints])

    def install_torch():
        import PyTorchUtils

        return PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False)

    has_torch_installer = importlib.util.find_spec("PyTorchUtils") is not None
    testing = bool(getattr(slicer, "app", None) and slicer.app.commandOptions().testingEnabled)
    return Environment(confirm=lambda message: slicer.util.confirmOkCancelDisplay(message, "MedSeg"),
                       pip_ensure=pip_ensure if pydeps else None,
                       pip_install=pip_install if hasattr(slicer.util, "pip_install") else None,
                       install_torch=install_torch if has_torch_installer else None,
                       testing=testing, installed=_installed_versions())
