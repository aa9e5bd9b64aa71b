"""The ``medseg`` command line: the parser and the entry point (a contract that tests and docs rely on).

Exit codes: 0 ok; 2 a user's mistake (a :class:`MedSegError`, one line, no traceback); 1 a bug;
3 a batch where some studies failed.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import traceback

from .. import __version__
from ..errors import MedSegError, Terminated
from . import commands as c
from . import types as T
from .options import DEVICES, DefaultsHelp, add_input_options  # noqa: F401  (add_input_options: shared)

#: Taubin smoothing converges long before this; more is a typo, not a request.
MAX_SMOOTH = 10000

# --- parser ----------------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error said in one line (the option, what is wrong, where help is)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="medseg", description="CT studies to segmentations (MedSeg).", formatter_class=DefaultsHelp)
    parser.add_argument("--version", action="version", version=f"medseg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str, func) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, formatter_class=DefaultsHelp)
        p.set_defaults(func=func)
        return p

    p = add("info", "list the series found: UID, modality, slices, size, spacing, warnings, and whether the "
                    "values can be HU", c.cmd_info)
    p.add_argument("input", help="DICOM folder or file, or a volume file")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("convert", "HU volume (CT), modality-LUT values otherwise", c.cmd_convert)
    p.add_argument("input", help="DICOM folder or file, or a volume file")
    p.add_argument("-o", "--output", required=True, help="output volume (.nrrd, .nii, .nii.gz, .mha)")
    add_input_options(p, force="convert writes any modality (modality-LUT values when not CT)")

    p = add("clean", "remove the table/couch/headrest (set to AIR_HU); body and removed-object masks", c.cmd_clean)
    p.add_argument("input", help="DICOM folder/file or a CT volume in HU")
    p.add_argument("-o", "--output", required=True, help="cleaned volume (.nrrd, .nii.gz, .mha)")
    p.add_argument("--body-mask", metavar="M", help="also write the body mask (0/1; .seg.nrrd gets a named segment; default: not written)")
    p.add_argument("--object-mask", metavar="T", help="also write the removed-object mask (table, couch, headrest; default: not written)")
    add_input_options(p)

    p = add("lungs", "anatomical lung mask (1 = lung; with --split 1 = right, 2 = left)", c.cmd_lungs)
    p.add_argument("input", help="DICOM folder/file or a CT volume in HU")
    p.add_argument("-o", "--output", required=True, help="LABELS (.seg.nrrd, .nrrd, .nii.gz, .mha)")
    p.add_argument("--split", action="store_true", help="1 = right, 2 = left (lungmask's convention)")
    p.add_argument("--roi", metavar="ROI", help="also write the mirrored+dilated tumour search region (default: not written)")
    add_input_options(p)

    p = add("autolabel", "the auto-label table: body, table-headrest, lungs, airway, bone", c.cmd_autolabel)
    p.add_argument("input", help="DICOM folder/file or a CT volume in HU")
    p.add_argument("-o", "--output", required=True, help="LABELS.seg.nrrd (named, coloured) or LABELS.nrrd")
    add_input_options(p)

    p = add("contours", "point-list files or RTSTRUCT to masks on the image grid", c.cmd_contours)
    p.add_argument("image", help="the DICOM folder/file or volume the contours were drawn on")
    p.add_argument("contours", help="folder of point-list files (<prefix>-<number>-<name>[-manual].txt, "
                   "number = InstanceNumber), one such file, or an RTSTRUCT .dcm")
    p.add_argument("-o", "--output", required=True, help="LABELS: .seg.nrrd (names, colours), .nrrd, .nii.gz, .mha")
    p.add_argument("--ring", action="store_true",
                   help="inner + outer contour -> 1 = blood_pool, 2 = myocardium (outer minus inner)")
    p.add_argument("--names", metavar="A,B", help="comma-separated label names in value order (default: the names the files or the RTSTRUCT give)")
    p.add_argument("--slice", type=T.non_negative, metavar="Z", help="0-based slice index for a single point-list file (default: the file name's number, as InstanceNumber)")

    p = add("grow", "grow from seeds (semi-automatic): painted seed segments grow into a full label map",
            c.cmd_grow)
    p.add_argument("image", help="DICOM folder/file or volume the seeds were painted on")
    p.add_argument("seeds", help="seed label image with two or more segments (.seg.nrrd, or .nrrd/.nii.gz with its "
                   "<stem>.json names)")
    p.add_argument("-o", "--output", required=True, help="LABELS (.seg.nrrd, .nrrd, .nii.gz, .mha); keeps the seeds' names")
    p.add_argument("--range", dest="hu_range", metavar="LO,HI",
                   help="editable intensity range in HU: voxels outside get no label and pass none on (default: all)")
    p.add_argument("--smooth", choices=("median", "closing", "none"), default="median",
                   help="post-processing: median = closing, then a median (default); closing alone; none")
    p.add_argument("--kernel", type=float, default=3.0, metavar="MM", help="smoothing box edge in mm (default 3)")
    p.add_argument("--locality", type=float, default=0.0, metavar="F",
                   help="seed locality, HU per mm of path (Slicer's; default 0: intensity only)")
    p.add_argument("--whole-image", action="store_true",
                   help="grow over the whole image (default: the seeds' box plus a margin, as Slicer)")
    p.add_argument("--resample-labels", action="store_true", help="resample SEEDS onto IMAGE's grid when they differ")
    add_input_options(p, force="grow works on any modality (--range is in the image's values)")

    p = add("evaluate", "Dice, IoU, HD95, ASSD and volume difference per label", c.cmd_evaluate)
    p.add_argument("pred", help="predicted label image (.nrrd, .seg.nrrd, .nii.gz, .mha)")
    p.add_argument("ref", help="reference label image")
    p.add_argument("--json", action="store_true", help="machine-readable output (NaN as null)")
    p.add_argument("--resample-labels", action="store_true", help="resample PRED onto REF's grid when they differ")
    p.add_argument("--map", metavar="P=R,...", help="pairs to compare, by name or value; a side may be a union "
                   "a+b (default: the names both files carry, else the values)")
    p.add_argument("--merge", action="store_true", help="compare all non-zero labels of each side as one structure")

    from . import unet as unet_commands  # argument definitions only; torch loads on use

    unet_commands.configure_dataset(add("dataset", "U-Net training set from studies + labels (or auto-labels)", c.cmd_unet))
    unet_commands.configure_train(add("train", "U-Net training (same code as scripts/train_unet.py)", c.cmd_unet))
    unet_commands.configure_predict(add("predict", "U-Net inference (labels on the input grid)", c.cmd_unet))
    unet_commands.configure_export(add("export", "export a model to TorchScript (.pt) / ONNX (.onnx)", c.cmd_unet))

    from . import classify as classify_commands  # argument definitions only; torch loads on use

    classify_commands.configure_train(add("classify-train", "train the 3D CNN volume classifier (normal / abnormal)",
                                          classify_commands.run_train))
    classify_commands.configure_classify(add("classify", "P(normal) and P(abnormal) of a volume (3D CNN classifier)",
                                             classify_commands.run_classify))

    p = add("radiomics", "pyradiomics features, one wide row per segment", c.cmd_radiomics)
    p.add_argument("image", help="DICOM folder/file or volume (HU)")
    p.add_argument("labels", help="label image (.seg.nrrd, or a volume with an optional <name>.json of names)")
    p.add_argument("-o", "--output", required=True, help="OUT.csv or OUT.json")
    p.add_argument("--params", metavar="P.yaml", default=None,
                   help="pyradiomics parameter file, or a preset: ct-default (default), ct-wavelet-log, ct-baseline")
    p.add_argument("--labels", dest="label_values", metavar="1,2",
                   help="label values or names to run (default: all but body and table-headrest)")
    p.add_argument("--jobs", type=T.non_negative, default=1, metavar="N", help="worker processes (0 = one per CPU)")
    p.add_argument("--diagnostics", action="store_true", help="add pyradiomics' diagnostics_* columns")
    p.add_argument("--resample-labels", action="store_true", help="resample LABELS onto IMAGE's grid when they differ")
    add_input_options(p, force="pyradiomics works on any modality (the ct-* presets' bin widths are in HU)")

    p = add("stats", "volume and HU statistics per segment (like Slicer's Segment Statistics)", c.cmd_stats)
    p.add_argument("image", help="DICOM folder/file or volume (HU)")
    p.add_argument("labels", help="label image")
    p.add_argument("-o", "--output", required=True, help="OUT.csv or OUT.json")
    p.add_argument("--resample-labels", action="store_true", help="resample LABELS onto IMAGE's grid when they differ")
    add_input_options(p, force="statistics work on any modality (the HU columns are then the image's values)")

    p = add("mesh", "one surface per segment (marching cubes), with area and enclosed volume", c.cmd_mesh)
    p.add_argument("labels", help="label image (.seg.nrrd, .nrrd, .nii.gz, .mha)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--format", choices=("stl", "obj", "vtp", "ply"), default="stl")
    p.add_argument("--smooth", type=T.integer(0, MAX_SMOOTH), default=0, metavar="N",
                   help=f"Taubin smoothing iterations, 0..{MAX_SMOOTH} (default 0)")
    p.add_argument("--decimate", type=T.number(0.0, 1.0, hi_open=True), default=0.0, metavar="F",
                   help="fraction of faces to remove, in [0, 1) (default 0)")
    p.add_argument("--ras", action="store_true", help="RAS coordinates, as Slicer exports (default LPS)")
    p.add_argument("--labels", dest="label_values", metavar="1,2", help="only these label values (default: all)")
    p.add_argument("--png", metavar="FILE", help="also render a static PNG (matplotlib; default: none)")
    p.add_argument("--html", metavar="FILE", help="also write an interactive HTML (needs plotly; default: none)")
    p.add_argument("--json", action="store_true", help="print the per-segment summary as JSON")

    p = add("run", "the whole pipeline (convert, auto-label, statistics, meshes, DICOM SEG; radiomics and U-Net "
                   "models when asked) with report.html, one folder per study; complete studies are skipped",
            c.cmd_run)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="one or more studies: DICOM folders or files, or volume "
                   "files; each gets its own folder in OUTDIR (exit 3 when some fail)")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="output root: one folder per study, config.yaml, medseg.log, batch.csv")
    p.add_argument("--radiomics", nargs="?", const="ct-default", default=None, metavar="PRESET",
                   help="also compute pyradiomics features: a preset (ct-default when none is named; ct-wavelet-log, "
                        "ct-baseline) or a parameter file; put it after the inputs or write --radiomics=PRESET "
                        "(default: off)")
    p.add_argument("--radiomics-labels", metavar="NAMES",
                   help="comma-separated segment names or values for --radiomics, exactly those (default: every "
                        "segment present but body, table-headrest and bone)")
    p.add_argument("--params", dest="radiomics", metavar="P.yaml", help=argparse.SUPPRESS)  # the older spelling
    p.add_argument("--no-radiomics", dest="radiomics", action="store_const", const=None, help=argparse.SUPPRESS)
    p.add_argument("--jobs", type=T.non_negative, default=1, metavar="N", help="worker processes (0 = one per CPU)")
    p.add_argument("--model", dest="models", action="append", default=[], metavar="NAME|DIR",
                   help="also segment with this U-Net model (a shipped model's name or a model folder; repeatable; "
                        "default: none)")
    p.add_argument("--device", choices=DEVICES, default="auto", help="where models run")
    p.add_argument("--no-meshes", action="store_true", help="skip surface meshes")
    p.add_argument("--no-dicom-seg", action="store_true", help="skip the DICOM SEG output")
    p.add_argument("--overwrite", action="store_true",
                   help="redo studies that are complete with the same options (default: skip them)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars and no per-study lines: errors only (warnings stay in medseg.log)")
    add_input_options(p, rescale=False)

    p = add("models", "the shipped and installed models: name, kind, status, source, classes, folder", c.cmd_models)
    p.add_argument("folder", nargs="?", help="also list the model folders in FOLDER, or FOLDER itself when it is one "
                   "(default: the shipped models only)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("demo", "make a phantom study and run the pipeline on it", c.cmd_demo)
    p.add_argument("-o", "--output", default="out/demo", help="output folder (default: out/demo)")
    p.add_argument("--seed", type=T.seed, default=0, help="phantom seed (default: 0)")
    return parser


@contextlib.contextmanager
def _signals():
    """SIGTERM raises :class:`Terminated` like Ctrl-C raises KeyboardInterrupt, so temporary files are
    removed and worker processes stopped; SIGXFSZ (past ``ulimit -f``) is ignored, so the write
    fails with an error naming the file instead of killing the process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise Terminated()

    previous = {sig: signal.signal(sig, handler) for sig, handler in
                ((signal.SIGTERM, terminate), (signal.SIGXFSZ, signal.SIG_IGN))}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _third_party_log():
    """Warnings of pydicom, numpy, pyradiomics, pykwalify... go to the log (the file MEDSEG_LOG names,
    else nowhere), not to stderr, which carries only medseg's own lines."""
    from ..io import native_stderr

    root = logging.getLogger()
    path = os.environ.get("MEDSEG_LOG")
    try:
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8") if path else logging.NullHandler()
    except OSError as exc:
        print(f"medseg: warning: cannot open the log MEDSEG_LOG={path} ({exc.strerror}); not logging",
              file=sys.stderr)
        handler = logging.NullHandler()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    root.addHandler(handler)
    logging.captureWarnings(True)
    native_stderr.ENABLED = True
    try:
        yield
    finally:
        native_stderr.ENABLED = False
        logging.captureWarnings(False)
        root.removeHandler(handler)
        handler.close()


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


