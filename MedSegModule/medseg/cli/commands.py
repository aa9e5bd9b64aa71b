"""The ``medseg`` commands: each parses nothing and computes nothing itself.

A command takes the parsed options, calls its job in :mod:`medseg.pipeline.files` (or the
study run, or the demo) under a progress bar, and prints what was written. Errors are
:class:`~medseg.errors.MedSegError`s, which :func:`medseg.cli.main.main` turns into exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import MedSegError, ParameterError
from ..labels import AIR_HU
from .progress import progress_bar


def warn(message: str) -> None:
    print(f"medseg: warning: {message}", file=sys.stderr)


def say(message: str) -> None:
    print(message)


def _label_counts(labels: sitk.Image) -> dict[int, int]:
    values, counts = np.unique(sitk.GetArrayViewFromImage(labels), return_counts=True)
    return {int(v): int(n) for v, n in zip(values, counts) if v != 0}


def _label_values(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ParameterError(f"--labels takes comma-separated label values, such as 3,4 (got {text!r})") from None


def _rescale(args: argparse.Namespace) -> dict:
    """The rescale override options, as the loader's keyword arguments."""
    return {"rescale_slope": getattr(args, "rescale_slope", None),
            "rescale_intercept": getattr(args, "rescale_intercept", None)}


def _num(value, digits: int) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


# --- input ---------------------------------------------------------------------------------------

def _say_hu_check(check: dict | None) -> None:
    if check:
        what = {"hu": "values look like HU", "offset": "values cannot be HU; convert corrects them by -1024",
                "unclear": "values do not look like HU; not corrected"}[check["verdict"]]
        p = check["percentiles"]
        spread = f"; percentiles 1/50/99: {p['p1']:g}/{p['p50']:g}/{p['p99']:g}" if p else ""
        say(f"    HU check: {what} ({check['evidence']}{spread})")


def cmd_info(args: argparse.Namespace) -> int:
    from ..io import discover, is_volume_file
    from ..io.loader import series_hu_check, volume_summary

    if Path(args.input).is_file() and is_volume_file(args.input):
        summary = volume_summary(args.input)
        if args.json:
            print(json.dumps({"input": str(args.input), "volume": summary}, indent=2))
            return 0
        say(f"{args.input}: volume file, {'x'.join(map(str, summary['size']))} voxels, spacing "
            f"{' x '.join(f'{v:.4g}' for v in summary['spacing'])} mm, {summary['pixel_type']}")
        _say_hu_check(summary["hu_check"])
        for w in summary["warnings"]:
            say(f"    warning: {w}")
        return 0
    with progress_bar("reading headers") as progress:
        found = discover(args.input, progress=progress)
    listing = {"input": str(args.input), "series": [s.summary() for s in found.series],
               "skipped": [{"file": str(p), "reason": r} for p, r in found.skipped],
               "damaged": [{"file": str(d.path), "reason": d.reason, "series_uid": d.series_uid}
                           for d in found.damaged]}
    for s, summary in zip(found.series, listing["series"]):
        summary["hu_check"] = series_hu_check(s)
    if len(found.series) > 1:
        listing["chosen"] = found.series[0].uid
    if args.json:
        print(json.dumps(listing, indent=2))
        return 0
    say(f"{args.input}: {len(found.series)} series")
    for i, s in enumerate(listing["series"]):
        mark = "*" if i == 0 and len(found.series) > 1 else " "
        size = "x".join(str(n) for n in s["size"])
        spacing = " x ".join(f"{v:.4g}" for v in s["spacing"])
        say(f"{mark} {s['series_uid']}  {s['modality']:<4} {s['slices']:>4} slices  {size}  spacing {spacing} mm"
            + (f"  '{s['description']}'" if s["description"] else ""))
        if s.get("resampled_size"):
            say(f"    convert resamples it to {'x'.join(map(str, s['resampled_size']))}, spacing "
                f"{' x '.join(f'{v:.4g}' for v in s['resampled_spacing'])} mm (--no-resample keeps the slices)")
        _say_hu_check(s.get("hu_check"))
        for w in s["warnings"]:
            say(f"    warning: {w}")
    for line in found.skipped_summary():
        say(f"  {line}")
    for d in found.damaged:
        say(f"  damaged: {d} (loading its series fails unless --skip-damaged)")
    if len(found.series) > 1:
        say("* the series `convert` picks by default (the largest CT); choose another with --series UID")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from ..pipeline.files import convert_to_file

    with progress_bar("converting") as progress:
        result = convert_to_file(args.input, args.output, series=args.series, resample=not args.no_resample,
                                 skip_damaged=args.skip_damaged, progress=progress, **_rescale(args))
    for w in result.meta["warnings"]:
        warn(w)
    img = result.image
    unit = "HU" if result.meta.get("is_hu") else "modality-LUT values (not HU)"
    say(f"wrote {args.output}: {'x'.join(map(str, img.GetSize()))} voxels, spacing "
        f"{' x '.join(f'{v:.4g}' for v in img.GetSpacing())} mm, {unit}")
    return 0


