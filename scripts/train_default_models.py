"""Retrain the shipped U-Net models (``lungs``, ``table-headrest``) on the real CT in ../shared/data.

Run by ``scripts/train_default_models.sh`` (offline, never in CI)::

    python scripts/train_default_models.py [lungs] [table-headrest] --work out/default-models [--install]

Data: the six real series, labelled by the classical steps (``scripts/make_real_labels.py``) and
reviewed by eye (``scripts/data/real_ct_manifest.json`` lists the slices dropped and why), plus a
few seeded synthetic phantoms (fewer slices than the real ones). The shipped model trains on all
of it; the leave-one-series-out table (``scripts/loso_unet.py``) is folded into its card when it
has been run, and the card's status follows from the numbers (:func:`status_from`).
Everything is seeded; a rerun on the same torch build and thread count gives the same weights.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
DATA = REPO.parent / "shared" / "data"
MANIFEST = REPO / "scripts" / "data" / "real_ct_manifest.json"
SERIES = ("ct-abdomen-20", "ct-chest-2", "ct-chest-141", "ct-pelvis-chest-134", "ct-head-tilt-28", "ct-head-93")
#: Validation of the shipped model picks its best epoch; it is in-sample (these series are trained on
#: too) and kept small, since every epoch scores it. The out-of-sample figures are the LOSO table.
VAL_SERIES = ("ct-chest-2", "ct-abdomen-20")
#: ct-chest-2: right and left lung voxels a published DL lung model gives (lungmask's test data).
CHEST2_RIGHT, CHEST2_LEFT = 64752, 36536

#: Augmentation for what real CT varies in (see medseg.unet.augment): HU offset/scale and noise,
#: rotation +-15 degrees, left-right flip with the side labels swapped, zoom and blur for patient
#: size and reconstruction sharpness (the model grid's fixed spacing absorbs the 0.5-1.5 mm pixel
#: spacing of the input), field-of-view crops.
AUGMENT = {"shift": 0.08, "rotate_deg": 15.0, "zoom": 0.15, "flip_lr": 0.5, "gain": 0.10, "offset": 0.05,
           "noise": 0.03, "blur": 1.0, "fov_crop": 0.15}

#: Training recipe per shipped model; ``fold_*`` are the leave-one-series-out runs (lungs: the shipped
#: recipe; table-headrest: shorter folds, as its measured table was made).
RECIPES = {
    "lungs": {"phantoms": 8, "seed": 1000, "epochs": 14, "max_batches": 30, "batch_size": 8, "lr": 3e-3,
              "dice_epochs": 6, "neg_fraction": 0.4, "fold_epochs": 14, "fold_max_batches": 30,
              "body_region": ["chest"],
              # Vessels enclosed by lung are lung (as in the classical mask and lungmask's own
              # post-processing); no lung outside the body or in specks under 1 mL.
              "postprocess": {"fill_holes": True, "largest_component": False, "inside_body": True,
                              "min_component_ml": 1.0},
              "description": "Right and left lung (2D U-Net, cpu-small) trained on six real CT series "
                             "(reviewed classical labels; abdomen, pelvis and head slices as negatives) "
                             "and a few synthetic chest phantoms"},
    "table-headrest": {"phantoms": 8, "seed": 2000, "epochs": 14, "max_batches": 30, "batch_size": 8, "lr": 3e-3,
                       "dice_epochs": 6, "neg_fraction": 0.25, "fold_epochs": 4, "fold_max_batches": 25,
                       "body_region": ["head", "chest", "abdomen-pelvis"],
                       "description": "CT table, couch, head holder and other removed objects (2D U-Net, "
                                      "cpu-small) trained on six real CT series (reviewed classical labels "
                                      "from medseg clean) and a few synthetic head/chest/abdomen phantoms"},
}


def real_labels(work: Path) -> dict[str, Path]:
    """{series: reviewed pseudo-label file}; runs the classical steps where a file is missing."""
    from make_real_labels import pseudo_labels

    out = work / "real-ct"
    found = {}
    for s in SERIES:
        if not (DATA / s / "dicom").is_dir():
            raise SystemExit(f"{DATA / s / 'dicom'} not found: the real series are needed to train")
        if not (out / s / "labels.nrrd").is_file():
            pseudo_labels(s, out)
        found[s] = out / s / "labels.nrrd"
    return found


def phantoms(name: str, work: Path, n: int, seed: int) -> list[Path]:
    """``n`` seeded phantom studies for model ``name`` (the recipes of scripts/phantom_studies.py)."""
    from phantom_studies import make_studies

    return make_studies(name, work / name / "phantoms", n, seed)


def build(name: str, work: Path) -> Path:
    """The training folder of model ``name``: all real series + the phantoms; validation = the real series."""
    from medseg.pipeline.dataset import build_dataset

    r = RECIPES[name]
    labels = real_labels(work)
    ph = phantoms(name, work, r["phantoms"], r["seed"])
    data = work / name / "dataset"
    if not (data / "dataset.json").is_file():
        inputs = [DATA / s / "dicom" for s in SERIES] + ph
        build_dataset(inputs, data, labels=[labels[s] for s in SERIES] + [None] * len(ph), task=name,
                      manifest=MANIFEST, val_fraction=0.2, seed=r["seed"],
                      description=f"{len(SERIES)} real CT series ({', '.join(SERIES)}; reviewed classical labels) "
                                  f"and {len(ph)} synthetic phantoms (medseg.phantom, seeds {r['seed']}.."
                                  f"{r['seed'] + len(ph) - 1})")
        info = json.loads((data / "dataset.json").read_text())
        info["split"] = {"train": [f["id"] for f in info["files"]],
                         "val": [f["id"] for f in info["files"] if f.get("series") in VAL_SERIES]}
        info["notes"].append("the shipped model trains on every study; its validation Dice is in-sample on the "
                             "real series (the out-of-sample figures are the leave-one-series-out table)")
        (data / "dataset.json").write_text(json.dumps(info, indent=2))
    return data


def config(name: str, fold: bool = False):
    from medseg.unet.augment import AugmentConfig
    from medseg.unet.train import TrainConfig

    r = RECIPES[name]
    cfg = TrainConfig(epochs=r["fold_epochs" if fold else "epochs"], batch_size=r["batch_size"], lr=r["lr"],
                      max_batches=r["fold_max_batches" if fold else "max_batches"], seed=r["seed"], device="cpu",
                      name=name, description=r["description"], synthetic=False, gif=False, montage=not fold,
                      neg_fraction=r["neg_fraction"], augment=AugmentConfig(**AUGMENT))
    cfg.loss.dice_epochs = min(r["dice_epochs"], cfg.epochs // 2)
    return cfg


def score(name: str, model, series: str, labels_path: Path) -> dict:
    """The model on one real series at full size against its reviewed labels (dropped slices left out)."""
    import SimpleITK as sitk

    from medseg.io import read_label_image
    from medseg.measure import metrics
    from medseg.pipeline.steps import convert
    from medseg.preprocess import lps_array
    from medseg.unet.dataset import manifest_entry, read_manifest
    from medseg.unet.predict import predict

    loaded = convert(DATA / series / "dicom")
    t0 = time.perf_counter()
    pred = predict(loaded.image, model, loaded.meta, device="cpu")
    seconds = time.perf_counter() - t0
    ref_img, names = read_label_image(labels_path)
    p = lps_array(pred.labels)[0]
    ref = lps_array(ref_img)[0]
    spacing = lps_array(loaded.image)[1]
    drop = sorted(manifest_entry(read_manifest(MANIFEST), series, name).get("drop", {}))
    keep = np.setdiff1d(np.arange(p.shape[0]), drop)
    p, ref = p[keep], ref[keep]
    value = {v: k for k, v in names.items()}
    row = {"series": series, "slices": int(len(keep)), "dropped": len(drop), "seconds": round(seconds, 1),
           "warnings": pred.warnings}
    if pred.anatomy is not None:
        row["anatomy_guard"] = pred.anatomy.to_dict()
    classes = [c["name"] for c in pred.card["classes"][1:]]
    ref_any = np.isin(ref, [value[c] for c in classes if c in value])
    pred_any = p > 0
    row["ref_voxels"], row["pred_voxels"] = int(ref_any.sum()), int(pred_any.sum())
    voxel_ml = float(np.prod(spacing)) / 1000.0
    if not ref_any.any():
        row["false_positive_ml"] = round(row["pred_voxels"] * voxel_ml, 2)
        return row
    per = {}
    for i, c in enumerate(classes, start=1):
        r_c = ref == value[c]
        if r_c.any():
            per[c] = round(metrics.dice(p == i, r_c), 4)
    row["dice_per_class"] = per
    row["dice"] = round(float(np.mean(list(per.values()))), 4)
    hd95 = metrics.hd95(pred_any, ref_any, spacing)
    row["hd95_mm"] = round(hd95, 2) if np.isfinite(hd95) else None  # None: nothing predicted
    row["volume_error_pct"] = round(100.0 * (row["pred_voxels"] - row["ref_voxels"]) / row["ref_voxels"], 2)
    return row


def acceptance(model) -> dict:
    """The lung model's two acceptance figures: ct-abdomen-20 lung voxels, ct-chest-2 sides and counts."""
    import SimpleITK as sitk

    from medseg.pipeline.steps import convert
    from medseg.unet.predict import predict

    out = {}
    loaded = convert(DATA / "ct-abdomen-20" / "dicom")
    pred = predict(loaded.image, model, loaded.meta, device="cpu")
    out["ct-abdomen-20"] = {"lung_voxels": int(np.count_nonzero(sitk.GetArrayViewFromImage(pred.labels))),
                            "bar": "< 100", "guard_fired": bool(pred.anatomy and pred.anatomy.fired)}
    out["ct-abdomen-20"]["passes"] = out["ct-abdomen-20"]["lung_voxels"] < 100
    loaded = convert(DATA / "ct-chest-2" / "dicom")
    lab = sitk.GetArrayFromImage(predict(loaded.image, model, loaded.meta, device="cpu").labels)
    right, left = int(np.count_nonzero(lab == 1)), int(np.count_nonzero(lab == 2))
    dr, dl = 100.0 * (right - CHEST2_RIGHT) / CHEST2_RIGHT, 100.0 * (left - CHEST2_LEFT) / CHEST2_LEFT
    out["ct-chest-2"] = {"right_voxels": right, "left_voxels": left, "reference_right": CHEST2_RIGHT,
                         "reference_left": CHEST2_LEFT, "right_error_pct": round(dr, 2),
                         "left_error_pct": round(dl, 2), "bar": "within 5 % per side",
                         "passes": bool(abs(dr) <= 5.0 and abs(dl) <= 5.0)}
    return out