def _os_error(exc: OSError) -> str:
    """An operating-system error as "PATH: reason"."""
    from ..io.atomic import os_reason

    where = exc.filename if exc.filename is not None else exc.filename2
    return f"{where}: {os_reason(exc)}" if where is not None else os_reason(exc)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``medseg`` script; returns the exit code."""
    from ..io import clear_protected

    args = build_parser().parse_args(argv)
    clear_protected()
    with _signals(), _third_party_log():
        try:
            return int(args.func(args) or 0)
        except MedSegError as exc:
            print(f"medseg {args.command}: error: {_one_line(exc)}", file=sys.stderr)
            return exc.exit_code
        except BrokenPipeError:
            # The reader went away (`medseg ... | head`): not an error, and nothing more to say.
            with contextlib.suppress(OSError):
                sys.stderr.close()
            return 0
        except Terminated:
            print(f"medseg {args.command}: terminated (SIGTERM); nothing half-written was left", file=sys.stderr)
            return Terminated.exit_code
        except KeyboardInterrupt:
            print(f"medseg {args.command}: interrupted", file=sys.stderr)
            return 130
        except OSError as exc:  # the system refused a read or write: the user's environment, not a bug
            print(f"medseg {args.command}: error: {_one_line(_os_error(exc))}", file=sys.stderr)
            return 2
        except MemoryError:
            from ..limits import LIMITS, human_bytes, limit

            print(f"medseg {args.command}: error: out of memory; the per-array limit is "
                  f"{human_bytes(limit('bytes'))} ({LIMITS['bytes'][0]}): lower it to have such inputs refused "
                  "up front, or free memory", file=sys.stderr)
            return 2
        except Exception:  # a bug: show everything, then say so
            traceback.print_exc()
            print(f"medseg {args.command}: internal error (a bug); please report it with the traceback above",
                  file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
