"""``medseg demo``: make a phantom study, run the pipeline's steps that exist so far, print what happened.

Every file lands under the output folder; nothing outside it is touched. Later issues extend
this with their steps (clean, auto-label, U-Net, radiomics, meshes, report).
"""

from __future__ import annotations

from pathlib import Path

from .figures import overlay_axial
from .io import discover, read_label_image, write_label_image
from .labels import AUTO_LABELS
from .phantom import write_phantom_study
from .pipeline import convert_to_file
from .steps import Progress, sub_progress


def run_demo(out: Path, seed: int = 0, progress: Progress | None = None) -> list[str]:
    """Write the chest phantom to ``out``, convert it to HU and describe it. Returns lines to print."""
    out.mkdir(parents=True, exist_ok=True)
    study = write_phantom_study(out / "chest-phantom", seed=seed)
    lines = [f"phantom study: {study['dicom']} ({len(study['files'])} DICOM slices, ground truth {study['labels']})"]

    found = discover(study["dicom"], progress=sub_progress(progress, 0.0, 0.1))
    for s in found.series:
        info = s.summary()
        lines.append(f"info: {info['modality']} series {info['series_uid']}: {info['slices']} slices, "
                     f"{'x'.join(map(str, info['size']))}, spacing {' x '.join(f'{v:.4g}' for v in info['spacing'])} mm")

    hu_path = out / "chest-hu.nrrd"
    converted = convert_to_file(study["dicom"], hu_path, progress=sub_progress(progress, 0.1, 0.8))
    arr_min, arr_max = _range(converted.image)
    lines.append(f"convert: {hu_path} ({converted.meta['modality']}, HU {arr_min:.0f}..{arr_max:.0f})")

    truth, _ = read_label_image(study["labels"])
    seg_path = write_label_image(truth, out / "chest-truth.seg.nrrd", segments=AUTO_LABELS)
    png = overlay_axial(converted.image, truth, out / "chest-truth.png",
                        title="Chest phantom, ground-truth labels (radiological view)")
    lines.append(f"ground truth as Slicer segmentation: {seg_path}")
    lines.append(f"figure: {png}")
    for w in converted.meta["warnings"]:
        lines.append(f"warning: {w}")
    return lines


def _range(image) -> tuple[float, float]:
    import SimpleITK as sitk

    a = sitk.GetArrayViewFromImage(image)
    return float(a.min()), float(a.max())