def status_from(name: str, loso: dict | None, accept: dict | None) -> tuple[str, str]:
    """("validated" | "demo-only", why) from the measured numbers."""
    bar = 0.95 if name == "lungs" else 0.90
    if not loso or not loso.get("rows"):
        return "demo-only", "no leave-one-series-out validation has been run"
    mean = loso["mean_dice"]
    fails = []
    if mean is None or mean < bar:
        fails.append(f"leave-one-series-out mean Dice {mean} < {bar}")
    if loso.get("complete") is False:
        fails.append(f"the leave-one-series-out table is incomplete ({len(loso['rows'])} of {len(SERIES)} folds)")
    for key, a in (accept or {}).items():
        if not a.get("passes"):
            fails.append(f"{key}: {json.dumps({k: v for k, v in a.items() if k != 'passes'})}")
    if fails:
        return "demo-only", "; ".join(fails)
    return "validated", f"leave-one-series-out mean Dice {mean} >= {bar}" + (
        "; ct-abdomen-20 and ct-chest-2 acceptance figures met" if accept else "")


def finish_card(name: str, model_dir: Path, work: Path, extra: dict | None = None) -> dict:
    """Fold the LOSO table, acceptance figures and status into a model folder's card; returns the card."""
    from medseg.unet.card import update_card

    if RECIPES[name].get("postprocess"):  # before the figures: they are measured as the model is used
        update_card(model_dir, postprocess=RECIPES[name]["postprocess"])
    loso_path = work / name / "loso.json"
    loso = json.loads(loso_path.read_text()) if loso_path.is_file() else None
    accept = acceptance(model_dir) if name == "lungs" else None
    status, why = status_from(name, loso, accept)
    card = json.loads((model_dir / "model.json").read_text())
    real = {"acceptance": accept} if accept else {}
    if name == "table-headrest" and loso:
        real["note"] = "the leave-one-series-out table is the real-data figure"
    fields = {"status": status, "status_reason": why, "validation": loso or {}, "real_data": real,
              "known_failures": known_failures(name, loso)}
    fields.update(extra or {})
    if "input_range" in card:
        fields["input_range"] = {**card["input_range"], **real_extent(work),
                                 "hu_window": card["preprocessing"]["window"],
                                 "body_region": RECIPES[name]["body_region"]}
    return update_card(model_dir, **fields)


