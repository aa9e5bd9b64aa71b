"""Install what a MedSeg step needs inside Slicer, on first use, after asking; versions checked.

* **What:** each logic method names the distributions it needs (``MedSegLogic.NEEDS``); their version
  ranges come from the package metadata, ``medseg/resources/requirements.json`` (generated from
  pyproject.toml by ``scripts/make_requirements.py``: Slicer has no installed dist-info of medseg).
* **Checked:** a distribution is satisfied when its module imports *and* its installed version is in
  range (``importlib.metadata`` + ``packaging``). Too old or too new counts as missing, and the
  confirmation offers the upgrade.
* **When:** :func:`ensure` is called by a step before it runs; nothing is checked at import.
* **How:** one confirmation for everything missing, then ``slicer.packaging.pip_ensure`` (Slicer 5.12)
  or ``slicer.util.pip_install`` (5.8, 5.10) with a constraints file pinning Slicer's own packages.
  torch comes from the PyTorch extension's installer (it picks the build for the GPU driver),
  pyradiomics from the SlicerRadiomics extension; both are in ``EXTENSION_DEPENDS``.
* **Never replaced:** Slicer's own numpy, SimpleITK, scipy, pydicom, packaging and VTK
  (:data:`SLICER_OWN`); their ranges in pyproject are ones every supported Slicer satisfies.
* **Restart:** a package upgraded while its old version is already imported needs a restart of
  Slicer; :func:`ensure` says so instead of running on the old one.

:func:`check` and :func:`plan` are pure and tested with fakes; :func:`slicer_environment` is the only
place that touches ``slicer``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional

from ..errors import DependencyError

PIP, PYTORCH, RADIOMICS, SLICER = "pip", "PyTorch extension", "SlicerRadiomics extension", "Slicer"
REQUIREMENTS_FILE = Path(__file__).resolve().parents[1] / "resources" / "requirements.json"

#: Slicer's own builds: never installed, upgraded or downgraded by MedSeg (pinned by the constraints file).
SLICER_OWN = ("numpy", "simpleitk", "scipy", "pydicom", "packaging", "vtk")
#: Distributions that come from another Slicer extension rather than pip.
FROM_EXTENSION = {"torch": PYTORCH, "pyradiomics": RADIOMICS}
#: Import names that differ from the distribution's name.
MODULES = {"scikit-image": "skimage", "pynrrd": "nrrd", "pyyaml": "yaml", "python-gdcm": "gdcm",
           "pylibjpeg-openjpeg": "openjpeg", "pylibjpeg-libjpeg": "libjpeg", "pyradiomics": "radiomics",
           "simpleitk": "SimpleITK", "itk-growcut": "itk"}
#: The optional features of MedSeg's Slicer steps -> the distributions each needs beyond Slicer's own
#: (their versions are pyproject's: the "torch" and "grow" extras). "grow" is ITK's fast grow-cut, for
#: a process where Slicer's own filter cannot be imported (MedSegLogic.growBackgroundNeeds).
FEATURES: Dict[str, tuple] = {"classify": ("scipy", "torch"), "grow": ("scipy", "itk-growcut")}


def _key(name: str) -> str:
    return name.lower().replace("_", "-")


@lru_cache(maxsize=None)
def requirements() -> Dict[str, str]:
    """{distribution (lower case): requirement string} from the package metadata (dependencies and extras)."""
    from packaging.requirements import Requirement

    record = json.loads(REQUIREMENTS_FILE.read_text(encoding="utf-8"))
    out = {}
    for text in [*record["dependencies"], *(r for extra in record["optional-dependencies"].values() for r in extra)]:
        out.setdefault(_key(Requirement(text).name), text)
    return out


@dataclass(frozen=True)
class Check:
    """One distribution: its requirement, the version installed (None: none), and whether it is usable."""

    name: str
    requirement: str
    installed: Optional[str]
    importable: bool

    @property
    def ok(self) -> bool:
        if not self.importable or self.installed is None:
            return False
        from packaging.requirements import Requirement

        return Requirement(self.requirement).specifier.contains(self.installed, prereleases=True)

    @property
    def source(self) -> str:
        return SLICER if _key(self.name) in SLICER_OWN else FROM_EXTENSION.get(_key(self.name), PIP)

    @property
    def reason(self) -> str:
        if self.installed is None or not self.importable:
            return f"{self.name} is not installed (needs {self.requirement})"
        return f"{self.name} {self.installed} is installed, {self.requirement} is needed"


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a blocked or half-removed package
        return False


def _version(name: str) -> Optional[str]:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def check(names: Iterable[str], importable: Callable[[str], bool] = _importable,
          version: Callable[[str], Optional[str]] = _version) -> List[Check]:
    """The state of each distribution in ``names`` (names as in pyproject.toml)."""
    reqs = requirements()
    out = []
    for name in dict.fromkeys(names):
        key = _key(name)
        if key not in reqs:
            raise ValueError(f"{name!r} is not a requirement of medseg (pyproject.toml)")
        out.append(Check(name, reqs[key], version(name), importable(MODULES.get(key, key.replace("-", "_")))))
    return out


def missing(names: Iterable[str], **kwargs) -> List[Check]:
    """The distributions of ``names`` that are not usable: absent, not importable, or out of range."""
    return [c for c in check(names, **kwargs) if not c.ok]


@dataclass
class Environment:
    """What this Slicer offers for installing; each callable is None where it is not available.

    pip_ensure(requirements, constraints) and pip_install(requirements, constraints) take requirement
    strings and a constraints file path; install_torch() returns the torch module or None;
    confirm(message) -> bool asks the user; testing: Slicer runs its tests (never install);
    installed: Slicer's own distributions and their versions (pinned while installing).
    """

    confirm: Callable[[str], bool]
    pip_ensure: Optional[Callable[[List[str], str], object]] = None
    pip_install: Optional[Callable[[List[str], str], object]] = None
    install_torch: Optional[Callable[[], object]] = None
    testing: bool = False
    installed: Dict[str, str] = field(default_factory=dict)


@dataclass
class Plan:
    """What :func:`ensure` will do: pip requirements, torch through PyTorchUtils, and what it cannot do."""

    pip: List[str] = field(default_factory=list)
    upgrades: List[str] = field(default_factory=list)  # "name old -> requirement" lines
    torch: bool = False
    cannot: List[str] = field(default_factory=list)  # one line each: why a dependency cannot be provided here
    installer: str = ""

    @property
    def message(self) -> str:
        """The confirmation text: what will be installed or upgraded, and how."""
        parts = []
        if self.pip:
            parts.append(f"pip ({self.installer}): {', '.join(self.pip)}")
        parts += [f"upgrade {line}" for line in self.upgrades]
        if self.torch:
            parts.append("PyTorch, with the PyTorch extension's installer (it picks the build for your GPU)")
        return "MedSeg needs Python packages that are missing or too old:\n- " + "\n- ".join(parts) + \
            "\nSlicer's own numpy, SimpleITK, scipy and pydicom are kept. Install now? This can take a few minutes."


def plan(needed: List[Check], env: Environment) -> Plan:
    """Decide how to provide ``needed`` in ``env`` (pure: nothing is installed here)."""
    result = Plan(installer="pip_ensure" if env.pip_ensure else "pip_install")
    for dep in needed:
        if dep.source == SLICER:
            result.cannot.append(f"{dep.reason}; it is part of Slicer and is never replaced: use a Slicer whose "
                                 f"{dep.name} matches")
        elif dep.source == PYTORCH:
            if env.install_torch is None:
                result.cannot.append(f"{dep.reason}; torch comes with the PyTorch extension: install it from the "
                                     "Extensions Manager, restart Slicer, and try again")
            else:
                result.torch = True
        elif dep.source == RADIOMICS:
            result.cannot.append(f"{dep.reason}; pyradiomics comes with the SlicerRadiomics extension: install it "
                                 "from the Extensions Manager and restart Slicer")
        elif env.pip_ensure is None and env.pip_install is None:
            result.cannot.append(f"{dep.reason}, and this Slicer has no pip installer")
        else:
            result.pip.append(dep.requirement)
            if dep.installed is not None:
                result.upgrades.append(f"{dep.name} {dep.installed} -> {dep.requirement}")
    return result


def constraints_text(installed: Dict[str, str]) -> str:
    """pip constraints pinning Slicer's own packages at their installed versions."""
    return "".join(f"{name}=={version}\n" for name, version in sorted(installed.items()) if version)


