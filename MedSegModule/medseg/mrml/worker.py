"""One long step in a process of its own, for Slicer's panel: ``python -m medseg.mrml.worker REQUEST.json``.

Slicer starts it with its own Python (PythonSlicer) and reads its standard output line by line
(:mod:`.background`). It imports neither ``slicer`` nor Qt. The protocol:

* ``REQUEST.json``: ``{"step": <logic method>, "options": {...}, "folder": <inputs and outputs>,
  "cancel_file": <path>}``; the inputs (``image.nrrd``, ``layer-N.nrrd``, ``inputs.json``) are in
  ``folder``, written by :func:`save_inputs`.
* Standard output: lines ``MEDSEG {"progress": f, "message": m}`` and one last ``MEDSEG {"done": ...}``,
  ``{"error": "one line"}`` or ``{"cancelled": true}``; anything else (warnings, a traceback) is
  shown in the panel's log as it is.
* Cancel: the panel creates ``cancel_file``; the step stops at its next check.
* Exit status: 0 done (outputs in ``folder``, read by :func:`load_outputs`), 2 a user's mistake
  (:class:`~medseg.errors.MedSegError`), 3 cancelled, 1 a bug.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import SimpleITK as sitk

from .. import labels as L
from ..errors import Cancelled, MedSegError
from .compute import StepInputs, StepOutputs, run

PREFIX = "MEDSEG "
EXIT_ERROR, EXIT_CANCELLED = 2, 3


def _labels_json(table) -> list:
    return [[int(lab.value), str(lab.name), [int(c) for c in lab.color]] for lab in table]


def _labels_from(rows) -> list:
    return [L.Label(int(v), str(n), tuple(int(c) for c in color)) for v, n, color in rows]


def _write_image(image: sitk.Image, path: Path) -> str:
    sitk.WriteImage(image, str(path), False)  # uncompressed: written and read once, at once
    return path.name


def save_inputs(inputs: StepInputs, folder: str | os.PathLike) -> None:
    """Write a step's inputs into ``folder`` (image.nrrd, layer-N.nrrd, inputs.json)."""
    folder = Path(folder)
    layers = [{"labels": _write_image(labels, folder / f"layer-{n}.nrrd"), "segments": _labels_json(table)}
              for n, (labels, table) in enumerate(inputs.layers)]
    record = {"image": _write_image(inputs.image, folder / "image.nrrd"), "meta": inputs.meta, "layers": layers}
    (folder / "inputs.json").write_text(json.dumps(record), encoding="utf-8")


def load_inputs(folder: str | os.PathLike) -> StepInputs:
    folder = Path(folder)
    record = json.loads((folder / "inputs.json").read_text(encoding="utf-8"))
    layers = [(sitk.ReadImage(str(folder / layer["labels"])), _labels_from(layer["segments"])) for layer in record["layers"]]
    return StepInputs(sitk.ReadImage(str(folder / record["image"])), record["meta"], layers)


def save_outputs(outputs: StepOutputs, folder: str | os.PathLike) -> None:
    """Write a step's outputs into ``folder`` (labels.nrrd, cleaned.nrrd, outputs.json), outputs.json last."""
    folder = Path(folder)
    record = {"name": outputs.name, "segments": _labels_json(outputs.segments), "rows": outputs.rows,
              "classification": outputs.classification, "warnings": outputs.warnings, "device": outputs.device,
              "labels": _write_image(outputs.labels, folder / "labels.nrrd") if outputs.labels is not None else None,
              "cleaned": _write_image(outputs.cleaned, folder / "cleaned.nrrd") if outputs.cleaned is not None else None}
    tmp = folder / "outputs.json.tmp"
    tmp.write_text(json.dumps(record, default=float), encoding="utf-8")
    os.replace(tmp, folder / "outputs.json")


def load_outputs(folder: str | os.PathLike) -> StepOutputs:
    folder = Path(folder)
    record = json.loads((folder / "outputs.json").read_text(encoding="utf-8"))

    def image(name):
        return sitk.ReadImage(str(folder / name)) if name else None

    return StepOutputs(record["name"], labels=image(record["labels"]), segments=_labels_from(record["segments"]),
                       cleaned=image(record["cleaned"]), rows=record["rows"],
                       classification=record.get("classification"), warnings=record["warnings"],
                       device=record["device"])


def emit(**event) -> None:
    print(PREFIX + json.dumps(event), flush=True)


def _watch(cancel_file: Path, cancel: threading.Event, done: threading.Event) -> None:
    while not done.wait(0.2):
        if cancel_file.exists():
            cancel.set()
            return


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    request = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    folder, cancel, done = Path(request["folder"]), threading.Event(), threading.Event()
    threading.Thread(target=_watch, args=(Path(request["cancel_file"]), cancel, done), daemon=True).start()
    try:
        inputs = load_inputs(folder)
        outputs = run(request["step"], inputs, request.get("options", {}),
                      progress=lambda f, m="": emit(progress=round(float(f), 4), message=m), cancel=cancel)
        save_outputs(outputs, folder)
    except Cancelled:
        emit(cancelled=True)
        return EXIT_CANCELLED
    except MedSegError as exc:
        emit(error=str(exc))
        return EXIT_ERROR
    finally:
        done.set()
    emit(done=True, device=outputs.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