def real_extent(work: Path) -> dict:
    """Field of view (mm, in-plane) and nominal slice thickness (mm) of the real training series."""
    import pydicom

    fov, thick = [], []
    for s in SERIES:
        info = json.loads((work / "real-ct" / s / "slices.json").read_text())
        _, ny, nx = info["shape_zyx"]
        _, sy, sx = info["spacing_zyx_mm"]
        fov += [ny * sy, nx * sx]
        first = next(p for p in sorted((DATA / s / "dicom").rglob("*")) if p.is_file())
        t = pydicom.dcmread(first, stop_before_pixels=True).get("SliceThickness")
        if t not in (None, ""):
            thick.append(float(t))
    return {"fov_mm": [round(min(fov), 1), round(max(fov), 1)],
            "slice_thickness_mm": [min(thick), max(thick)] if thick else None}


def known_failures(name: str, loso: dict | None) -> list[str]:
    out = []
    for row in (loso or {}).get("rows", []):
        if row.get("dice") is not None and row["dice"] < (0.95 if name == "lungs" else 0.90):
            out.append(f"{row['series']} (held out): Dice {row['dice']}")
        if row.get("false_positive_ml", 0) > 1.0:
            out.append(f"{row['series']} (held out): {row['false_positive_ml']} mL predicted where there is none")
    if name == "lungs":
        out.append("trained on six series: unusual anatomy (pneumothorax, large effusions, collapsed lobes), "
                   "children and lateral decubitus positions were never seen")
    else:
        out.append("labels are what the classical table removal removes: sheets, cushions and clothing on the "
                   "patient count as removed objects, and the model learns them as such")
    return out