def ensure(names: Iterable[str], env: Environment | None = None,
           loaded: Callable[[str], bool] = lambda module: module in sys.modules, **check_kwargs) -> None:
    """Make every distribution of ``names`` usable, asking the user first; else :class:`DependencyError`.

    names: distributions as pyproject.toml names them (``MedSegLogic.NEEDS[method]``). env: the
    installers (default :func:`slicer_environment`). loaded(module): already imported in this
    process (an upgrade then needs a restart). Returns at once when everything is usable.
    """
    names = list(names)
    needed = missing(names, **check_kwargs)
    if not needed:
        return
    env = env or slicer_environment()
    todo = plan(needed, env)
    if todo.cannot:
        raise DependencyError("; ".join(todo.cannot))
    if env.testing:
        raise DependencyError(f"{'; '.join(d.reason for d in needed)}: not installed while Slicer runs tests")
    if not env.confirm(todo.message):
        raise DependencyError(f"MedSeg needs {', '.join(d.name for d in needed)}; installation was declined")
    stale = [d.name for d in needed if d.installed is not None and loaded(MODULES.get(_key(d.name), _key(d.name)))]
    if todo.torch and env.install_torch() is None:
        raise DependencyError("the PyTorch extension did not install torch")
    if todo.pip:
        with tempfile.TemporaryDirectory(prefix="medseg-pip-") as folder:
            constraints = os.path.join(folder, "constraints.txt")
            with open(constraints, "w", encoding="utf-8") as f:
                f.write(constraints_text(env.installed))
            (env.pip_ensure or env.pip_install)(todo.pip, constraints)
    importlib.invalidate_caches()
    if stale:
        raise DependencyError(f"upgraded {', '.join(stale)}, whose old version is already loaded: "
                              "restart Slicer, then run the step again")
    still = missing(names, **check_kwargs)
    if still:
        raise DependencyError(f"installed, but {'; '.join(d.reason for d in still)}: restart Slicer and try again")


