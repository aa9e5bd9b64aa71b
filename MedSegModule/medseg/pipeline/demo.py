"""``medseg demo``: make phantom studies, run the whole pipeline on them, and score it against the truth.

Two seeded studies are written as real DICOM series: a chest CT (lungs, airway, spine, curved
table) and a head CT whose headrest touches the scalp (the hard case for headrest removal). Each
goes through ``medseg run`` (report.html included) and its auto-labels are compared with the
phantom's ground truth. Every file lands under the output folder; nothing outside it is touched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..report.figures import overlay_axial
from ..io import discover, read_label_image, write_label_image
from ..labels import AUTO_LABELS
from ..measure.metrics import evaluate
from ..phantom import write_phantom_study
from .files import convert_to_file
from .study import run_study
from ..progress import Progress, sub_progress

#: (name, phantom kind, maker options, HU window for figures)
STUDIES = (
    ("chest", "chest", {}, (-400.0, 1600.0)),
    ("head", "head", {"headrest": "touching"}, (40.0, 400.0)),
)


def run_demo(out: Path, seed: int = 0, progress: Progress | None = None) -> list[str]:
    """Write each demo study to ``out/<name>/``, convert it to HU and describe it. Returns lines to print."""
    out.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    share = 1.0 / len(STUDIES)
    for i, (name, kind, options, window) in enumerate(STUDIES):
        step = sub_progress(progress, i * share, (i + 1) * share)
        lines += _one_study(out / name, name, kind, options, window, seed, step)
    return lines


def _one_study(folder: Path, name: str, kind: str, options: dict, window, seed: int, progress) -> list[str]:
    study = write_phantom_study(folder / "phantom", seed=seed, kind=kind, **options)
    phantom = study["phantom"]
    lines = [f"[{name}] phantom study: {study['dicom']} ({len(study['files'])} DICOM slices)"]
    for s in discover(study["dicom"], progress=sub_progress(progress, 0.0, 0.1)).series:
        info = s.summary()
        lines.append(f"[{name}] info: {info['modality']} series, {info['slices']} slices, "
                     f"{'x'.join(map(str, info['size']))}, spacing {' x '.join(f'{v:.4g}' for v in info['spacing'])} mm")
    converted = convert_to_file(study["dicom"], folder / f"{name}-hu.nrrd", progress=sub_progress(progress, 0.1, 0.8))
    lines.append(f"[{name}] convert: {folder / f'{name}-hu.nrrd'} ({converted.meta['modality']}, HU)")
    truth, _ = read_label_image(study["labels"])
    seg = write_label_image(truth, folder / f"{name}-truth.seg.nrrd", segments=phantom.label_table)
    png = overlay_axial(converted.image, truth, folder / f"{name}-truth.png", window=window,
                        title=f"{name.capitalize()} phantom, ground-truth labels (radiological view)")
    lines.append(f"[{name}] ground truth: {seg} (open in Slicer), figure: {png}")
    lines += [f"[{name}] warning: {w}" for w in converted.meta["warnings"]]
    run = run_study(study["dicom"], folder / "run", radiomics_preset="ct-baseline",
                    progress=sub_progress(progress, 0.8, 1.0))
    lines.append(f"[{name}] run: {len(run.outputs)} outputs in {folder / 'run'} "
                 f"({sum(run.seconds.values()):.1f} s); report: {run.outputs['report']}")
    auto, _ = read_label_image(run.outputs["labels"])
    scores = evaluate(auto, truth, labels={lab.value: lab.name for lab in AUTO_LABELS})
    present = {int(v) for v in np.unique(phantom.labels) if v}
    cells = [f"{lab.name} {scores[lab.name]['dice']:.3f}" for lab in AUTO_LABELS if lab.value in present]
    lines.append(f"[{name}] auto-labels vs ground truth, Dice: " + ", ".join(cells))
    return lines