def cmd_contours(args: argparse.Namespace) -> int:
    from ..pipeline.files import contours_to_file

    names = [n.strip() for n in args.names.split(",")] if args.names else None
    with progress_bar("contours") as progress:
        _, _, summary = contours_to_file(args.image, args.contours, args.output, ring=args.ring, names=names,
                                         slice_index=args.slice, progress=progress)
    for w in summary["warnings"]:
        warn(w)
    for note in summary["notes"]:
        say(f"note: {note}")
    say(f"wrote {args.output}: {summary['kind']} matched to slices by {summary['matching']}")
    for lab in summary["labels"]:
        say(f"  {lab['value']:>3}  {lab['name']:<20} {lab['voxels']:>9} voxels")
    return 0


# --- classical segmentation ------------------------------------------------------------------------

def cmd_clean(args: argparse.Namespace) -> int:
    from ..pipeline.files import clean_to_files

    with progress_bar("clean") as progress:
        result = clean_to_files(args.input, args.output, body_mask=args.body_mask, object_mask=args.object_mask,
                                series=args.series, force=args.force, resample=not args.no_resample,
                                skip_damaged=args.skip_damaged, progress=progress, **_rescale(args))
    for w in result.stats.get("warnings", []):
        warn(w)
    body = int(sitk.GetArrayViewFromImage(result.body_mask).sum())
    objects = int(sitk.GetArrayViewFromImage(result.object_mask).sum())
    say(f"wrote {args.output}: body {body} voxels kept, {objects} object voxels (table/couch/headrest) "
        f"set to {AIR_HU} HU; air/tissue threshold {result.stats.get('air_threshold_hu')} HU")
    for path in (args.body_mask, args.object_mask):
        if path:
            say(f"wrote {path}")
    return 0


def cmd_lungs(args: argparse.Namespace) -> int:
    from ..labels import LUNG, SPLIT_LUNG_LEFT, SPLIT_LUNG_RIGHT, name_map
    from ..pipeline.files import lungs_to_file

    with progress_bar("lungs") as progress:
        result = lungs_to_file(args.input, args.output, split=args.split, roi=args.roi, series=args.series,
                               force=args.force, resample=not args.no_resample, progress=progress,
                               skip_damaged=args.skip_damaged, **_rescale(args))
    for w in result.stats.get("warnings", []):
        warn(w)
    names = name_map([SPLIT_LUNG_RIGHT, SPLIT_LUNG_LEFT] if args.split else [LUNG])
    counts = _label_counts(result.labels)
    say(f"wrote {args.output}: " + ", ".join(f"{names.get(v, v)} {n} voxels" for v, n in counts.items()))
    if args.roi:
        say(f"wrote {args.roi}: tumour search region (lungs + mirror about the spine axis, dilated)")
    return 0


def cmd_autolabel(args: argparse.Namespace) -> int:
    from ..pipeline.files import autolabel_to_file

    with progress_bar("autolabel") as progress:
        result = autolabel_to_file(args.input, args.output, series=args.series, force=args.force,
                                   resample=not args.no_resample, skip_damaged=args.skip_damaged, progress=progress, **_rescale(args))
    for w in result.stats.get("warnings", []):
        warn(w)
    counts = _label_counts(result.labels)
    say(f"wrote {args.output}")
    for lab in result.segments:
        say(f"  {lab.value}  {lab.name:<15} {counts.get(lab.value, 0):>10} voxels")
    return 0


def cmd_grow(args: argparse.Namespace) -> int:
    from ..autolabel.grow import parse_range
    from ..pipeline.files import grow_to_file

    hu_range = parse_range(args.hu_range)
    with progress_bar("grow") as progress:
        result = grow_to_file(args.image, args.seeds, args.output, hu_range=hu_range, smooth=args.smooth,
                              kernel_mm=args.kernel, locality=args.locality, whole_image=args.whole_image,
                              series=args.series, resample=not args.no_resample,
                              resample_labels=args.resample_labels, progress=progress)
    voxel_ml = float(np.prod(result.labels.GetSpacing())) / 1000.0
    region = "x".join(str(b - a) for a, b in result.stats["region_zyx"][::-1])
    say(f"wrote {args.output}: grown in a {region} region in {sum(result.stats['seconds'].values()):.1f} s "
        f"(smooth {result.stats['smooth']})")
    for lab in result.segments:
        n = result.stats["voxels"].get(lab.value, 0)
        say(f"  {lab.value:>3}  {lab.name:<24} {n:>10} voxels  {n * voxel_ml:9.2f} ml")
    return 0