def ensure_feature(feature: str, **kwargs) -> None:
    """:func:`ensure` the distributions of one of :data:`FEATURES` ("classify", "grow")."""
    if feature not in FEATURES:
        raise ValueError(f"{feature!r} is not a MedSeg feature ({', '.join(FEATURES)})")
    ensure(FEATURES[feature], **kwargs)


def slicer_environment() -> Environment:
    """The installers of the running Slicer application (imports ``slicer`` here, never at module import)."""
    import slicer

    try:
        from slicer import packaging as slicer_packaging  # Slicer 5.12
    except ImportError:
        slicer_packaging = None

    def pip_ensure(requirements, constraints):
        return slicer_packaging.pip_ensure(list(requirements), constraints=constraints, prompt_install=False,
                                           requester="MedSeg")

    def pip_install(requirements, constraints):
        return slicer.util.pip_install([*requirements, "--constraint", constraints])

    def install_torch():
        import PyTorchUtils

        return PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False)

    testing = bool(slicer.app.commandOptions().testingEnabled)
    own = {name: v for name in SLICER_OWN if (v := _version(name))}
    return Environment(confirm=lambda message: slicer.util.confirmOkCancelDisplay(message, "MedSeg"),
                       pip_ensure=pip_ensure if slicer_packaging is not None and hasattr(slicer_packaging, "pip_ensure")
                       else None,
                       pip_install=pip_install,
                       install_torch=install_torch if importlib.util.find_spec("PyTorchUtils") is not None else None,
                       testing=testing, installed=own)


__all__ = ["FEATURES", "Check", "Environment", "Plan", "SLICER_OWN", "check", "constraints_text", "ensure",
           "ensure_feature", "missing", "plan", "requirements", "slicer_environment"]
