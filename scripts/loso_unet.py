"""Leave-one-series-out validation of a shipped U-Net recipe on the six real CT series.

    python scripts/loso_unet.py lungs [--work out/default-models] [--series S ...]

For each real series: a fold training folder that shares the full training folder's cached slices
(``train_default_models.build``) with that series left out of training (phantoms stay in; two of them pick the best epoch), a
short training run (the recipe's ``fold_epochs`` x ``fold_max_batches``, shorter than the
shipped model's, said in the table), then the fold model on the held-out series at full size
against its reviewed labels: Dice per class, HD95 (mm) and lung/table volume error, or the
false-positive volume on series without the structure. Rows go to ``<work>/<name>/loso.json``
as they finish, so an interrupted run keeps its folds; a rerun skips finished ones, and runs on
disjoint ``--series`` (in parallel) fill one table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import train_default_models as tdm  # noqa: E402


def fold_folder(data: Path, series: str, out: Path) -> Path:
    info = json.loads((data / "dataset.json").read_text())
    held = [f["id"] for f in info["files"] if f.get("series") == series]
    if not held:
        raise SystemExit(f"{series} is not in {data}")
    # The best epoch is picked on two phantom studies, never on the held-out series (no peeking).
    phantoms = [f["id"] for f in info["files"] if f.get("source") == "phantom"][:2]
    info["split"] = {"train": [f["id"] for f in info["files"] if f["id"] not in held], "val": phantoms}
    info["notes"] = [f"leave-one-series-out fold: {series} held out"]
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "cache").exists():
        os.symlink((data / "cache").resolve(), out / "cache")
    (out / "dataset.json").write_text(json.dumps(info, indent=2))
    return out


def _rows(path: Path) -> dict:
    return {r["series"]: r for r in (json.loads(path.read_text())["rows"] if path.is_file() else [])}


def summarise(name: str, rows: list[dict]) -> dict:
    scored = [r["dice"] for r in rows if r.get("dice") is not None]
    r = tdm.RECIPES[name]
    return {
        "method": "leave-one-series-out over the six real series (phantoms always in training); each fold "
                  f"trains {r['fold_epochs']} epochs x {r['fold_max_batches']} batches of {r['batch_size']}, "
                  + ("the shipped model's recipe" if (r["fold_epochs"], r["fold_max_batches"]) == (r["epochs"], r["max_batches"])
                     else f"shorter than the shipped model's {r['epochs']} x {r['max_batches']}")
                  + "; scored at full size against the reviewed labels (the card's post-processing), dropped "
                    "slices left out",
        "rows": rows, "mean_dice": round(sum(scored) / len(scored), 4) if scored else None,
        "mean_over": [row["series"] for row in rows if row.get("dice") is not None],
        "complete": len(rows) == len(tdm.SERIES),
        "fold_minutes": [round(row["train_seconds"] / 60.0, 1) for row in rows],
    }


def run(name: str, work: Path, series: list[str], threads: int | None) -> dict:
    import torch

    from medseg.unet.card import update_card
    from medseg.unet.train import train

    if threads:
        torch.set_num_threads(threads)
    data = tdm.build(name, work)
    labels = tdm.real_labels(work)
    path = work / name / "loso.json"
    done = _rows(path)
    for s in series:
        if s in done:
            continue
        fold = work / name / "loso" / s
        model = fold / "model"
        if model.exists():
            shutil.rmtree(model)
        t0 = time.perf_counter()
        result = train(fold_folder(data, s, fold / "data"), model, tdm.config(name, fold=True))
        if tdm.RECIPES[name].get("postprocess"):  # scored as the shipped model is used
            update_card(model, postprocess=tdm.RECIPES[name]["postprocess"])
        row = {"series": s, "train_seconds": round(time.perf_counter() - t0, 1), "epochs": result["epochs"],
               **tdm.score(name, model, s, labels[s])}
        row.pop("warnings", None)
        done[s] = row
        done.update({**_rows(path), s: row})  # folds of another run on other series land in the same table
        rows = [done[x] for x in tdm.SERIES if x in done]
        path.write_text(json.dumps(summarise(name, rows), indent=2))
        print(json.dumps(row), flush=True)
    done.update({k: v for k, v in _rows(path).items() if k not in done})
    rows = [done[x] for x in tdm.SERIES if x in done]
    table = summarise(name, rows)
    path.write_text(json.dumps(table, indent=2))
    return table


def rescore(name: str, work: Path, series: list[str], threads: int | None = None) -> dict:
    """Score existing fold models again (after a change of the recipe's post-processing)."""
    from medseg.unet.card import update_card

    path = work / name / "loso.json"
    done = _rows(path)
    labels = tdm.real_labels(work)
    for s in series:
        model = work / name / "loso" / s / "model"
        if s not in done or not (model / "model.json").is_file():
            continue
        if tdm.RECIPES[name].get("postprocess"):
            update_card(model, postprocess=tdm.RECIPES[name]["postprocess"])
        keep = {k: done[s][k] for k in ("series", "train_seconds", "epochs")}
        row = {**keep, **tdm.score(name, model, s, labels[s])}
        row.pop("warnings", None)
        done[s] = row
        print(json.dumps(row), flush=True)
    table = summarise(name, [done[x] for x in tdm.SERIES if x in done])
    path.write_text(json.dumps(table, indent=2))
    return table


def markdown(table: dict) -> str:
    """The table as Markdown (README and notes)."""
    lines = ["| held-out series | slices | Dice | per class | HD95 mm | volume error | false positive |",
             "|---|---|---|---|---|---|---|"]
    for r in table["rows"]:
        per = ", ".join(f"{k} {v:.3f}" for k, v in (r.get("dice_per_class") or {}).items())
        dice = f"{r['dice']:.3f}" if r.get("dice") is not None else "–"
        hd = f"{r['hd95_mm']:.1f}" if r.get("hd95_mm") is not None else "–"
        vol = f"{r['volume_error_pct']:+.1f} %" if r.get("volume_error_pct") is not None else "–"
        fp = f"{r['false_positive_ml']:.2f} mL" if "false_positive_ml" in r else "–"
        lines.append(f"| {r['series']} | {r['slices']} | {dice} | {per or '–'} | {hd} | {vol} | {fp} |")
    mean = table.get("mean_dice")
    lines.append(f"| **mean** (over {', '.join(table.get('mean_over', []))}) | | "
                 f"**{mean:.3f}** | | | | |" if mean is not None else "| mean | | – | | | | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name", choices=sorted(tdm.RECIPES))
    p.add_argument("--work", default=str(REPO / "out" / "default-models"))
    p.add_argument("--series", nargs="*", default=list(tdm.SERIES))
    p.add_argument("--threads", type=int)
    p.add_argument("--fold-epochs", type=int, help="epochs per fold (default: the recipe's fold_epochs)")
    p.add_argument("--fold-max-batches", type=int, help="batches per epoch (default: the recipe's)")
    p.add_argument("--markdown", action="store_true", help="print the finished table as Markdown and stop")
    p.add_argument("--rescore", action="store_true",
                   help="score the trained fold models again with the recipe's post-processing (no training)")
    args = p.parse_args(argv)
    if args.fold_epochs:
        tdm.RECIPES[args.name]["fold_epochs"] = args.fold_epochs
    if args.fold_max_batches:
        tdm.RECIPES[args.name]["fold_max_batches"] = args.fold_max_batches
    if args.markdown:
        print(markdown(json.loads((Path(args.work) / args.name / "loso.json").read_text())))
        return 0
    table = (rescore if args.rescore else run)(args.name, Path(args.work), args.series, args.threads)
    print(markdown(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
