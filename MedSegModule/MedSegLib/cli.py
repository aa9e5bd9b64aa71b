"""The ``medseg`` command line (DESIGN.md, "The command line": a contract that tests and docs rely on).

Exit codes: 0 ok; 2 a user's mistake (a :class:`MedSegError`, one line, no traceback); 1 a bug;
3 a batch where some studies failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

import SimpleITK as sitk

from . import __version__
from .cli_progress import progress_bar
from .errors import MedSegError
from .labels import AIR_HU

def warn(message: str) -> None:
    print(f"medseg: warning: {message}", file=sys.stderr)


def say(message: str) -> None:
    print(message)


# --- commands ------------------------------------------------------------------------------------

def cmd_info(args: argparse.Namespace) -> int:
    from .io import discover

    with progress_bar("reading headers") as progress:
        found = discover(args.input, progress=progress)
    listing = {"input": str(args.input), "series": [s.summary() for s in found.series],
               "skipped": [{"file": str(p), "reason": r} for p, r in found.skipped]}
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
        for w in s["warnings"]:
            say(f"    warning: {w}")
    for line in found.skipped_summary():
        say(f"  {line}")
    if len(found.series) > 1:
        say("* the series `convert` picks by default (the largest CT); choose another with --series UID")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .pipeline import convert_to_file

    with progress_bar("converting") as progress:
        result = convert_to_file(args.input, args.output, series=args.series, progress=progress,
                                 resample=not args.no_resample)
    for w in result.meta["warnings"]:
        warn(w)
    img = result.image
    unit = "HU" if result.meta.get("is_hu") else "modality-LUT values (not HU)"
    say(f"wrote {args.output}: {'x'.join(map(str, img.GetSize()))} voxels, spacing "
        f"{' x '.join(f'{v:.4g}' for v in img.GetSpacing())} mm, {unit}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .io import read_label_image
    from .io.grid import align_labels
    from .metrics import evaluate, to_json

    ref, ref_names = read_label_image(args.ref)
    pred, pred_names = read_label_image(args.pred)
    pred = align_labels(pred, ref, resample=args.resample_labels, what="prediction")
    names = {**pred_names, **ref_names} or None
    result = evaluate(pred, ref, labels=names)
    if args.json:
        print(to_json(result, indent=2))
        return 0
    say(f"{'label':<16} {'dice':>6} {'iou':>6} {'hd95 mm':>8} {'assd mm':>8} {'vol diff %':>10}")
    for name, m in result.items():
        say(f"{name:<16} {m['dice']:6.3f} {m['iou']:6.3f} {m['hd95']:8.2f} {m['assd']:8.2f} {m['volume_diff_pct']:10.1f}")
        if m.get("note"):
            say(f"    note: {m['note']}")
    return 0


def _label_values(text: str | None) -> list[int] | None:
    from .errors import ParameterError

    if not text:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ParameterError(f"--labels takes comma-separated label values, such as 3,4 (got {text!r})") from None


def cmd_mesh(args: argparse.Namespace) -> int:
    from .errors import ParameterError
    from .io import read_label_image
    from .mesh import label_surfaces
    from .mesh_io import render_html, render_png, write_meshes

    if args.smooth < 0:
        raise ParameterError("--smooth takes a number of iterations >= 0")
    if not 0.0 <= args.decimate < 1.0:
        raise ParameterError("--decimate takes the fraction of faces to remove, in [0, 1)")
    labels, names = read_label_image(args.labels)
    with progress_bar("meshing") as progress:
        surfaces = label_surfaces(labels, names=names or None, smooth_iterations=args.smooth, decimate=args.decimate,
                                  ras=args.ras, values=_label_values(args.label_values), progress=progress)
    if not surfaces:
        raise ParameterError(f"{args.labels}: no segment to mesh (the label image is empty)")
    paths = write_meshes(surfaces, args.output, fmt=args.format, inputs=[args.labels])
    summaries = [s.summary() for s in surfaces]
    if args.png:
        render_png(surfaces, args.png, views=("anterior-oblique", "inferior"), inputs=[args.labels])
    if args.html:
        render_html(surfaces, args.html, inputs=[args.labels])
    if args.json:
        print(json.dumps(summaries, indent=2))
        return 0
    say(f"wrote {len(paths)} surface(s) to {args.output} ({'RAS' if args.ras else 'LPS'} mm)")
    say(f"{'segment':<24} {'area mm2':>10} {'volume ml':>10} {'watertight':>10}")
    for s in summaries:
        say(f"{s['name']:<24} {s['area_mm2']:10.1f} {s['volume_ml']:10.3f} {str(s['watertight']):>10}")
    return 0


def _image_and_labels(args: argparse.Namespace):
    from .io import load
    from .tables import read_named_labels

    with progress_bar("reading") as progress:
        image, meta = load(args.image, progress=progress)
    labels, names = read_named_labels(args.labels)
    for w in meta.get("warnings", []):
        warn(w)
    return image, meta, labels, names


def cmd_radiomics(args: argparse.Namespace) -> int:
    from .io import input_files
    from .radiomics import extract, list_presets, load_params
    from .tables import write_rows

    params = load_params(args.params)
    image, meta, labels, names = _image_and_labels(args)
    selection = [v.strip() for v in args.label_values.split(",") if v.strip()] if args.label_values else None
    with progress_bar("radiomics") as progress:
        rows = extract(image, labels, names=names or None, params=params, label_values=selection,
                       diagnostics=args.diagnostics, jobs=args.jobs, resample_labels=args.resample_labels,
                       progress=progress)
    write_rows(rows, args.output, inputs=[*input_files(args.image, meta), args.labels])
    features = len(rows[0]) - 2 if rows else 0
    say(f"wrote {args.output}: {len(rows)} segment(s) x {features} columns "
        f"({', '.join(str(r['segment']) for r in rows)})")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from .io import input_files
    from .stats import segment_statistics
    from .tables import write_rows

    image, meta, labels, names = _image_and_labels(args)
    rows = segment_statistics(image, labels, names=names or None, resample_labels=args.resample_labels)
    write_rows(rows, args.output, inputs=[*input_files(args.image, meta), args.labels])
    say(f"wrote {args.output}")
    say(f"{'segment':<28} {'voxels':>9} {'ml':>9} {'mean HU':>8} {'std':>7}")
    for r in rows:
        mean = "" if r["mean"] in (None, "") else f"{r['mean']:8.1f}"
        std = "" if r["std"] in (None, "") else f"{r['std']:7.1f}"
        say(f"{str(r['segment']):<28} {r['voxel_count']:>9} {r['volume_ml']:9.2f} {mean:>8} {std:>7}")
    return 0


def cmd_contours(args: argparse.Namespace) -> int:
    from .autolabel.contours import run_contours

    names = [n.strip() for n in args.names.split(",")] if args.names else None
    with progress_bar("contours") as progress:
        _, _, summary = run_contours(args.image, args.contours, args.output, ring=args.ring, names=names,
                                     slice_index=args.slice, progress=progress)
    for w in summary["warnings"]:
        warn(w)
    for note in summary["notes"]:
        say(f"note: {note}")
    say(f"wrote {args.output}: {summary['kind']} matched to slices by {summary['matching']}")
    for lab in summary["labels"]:
        say(f"  {lab['value']:>3}  {lab['name']:<20} {lab['voxels']:>9} voxels")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from .pipeline import clean_to_files

    with progress_bar("clean") as progress:
        result = clean_to_files(args.input, args.output, body_mask=args.body_mask, object_mask=args.object_mask,
                                series=args.series, force=args.force, progress=progress,
                                resample=not args.no_resample)
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
    from .pipeline import lungs_to_file

    with progress_bar("lungs") as progress:
        result = lungs_to_file(args.input, args.output, split=args.split, roi=args.roi, series=args.series,
                               force=args.force, progress=progress, resample=not args.no_resample)
    counts = _label_counts(result.labels)
    names = {1: "lung-right", 2: "lung-left"} if args.split else {1: "lung"}
    say(f"wrote {args.output}: " + ", ".join(f"{names.get(v, v)} {n} voxels" for v, n in counts.items()))
    if args.roi:
        say(f"wrote {args.roi}: tumour search region (lungs + mirror about the spine axis, dilated)")
    return 0


def cmd_autolabel(args: argparse.Namespace) -> int:
    from .labels import AUTO_LABELS
    from .pipeline import autolabel_to_file

    with progress_bar("autolabel") as progress:
        result = autolabel_to_file(args.input, args.output, series=args.series, force=args.force,
                                   progress=progress, resample=not args.no_resample)
    counts = _label_counts(result.labels)
    say(f"wrote {args.output}")
    for lab in AUTO_LABELS:
        say(f"  {lab.value}  {lab.name:<15} {counts.get(lab.value, 0):>10} voxels")
    return 0


def _label_counts(labels) -> dict[int, int]:
    import numpy as np

    values, counts = np.unique(sitk.GetArrayViewFromImage(labels), return_counts=True)
    return {int(v): int(n) for v, n in zip(values, counts) if v != 0}


def cmd_run(args: argparse.Namespace) -> int:
    from .run import run_study

    out = Path(args.output)
    failed = []
    many = len(args.inputs) > 1
    for i, path in enumerate(args.inputs):
        # One folder per study when several are given, named after the input.
        target = out / (Path(path).name or f"study{i + 1}") if many else out
        try:
            with progress_bar(f"run {Path(path).name}") as progress:
                result = run_study(path, target, series=args.series, resample=not args.no_resample,
                                   force=args.force, radiomics_preset=None if args.no_radiomics else args.params,
                                   meshes=not args.no_meshes, dicom_seg=not args.no_dicom_seg, progress=progress)
        except MedSegError as exc:
            if not many:
                raise
            failed.append(path)
            print(f"medseg run: error: {path}: {exc}", file=sys.stderr)
            continue
        for w in result.warnings:
            warn(w)
        total = sum(result.seconds.values())
        say(f"{path}: {len(result.outputs)} outputs in {target} ({total:.1f} s); report: {result.outputs['report']}")
    if failed:
        say(f"{len(failed)} of {len(args.inputs)} studies failed: {', '.join(map(str, failed))}")
        return 3
    return 0


def cmd_unet(args: argparse.Namespace) -> int:
    from .unet import commands

    runners = {"dataset": commands.run_dataset, "train": commands.run_train,
               "predict": commands.run_predict, "export": commands.run_export}
    return int(runners[args.command](args) or 0)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    with progress_bar("demo") as progress:
        lines = run_demo(Path(args.output), seed=args.seed, progress=progress)
    for line in lines:
        say(line)
    return 0


# --- parser ----------------------------------------------------------------------------------------

def add_input_options(p: argparse.ArgumentParser, force: bool = True) -> None:
    """Options every command that loads a study shares; ``force`` for those that need CT in HU."""
    p.add_argument("--series", metavar="UID", help="series to use (default: the largest CT series)")
    p.add_argument("--no-resample", action="store_true",
                   help="keep tilted or unevenly spaced slices as they are (default: resample onto a regular grid)")
    if force:
        p.add_argument("--force", action="store_true", help="run on input that does not look like CT in HU")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medseg", description="CT studies to segmentations (MedSeg).")
    parser.add_argument("--version", action="version", version=f"medseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str, func) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = add("info", "list the series found: UID, modality, slices, size, spacing, warnings", cmd_info)
    p.add_argument("input", help="DICOM folder or file, or a volume file")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("convert", "HU volume (CT), modality-LUT values otherwise", cmd_convert)
    p.add_argument("input", help="DICOM folder or file, or a volume file")
    p.add_argument("-o", "--output", required=True, help="output volume (.nrrd, .nii, .nii.gz, .mha)")
    add_input_options(p, force=False)

    p = add("clean", "remove the table/couch/headrest (set to AIR_HU); body and removed-object masks", cmd_clean)
    p.add_argument("input", help="DICOM folder/file or a CT volume in HU")
    p.add_argument("-o", "--output", required=True, help="cleaned volume (.nrrd, .nii.gz, .mha)")
    p.add_argument("--body-mask", metavar="M", help="also write the body mask (0/1; .seg.nrrd gets a named segment)")
    p.add_argument("--object-mask", metavar="T", help="also write the removed-object mask (table, couch, headrest)")
    add_input_options(p)

    p = add("lungs", "anatomical lung mask (1 = lung; with --split 1 = right, 2 = left)", cmd_lungs)
    p.add_argument("input", help="DICOM folder/file or a CT volume in HU")
    p.add_argument("-o", "--output", required=True, help="LABELS (.seg.nrrd, .nrrd, .nii.gz, .mha)")
    p.add_argument("--split", action="store_true", help="1 = right, 2 = left (lungmask's convention)")
    p.add_argument("--roi", metavar="ROI", help="also write the mirrored+dilated tumour search region")
    add_input_options(p)

    p = add("autolabel", "the auto-label table: body, table-headrest, lungs, airway, bone", cmd_autolabel)
    p.add_argument("input", help="DICOM folder/file or a CT volume in HU")
    p.add_argument("-o", "--output", required=True, help="LABELS.seg.nrrd (named, coloured) or LABELS.nrrd")
    add_input_options(p)

    p = add("contours", "point-list files or RTSTRUCT to masks on the image grid", cmd_contours)
    p.add_argument("image", help="the DICOM folder/file or volume the contours were drawn on")
    p.add_argument("contours", help="folder of point-list files (<prefix>-<number>-<name>[-manual].txt, "
                   "number = InstanceNumber), one such file, or an RTSTRUCT .dcm")
    p.add_argument("-o", "--output", required=True, help="LABELS: .seg.nrrd (names, colours), .nrrd, .nii.gz, .mha")
    p.add_argument("--ring", action="store_true",
                   help="inner + outer contour -> 1 = blood_pool, 2 = myocardium (outer minus inner)")
    p.add_argument("--names", metavar="A,B", help="comma-separated label names in value order")
    p.add_argument("--slice", type=int, metavar="Z", help="0-based slice index for a single point-list file")

    p = add("evaluate", "Dice, IoU, HD95, ASSD and volume difference per label", cmd_evaluate)
    p.add_argument("pred", help="predicted label image (.nrrd, .seg.nrrd, .nii.gz, .mha)")
    p.add_argument("ref", help="reference label image")
    p.add_argument("--json", action="store_true", help="machine-readable output (NaN as null)")
    p.add_argument("--resample-labels", action="store_true", help="resample PRED onto REF's grid when they differ")

    from .unet import commands as unet_commands  # argument definitions only; torch loads on use

    unet_commands.configure_dataset(add("dataset", "U-Net training set from studies + labels (or auto-labels)", cmd_unet))
    unet_commands.configure_train(add("train", "U-Net training (same code as scripts/train_unet.py)", cmd_unet))
    unet_commands.configure_predict(add("predict", "U-Net inference (labels on the input grid)", cmd_unet))
    unet_commands.configure_export(add("export", "export a model to TorchScript (.pt) / ONNX (.onnx)", cmd_unet))

    p = add("radiomics", "pyradiomics features, one wide row per segment", cmd_radiomics)
    p.add_argument("image", help="DICOM folder/file or volume (HU)")
    p.add_argument("labels", help="label image (.seg.nrrd, or a volume with an optional <name>.json of names)")
    p.add_argument("-o", "--output", required=True, help="OUT.csv or OUT.json")
    p.add_argument("--params", metavar="P.yaml", default=None,
                   help="pyradiomics parameter file, or a preset: ct-default (default), ct-wavelet-log, ct-baseline")
    p.add_argument("--labels", dest="label_values", metavar="1,2",
                   help="label values or names to run (default: all but body and table-headrest)")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="worker processes (0 = one per CPU)")
    p.add_argument("--diagnostics", action="store_true", help="add pyradiomics' diagnostics_* columns")
    p.add_argument("--resample-labels", action="store_true", help="resample LABELS onto IMAGE's grid when they differ")

    p = add("stats", "volume and HU statistics per segment (like Slicer's Segment Statistics)", cmd_stats)
    p.add_argument("image", help="DICOM folder/file or volume (HU)")
    p.add_argument("labels", help="label image")
    p.add_argument("-o", "--output", required=True, help="OUT.csv or OUT.json")
    p.add_argument("--resample-labels", action="store_true", help="resample LABELS onto IMAGE's grid when they differ")

    p = add("mesh", "one surface per segment (marching cubes), with area and enclosed volume", cmd_mesh)
    p.add_argument("labels", help="label image (.seg.nrrd, .nrrd, .nii.gz, .mha)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--format", choices=("stl", "obj", "vtp", "ply"), default="stl")
    p.add_argument("--smooth", type=int, default=0, metavar="N", help="Taubin smoothing iterations (default 0)")
    p.add_argument("--decimate", type=float, default=0.0, metavar="F", help="fraction of faces to remove, 0..1")
    p.add_argument("--ras", action="store_true", help="RAS coordinates, as Slicer exports (default LPS)")
    p.add_argument("--labels", dest="label_values", metavar="1,2", help="only these label values")
    p.add_argument("--png", metavar="FILE", help="also render a static PNG (matplotlib)")
    p.add_argument("--html", metavar="FILE", help="also write an interactive HTML (needs plotly)")
    p.add_argument("--json", action="store_true", help="print the per-segment summary as JSON")

    p = add("run", "the whole pipeline (convert, auto-label, statistics, radiomics, meshes, DICOM SEG) "
                   "with report.html", cmd_run)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="one or more studies (several: one sub-folder each; "
                   "exit 3 when some fail)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--params", default="ct-default", metavar="P.yaml", help="radiomics preset or parameter file")
    p.add_argument("--no-radiomics", action="store_true", help="skip radiomics")
    p.add_argument("--no-meshes", action="store_true", help="skip surface meshes")
    p.add_argument("--no-dicom-seg", action="store_true", help="skip the DICOM SEG output")
    add_input_options(p)

    p = add("demo", "make a phantom study and run the pipeline on it", cmd_demo)
    p.add_argument("-o", "--output", default="out/demo", help="output folder (default: out/demo)")
    p.add_argument("--seed", type=int, default=0, help="phantom seed (default: 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``medseg`` script; returns the exit code."""
    from .io import clear_protected

    args = build_parser().parse_args(argv)
    clear_protected()
    try:
        return int(args.func(args) or 0)
    except MedSegError as exc:
        print(f"medseg {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader went away (`medseg ... | head`): not an error, and nothing more to say.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"medseg {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception:  # a bug: show everything, then say so
        traceback.print_exc()
        print(f"medseg {args.command}: internal error (a bug); please report it with the traceback above",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