def train_default(name: str, work: Path, install: bool = False, threads: int | None = None) -> dict:
    """Real-CT dataset -> training -> card (LOSO table when present, acceptance, status); returns a summary."""
    import torch

    from medseg.unet.card import SHIPPED, update_card
    from medseg.unet.train import train

    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    data = build(name, work)
    t_data = time.perf_counter() - t0
    out = work / name / "model"
    if out.exists():
        shutil.rmtree(out)
    result = train(data, out, config(name))
    t_train = time.perf_counter() - t0 - t_data
    card = json.loads((out / "model.json").read_text())
    info = json.loads((data / "dataset.json").read_text())
    training = {**card["training"], "composition": info["composition"],
                "data_seconds": round(t_data, 1), "train_wall_seconds": round(t_train, 1),
                "command": f"scripts/train_default_models.sh {name}", "threads": torch.get_num_threads()}
    card = finish_card(name, out, work, {"training": training})
    if install:
        dest = SHIPPED / name
        dest.mkdir(parents=True, exist_ok=True)
        for f in ("model.pt", "model.json"):
            shutil.copy2(out / f, dest / f)
    return {"name": name, "seconds": round(time.perf_counter() - t0, 1), "epochs": result["epochs"],
            "metrics": card["metrics"], "status": card.get("status"), "status_reason": card.get("status_reason"),
            "bytes": card["weights"]["bytes"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Retrain the shipped U-Net models on the real CT series.")
    p.add_argument("names", nargs="*", metavar="NAME", help=f"models to retrain (default: all of {', '.join(RECIPES)})")
    p.add_argument("--work", default=str(REPO / "out" / "default-models"), help="labels, datasets, runs")
    p.add_argument("--install", action="store_true", help="copy model.pt + model.json into resources/models")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--build-only", action="store_true", help="only write the training folders")
    p.add_argument("--card-only", metavar="MODELDIR", help="only refresh the card of MODELDIR (LOSO table, status)")
    args = p.parse_args(argv)
    unknown = sorted(set(args.names) - set(RECIPES))
    if unknown:
        p.error(f"unknown model {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    for name in args.names or list(RECIPES):
        if args.build_only:
            print(build(name, Path(args.work)))
            continue
        if args.card_only:
            card = finish_card(name, Path(args.card_only), Path(args.work))
            if args.install:
                from medseg.unet.card import SHIPPED

                for f in ("model.pt", "model.json"):
                    shutil.copy2(Path(args.card_only) / f, SHIPPED / name / f)
            print(json.dumps({k: card.get(k) for k in ("status", "status_reason")}, indent=2))
            continue
        summary = train_default(name, Path(args.work), install=args.install, threads=args.threads)
        print(json.dumps(summary, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
