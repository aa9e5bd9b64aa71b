"""README figure: the lesion picture of the report's Models section, for ct-chest-141 and lung-tumour.

Runs ``medseg run``'s pipeline (:func:`medseg.pipeline.study.run_study`, no meshes, no DICOM SEG) on
the untouched ct-chest-141 with ``--model lung-tumour`` into a temporary folder and writes the
picture the report embeds for that model.

    PYTHONPATH=MedSegModule python scripts/make_lesion_report_figure.py [OUT.png]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def main(argv=None) -> int:
    from medseg.pipeline.study import run_study

    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else REPO / "Resources" / "figures" / "report-lung-tumour-lesions.png"
    with tempfile.TemporaryDirectory() as tmp:
        result = run_study(DATA / "ct-chest-141" / "dicom", Path(tmp) / "run", models=["lung-tumour"], device="cpu",
                           meshes=False, dicom_seg=False)
    (entry,) = result.models
    out.write_bytes(entry["picture"].png)
    print(f"{out}: {len(entry['lesions'])} lesions; " + "; ".join(entry["picture"].positions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
