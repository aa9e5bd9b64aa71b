"""The volume classifier's demo: generated normal/abnormal data, a small training run, the ROC figure.

Data (``medseg.pipeline.classify_data``): chest phantoms, and slabs of the real ct-chest-141 and
ct-pelvis-chest-134 series (../shared/data), each without and with 1-2 inserted lung lesions of
20-50 mm (solid, part-solid, ground-glass; 30 % on the pleura). ct-chest-141's own nodule
(slices 70-86) is left out, so no "normal" slab holds a known lesion. Training uses a small input
(32 x 64 x 64) and a narrower network (16/16/32/64 filters, dense 128) so that it finishes in a few
minutes on 2 CPU cores; the seed's full network is ``medseg classify-train``'s default.

    PYTHONPATH=MedSegModule python scripts/train_classifier_demo.py [OUT] [--figure]

``--figure`` copies the validation ROC curve to Resources/figures/classify-roc.png.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
NODULE_SLICES = (70, 86)  # ct-chest-141's right-upper-lobe nodule (Testing/grow_helpers.py)


def main(out: Path, figure: bool) -> dict:
    from medseg.classify.train import ClassifyConfig, train
    from medseg.pipeline.classify_data import write_classify_data

    t0 = time.perf_counter()
    chest141 = SHARED / "ct-chest-141" / "dicom"
    real = [p for p in (chest141, SHARED / "ct-pelvis-chest-134" / "dicom") if p.exists()]
    data = write_classify_data(out / "data", phantoms=40, real=real, slabs_per_series=8, slab_slices=32,
                               exclude_z={str(chest141): NODULE_SLICES}, diameters_mm=(20.0, 50.0),
                               attached_fraction=0.3, seed=0)
    data_s = time.perf_counter() - t0
    cfg = ClassifyConfig(size=[32, 64, 64], channels=[16, 16, 32, 64], dense=128, epochs=25, batch_size=4, lr=1e-3,
                         lr_decay=0.95, device=os.environ.get("MEDSEG_DEVICE", "auto"), name="classifier-demo",
                         description="demo: phantoms and real slabs with inserted lung lesions", synthetic=True)
    t1 = time.perf_counter()
    result = train(out / "data", out / "model", cfg)
    summary = {"data": data, "data_seconds": round(data_s, 1), "train_seconds": round(time.perf_counter() - t1, 1),
               "best": result["best"], "epochs": result["epochs"], "load_average": os.getloadavg()[0],
               "cpus": os.cpu_count(), "real_series": [str(p) for p in real]}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if figure:
        shutil.copyfile(out / "model" / "roc.png", REPO / "Resources" / "figures" / "classify-roc.png")
    return summary


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    print(json.dumps(main(Path(args[0]) if args else REPO / "out" / "classifier-demo", "--figure" in sys.argv), indent=2))
