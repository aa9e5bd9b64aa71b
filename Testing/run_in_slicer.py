"""Run MedSeg's self-test inside a real 3D Slicer and exit with its status.

    Slicer --no-main-window --python-script Testing/run_in_slicer.py [WORKDIR]

Adds MedSegModule/ to Slicer's module paths for this session (the module is loaded, so an import
error in MedSegModule.py fails here too), runs ``medseg.mrml.selftest`` on ``slicer.mrmlScene``
(every logic method on a generated chest phantom, checked against its truth) and exits 0 when no
step failed, 1 otherwise. A step whose Python packages are missing is installed first (after a
confirmation), or skipped, saying why, when Slicer runs with ``--testing``; skips are counted.
"""

import sys
import tempfile
import traceback
from pathlib import Path

MODULE_DIR = Path(__file__).resolve().parents[1] / "MedSegModule"


def load_module() -> None:
    """Register and load MedSegModule from the checkout, as an "additional module path" would."""
    import qt
    import slicer

    if str(MODULE_DIR) not in sys.path:
        sys.path.insert(0, str(MODULE_DIR))  # medseg and MedSegWidgets import from here
    factory = slicer.app.moduleManager().factoryManager()
    factory.registerModule(qt.QFileInfo(str(MODULE_DIR / "MedSegModule.py")))
    factory.loadModules(["MedSegModule"])
    if not hasattr(slicer.modules, "medsegmodule"):
        raise RuntimeError(f"Slicer did not load MedSegModule from {MODULE_DIR}")


def main() -> int:
    import slicer

    load_module()
    from medseg.mrml.logic import MedSegLogic
    from medseg.mrml.selftest import run_selftest, summary

    workdir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="MedSegSelfTest-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = summary(run_selftest(MedSegLogic(slicer.mrmlScene, slicer.app.applicationLogic()), workdir, log=print))
    print(f"MedSeg self-test: {len(results['ok'])} ok, {len(results['failed'])} failed, "
          f"{len(results['skipped'])} skipped (files in {workdir})")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    try:
        status = main()
    except Exception:
        traceback.print_exc()
        status = 1
    import slicer

    slicer.util.exit(status)
