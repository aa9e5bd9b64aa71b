"""Render the README figures of `medseg clean`: body (1) and removed objects (2) over the CT.

Writes Resources/figures/clean-abdomen.png (the real ct-abdomen-20, when ../shared/data is there)
and Resources/figures/clean-head-touching.png (the head phantom whose headrest touches the scalp).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import SimpleITK as sitk

REPO = Path(__file__).resolve().parents[1]


def overlay(image: sitk.Image, result, path: Path, slices, title: str) -> Path:
    """Montage of axial slices with body = 1 and table-headrest = 2 (the DESIGN label table)."""
    from medseg.report.figures import overlay_axial
    from medseg.labels import compose

    labels = compose({"body": sitk.GetArrayFromImage(result.body_mask).astype(bool),
                      "table-headrest": sitk.GetArrayFromImage(result.object_mask).astype(bool)})
    label_image = sitk.GetImageFromArray(labels)
    label_image.CopyInformation(image)
    return overlay_axial(image, label_image, path, slices=slices, title=title)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(REPO / "Resources" / "figures"), help="output folder")
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"), help="the shared data folder")
    args = parser.parse_args(argv)
    from medseg.io import load
    from medseg.phantom import make_head
    from medseg.pipeline.steps import clean

    out = Path(args.out)
    abdomen = Path(args.data) / "ct-abdomen-20" / "dicom"
    if abdomen.exists():
        image, meta = load(abdomen)
        result = clean(image, meta)
        print(overlay(image, result, out / "clean-abdomen.png", [0, 10, 19],
                      "ct-abdomen-20: body (arms included) and removed table"))
    else:
        print(f"skipped clean-abdomen.png: {abdomen} not found")
    phantom = make_head(seed=1, headrest="touching")
    image = phantom.to_image()
    result = clean(image, {"is_hu": True, "modality": "CT"})
    print(overlay(image, result, out / "clean-head-touching.png", [4, 10, 16, 24],
                  "head phantom, headrest touching the scalp: body and removed headrest + table"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
