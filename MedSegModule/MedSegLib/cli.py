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

from . import __version__
from .cli_progress import progress_bar
from .errors import MedSegError, NotBuiltError

#: Commands that later issues build: name -> (issue, what it does).
PLANNED = {
    "clean": (4, "table/couch/headrest removal and body mask"),
    "lungs": (4, "anatomical lung mask"),
    "autolabel": (4, "the auto-label table"),
    "contours": (4, "point-list / RTSTRUCT contours to masks"),
    "dataset": (5, "U-Net training sets"),
    "train": (5, "U-Net training"),
    "predict": (5, "U-Net inference"),
    "export": (5, "TorchScript / ONNX export"),
    "run": (6, "the whole pipeline with report.html"),
}


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


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    with progress_bar("demo") as progress:
        lines = run_demo(Path(args.output), seed=args.seed, progress=progress)
    for line in lines:
        say(line)
    return 0


def cmd_planned(args: argparse.Namespace) -> int:
    issue, what = PLANNED[args.command]
    raise NotBuiltError(f"`medseg {args.command}` ({what}) is not built yet; issue #{issue} builds it")


# --- parser ----------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medseg", description="CT studies to segmentations (MedSeg).")
    parser.add_argument("--version", action="version", version=f"medseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str, func=cmd_planned) -> argparse.ArgumentParser:
        if func is cmd_planned:
            help_text += f" [not built yet: issue #{PLANNED[name][0]}]"
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = add("info", "list the series found: UID, modality, slices, size, spacing, warnings", cmd_info)
    p.add_argument("input", help="DICOM folder or file, or a volume file")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("convert", "HU volume (CT), modality-LUT values otherwise", cmd_convert)
    p.add_argument("input", help="DICOM folder or file, or a volume file")
    p.add_argument("-o", "--output", required=True, help="output volume (.nrrd, .nii, .nii.gz, .mha)")
    p.add_argument("--series", metavar="UID", help="series to convert (default: the largest CT series)")
    p.add_argument("--no-resample", action="store_true",
                   help="keep tilted or unevenly spaced slices as they are (default: resample onto a regular grid)")

    p = add("clean", "remove the table/couch/headrest (set to AIR_HU); body and removed-object masks")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--body-mask", metavar="M")
    p.add_argument("--object-mask", metavar="T")
    p.add_argument("--force", action="store_true", help="run on non-CT input")

    p = add("lungs", "anatomical lung mask")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--split", action="store_true", help="1 = right, 2 = left")
    p.add_argument("--roi", metavar="ROI", help="also write the mirrored+dilated tumour search region")
    p.add_argument("--force", action="store_true", help="run on non-CT input")

    p = add("autolabel", "the auto-label table: body, table-headrest, lungs, airway, bone")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True, help="LABELS.seg.nrrd or LABELS.nrrd")

    p = add("contours", "point-list files or RTSTRUCT to masks on the image grid")
    p.add_argument("image")
    p.add_argument("contours")
    p.add_argument("-o", "--output", required=True)

    p = add("evaluate", "Dice, IoU, HD95, ASSD and volume difference per label", cmd_evaluate)
    p.add_argument("pred", help="predicted label image (.nrrd, .seg.nrrd, .nii.gz, .mha)")
    p.add_argument("ref", help="reference label image")
    p.add_argument("--json", action="store_true", help="machine-readable output (NaN as null)")
    p.add_argument("--resample-labels", action="store_true", help="resample PRED onto REF's grid when they differ")

    p = add("dataset", "training set from studies + labels (or auto-labels)")
    p.add_argument("inputs", nargs="+")
    p.add_argument("-o", "--output", required=True)

    p = add("train", "U-Net training (same code as scripts/train_unet.py)")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)

    p = add("predict", "U-Net inference")
    p.add_argument("input")
    p.add_argument("--model", required=True, help="a model folder, or a shipped model's name")
    p.add_argument("-o", "--output", required=True)

    p = add("export", "export a model to TorchScript / ONNX")
    p.add_argument("--model", required=True)
    p.add_argument("-o", "--output", required=True)

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

    p = add("run", "the whole pipeline, with report.html")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)

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
