"""What a batch writes about itself: ``config.yaml``, each study's completion record, ``batch.csv``.

The completion record ``<study>/medseg-run.json`` is the study's last file: its presence means
every other output of the study is complete. It carries the hash of the options that shape the
outputs (:func:`options_hash`), so a later run with other options knows the folder is stale.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from .. import __version__

#: The completion record, written last into a finished study's folder.
DONE = "medseg-run.json"

#: Options that change what a study's files contain (the hash covers these, not jobs or device).
OUTPUT_OPTIONS = ("series", "resample", "force", "skip_damaged", "radiomics_preset", "radiomics_labels",
                  "models", "meshes", "dicom_seg")

#: Libraries whose versions config.yaml records (read from the installed metadata: nothing is imported).
LIBRARIES = ("numpy", "SimpleITK", "pydicom", "scipy", "scikit-image", "pyradiomics", "torch", "highdicom",
             "vtk", "trimesh", "matplotlib", "pyyaml")


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def library_versions() -> dict[str, str]:
    """``{distribution: version}`` of :data:`LIBRARIES`, "not installed" for the missing ones."""
    from importlib import metadata

    versions = {"python": platform.python_version(), "medseg": __version__}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _radiomics_content(preset) -> Any:
    """The radiomics parameters themselves, so that an edited parameter file counts as other options."""
    if not preset:
        return None
    try:
        from ..measure.radiomics.features import load_params

        return load_params(preset)
    except Exception:  # unreadable here: run_study refuses it with the reason; hash the name meanwhile
        return str(preset)


def options_hash(input_path: str | os.PathLike, options: Mapping[str, Any]) -> str:
    """16 hex digits over the resolved input path and the :data:`OUTPUT_OPTIONS` of ``options``."""
    chosen = {k: options.get(k) for k in OUTPUT_OPTIONS}
    chosen["radiomics_parameters"] = _radiomics_content(options.get("radiomics_preset"))
    chosen["input"] = str(Path(input_path).resolve())
    text = json.dumps(chosen, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def read_done(folder: Path) -> dict | None:
    """The completion record of a study folder, or None (none, or unreadable: not complete)."""
    try:
        record = json.loads((folder / DONE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) and "options_hash" in record else None


def write_done(folder: Path, record: Mapping[str, Any]) -> Path:
    from ..io.atomic import atomic_output

    with atomic_output(folder / DONE) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    return folder / DONE


def _command_line() -> list[str]:
    if not sys.argv or not sys.argv[0]:
        return []
    name = Path(sys.argv[0]).name
    return ["medseg" if name in ("__main__.py", "medseg") else name, *sys.argv[1:]]


def write_config(root: Path, inputs: Sequence[str], names: Sequence[str], options: Mapping[str, Any],
                 overwrite: bool) -> Path:
    """``root/config.yaml``: the command line, every option, each input's folder, library versions."""
    import yaml

    from ..io.atomic import atomic_output

    config = {
        "medseg": __version__,
        "started": now(),
        "command": _command_line(),
        "cwd": os.getcwd(),
        "output": str(root.resolve()),
        "studies": [{"input": str(p), "resolved": str(Path(p).resolve()), "folder": n} for p, n in zip(inputs, names)],
        "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()},
        "overwrite": bool(overwrite),
        "libraries": library_versions(),
        "platform": {"system": platform.system(), "machine": platform.machine(), "cpus": os.cpu_count()},
    }
    with atomic_output(root / "config.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(config, sort_keys=False, default_flow_style=False), encoding="utf-8")
    return root / "config.yaml"


def write_summary(root: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """``root/batch.csv``: one row per study (name, input, status, seconds, error)."""
    import csv

    from ..io.atomic import atomic_output

    fields = ("name", "input", "status", "seconds", "error")
    with atomic_output(root / "batch.csv", allow_empty=True) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    return root / "batch.csv"