# --- measures --------------------------------------------------------------------------------------

def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..measure.metrics import to_json
    from ..pipeline.files import evaluate_files

    result, pairing = evaluate_files(args.pred, args.ref, resample_labels=args.resample_labels, mapping=args.map,
                                     merge=args.merge)
    notes = list(pairing.notes)
    if pairing.unmatched_pred:
        notes.append(f"only in the prediction, not compared: {', '.join(pairing.unmatched_pred)}")
    if pairing.unmatched_ref:
        notes.append(f"only in the reference, not compared: {', '.join(pairing.unmatched_ref)}")
    if args.json:
        print(to_json({"matched_by": pairing.matched_by, "notes": notes, "labels": result}, indent=2))
        return 0
    compared = ", ".join(p.name for p in pairing.pairs)
    say(f"compared by {pairing.matched_by}: {compared}")
    for note in notes:
        warn(note) if note.startswith("only in") else say(f"note: {note}")
    say(f"{'label':<24} {'dice':>6} {'iou':>6} {'hd95 mm':>8} {'assd mm':>8} {'vol diff %':>10}")
    for name, m in result.items():
        say(f"{name:<24} {_num(m['dice'], 3):>6} {_num(m['iou'], 3):>6} {_num(m['hd95'], 2):>8} "
            f"{_num(m['assd'], 2):>8} {_num(m['volume_diff_pct'], 1):>10}")
        if m.get("note"):
            say(f"    note: {m['note']}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from ..pipeline.files import stats_to_file

    with progress_bar("statistics") as progress:
        rows, loaded = stats_to_file(args.image, args.labels, args.output, series=args.series,
                                     resample=not args.no_resample, skip_damaged=args.skip_damaged,
                                     resample_labels=args.resample_labels, progress=progress, **_rescale(args))
    for w in loaded.meta.get("warnings", []):
        warn(w)
    say(f"wrote {args.output}")
    say(f"{'segment':<28} {'voxels':>9} {'ml':>9} {'mean HU':>8} {'std':>7}")
    for r in rows:
        mean = "" if r["mean"] in (None, "") else f"{r['mean']:8.1f}"
        std = "" if r["std"] in (None, "") else f"{r['std']:7.1f}"
        say(f"{str(r['segment']):<28} {r['voxel_count']:>9} {r['volume_ml']:9.2f} {mean:>8} {std:>7}")
    return 0


def cmd_radiomics(args: argparse.Namespace) -> int:
    from ..pipeline.files import radiomics_to_file

    selection = [v.strip() for v in args.label_values.split(",") if v.strip()] if args.label_values else None
    with progress_bar("radiomics") as progress:
        rows, loaded = radiomics_to_file(args.image, args.labels, args.output, params=args.params,
                                         label_values=selection, diagnostics=args.diagnostics, jobs=args.jobs,
                                         series=args.series, resample=not args.no_resample,
                                         skip_damaged=args.skip_damaged, resample_labels=args.resample_labels,
                                         progress=progress, **_rescale(args))
    for w in loaded.meta.get("warnings", []):
        warn(w)
    features = len(rows[0]) - 2 if rows else 0
    say(f"wrote {args.output}: {len(rows)} segment(s) x {features} columns "
        f"({', '.join(str(r['segment']) for r in rows)})")
    return 0


def cmd_mesh(args: argparse.Namespace) -> int:
    from ..pipeline.files import mesh_to_files

    if args.smooth < 0:
        raise ParameterError("--smooth takes a number of iterations >= 0")
    if not 0.0 <= args.decimate < 1.0:
        raise ParameterError("--decimate takes the fraction of faces to remove, in [0, 1)")
    with progress_bar("meshing") as progress:
        surfaces, paths = mesh_to_files(args.labels, args.output, fmt=args.format, smooth=args.smooth,
                                        decimate=args.decimate, ras=args.ras, values=_label_values(args.label_values),
                                        png=args.png, html=args.html, progress=progress)
    summaries = [s.summary() for s in surfaces]
    if args.json:
        print(json.dumps(summaries, indent=2))
        return 0
    say(f"wrote {len(paths)} surface(s) to {args.output} ({'RAS' if args.ras else 'LPS'} mm)")
    say(f"{'segment':<24} {'area mm2':>10} {'volume ml':>10} {'watertight':>10}")
    for s in summaries:
        say(f"{s['name']:<24} {s['area_mm2']:10.1f} {s['volume_ml']:10.3f} {str(s['watertight']):>10}")
    return 0


# --- whole jobs ------------------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace) -> int:
    import contextlib

    from ..pipeline.batch import run_batch

    labels = [n.strip() for n in args.radiomics_labels.split(",") if n.strip()] if args.radiomics_labels else None
    if args.radiomics and Path(args.radiomics).is_dir():
        raise ParameterError(f"--radiomics {args.radiomics}: a folder, not a preset or a parameter file (it took "
                             "the input after it); put --radiomics after the inputs or write --radiomics=PRESET")
    if labels and not args.radiomics:
        raise ParameterError("--radiomics-labels chooses the segments of --radiomics; add --radiomics [PRESET]")
    options = {"series": args.series, "resample": not args.no_resample, "force": args.force,
               "skip_damaged": args.skip_damaged, "radiomics_preset": args.radiomics, "radiomics_labels": labels,
               "jobs": args.jobs, "models": list(args.models), "device": args.device,
               "meshes": not args.no_meshes, "dicom_seg": not args.no_dicom_seg}
    quiet = args.quiet

    def progress_for(name: str):
        return contextlib.nullcontext(None) if quiet else progress_bar(f"run {name}")

    def on_study(o) -> None:
        if o.status == "failed":
            where = "" if o.input in o.error else f"{o.input}: "
            print(f"medseg run: error: {where}{o.error}", file=sys.stderr)
        elif quiet:
            return
        elif o.status == "skipped":
            say(f"{o.input}: complete in {o.folder} (skipped; --overwrite redoes it)")
        else:
            for w in o.warnings:
                warn(f"{o.name}: {w}")
            say(f"{o.input}: {len(o.outputs)} outputs in {o.folder} ({o.seconds:.1f} s); "
                f"report: {o.outputs.get('report')}")

    outcomes = run_batch(args.inputs, args.output, options, overwrite=args.overwrite, progress_for=progress_for,
                         say=(lambda line: None) if quiet else say, on_study=on_study)
    failed = [o for o in outcomes if o.status == "failed"]
    if not quiet:
        counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "skipped", "failed")}
        say(f"{len(outcomes)} stud{'y' if len(outcomes) == 1 else 'ies'}: {counts['done']} done, "
            f"{counts['skipped']} skipped, {counts['failed']} failed; summary: {Path(args.output) / 'batch.csv'}")
    if failed and len(outcomes) == 1:
        return 2  # one study: its error, said above, is the command's
    if failed:
        print(f"medseg run: {len(failed)} of {len(outcomes)} studies failed: {', '.join(o.name for o in failed)}",
              file=sys.stderr)
        return 3
    return 0


def _model_row(name: str, folder: Path, source: str) -> dict:
    """One model of the listing, from its card alone (no weights read, no torch)."""
    from ..unet.card import CARD, KINDS, WEIGHTS

    row = {"name": name, "kind": "unknown", "status": "", "source": source, "classes": [], "folder": str(folder)}
    try:
        card = json.loads((folder / CARD).read_text(encoding="utf-8"))
        if not isinstance(card, dict):
            raise ValueError("not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        row["status"] = f"unreadable card ({exc.__class__.__name__})"
        return row
    fmt = card.get("format")
    row["kind"] = KINDS.get(fmt, f"unknown format {fmt!r}")
    row["classes"] = [str(c.get("name")) for c in card.get("classes", []) if isinstance(c, dict) and c.get("value")]
    weights = folder / str((card.get("weights") or {}).get("file", WEIGHTS))
    row["status"] = str(card.get("status", "ok")) if weights.is_file() else "no weights file"
    return row


def cmd_models(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..unet.card import SHIPPED, installed_models

    if args.folder and not Path(args.folder).is_dir():
        raise InputError(f"{args.folder}: no such folder")
    rows = [_model_row(name, entry.folder, "shipped" if entry.folder.parent == SHIPPED else "installed")
            for name, entry in installed_models(args.folder).items()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    say(f"{'name':<20} {'kind':<11} {'status':<12} {'source':<10} classes")
    for r in rows:
        say(f"{r['name']:<20} {r['kind']:<11} {r['status']:<12} {r['source']:<10} {', '.join(r['classes'])}")
        if r["source"] != "shipped":
            say(f"    {r['folder']}")
    return 0


def cmd_unet(args: argparse.Namespace) -> int:
    from . import unet

    runners = {"dataset": unet.run_dataset, "train": unet.run_train, "predict": unet.run_predict,
               "export": unet.run_export}
    return int(runners[args.command](args) or 0)


def cmd_demo(args: argparse.Namespace) -> int:
    from ..pipeline.demo import run_demo

    with progress_bar("demo") as progress:
        lines = run_demo(Path(args.output), seed=args.seed, progress=progress)
    for line in lines:
        say(line)
    return 0
