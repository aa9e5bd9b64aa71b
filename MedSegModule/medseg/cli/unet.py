"""The U-Net commands, for ``medseg`` and the standalone scripts (``scripts/train_unet.py``) alike.

For each of ``dataset``, ``train``, ``predict`` and ``export`` there is:

- ``configure_<name>(parser)``: adds every argument of that command to an argparse parser;
- ``run_<name>(args) -> int``: runs it from the parsed namespace (progress bar, printed summary);
- ``<name>(...)``: the plain function with keyword arguments, returning the summary lines.

Errors are :class:`~medseg.errors.MedSegError`s (exit code 2 in the CLI).
"""

from __future__ import annotations

import argparse
import math
import re
import sys

from ..errors import DependencyError, ParameterError
from ..unet.devices import DEVICES
from . import types as T
from .options import add_input_options

#: Largest model input side (pixels) the dataset and the model cards accept.
MAX_SIZE = 4096


def check_model(model) -> None:
    """A model name or folder that does not exist fails here, before torch is imported (:class:`ModelError`)."""
    from ..unet.card import resolve

    resolve(model)


def add_output(p: argparse.ArgumentParser, help_text: str) -> None:
    """``-o/--output`` (into ``args.out``) as every command writes, with ``--out`` still read."""
    p.add_argument("-o", "--output", dest="out", metavar="DIR", help=f"{help_text} (required)")
    p.add_argument("--out", dest="out", help=argparse.SUPPRESS)  # the older spelling


def need_output(args: argparse.Namespace) -> None:
    if not getattr(args, "out", None):
        raise ParameterError("-o/--output is required: the model folder to write")


def _need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise DependencyError("the U-Net needs PyTorch: pip install torch (make setup installs the CPU wheel)") from None


def _floats(text: str | None, n: int, what: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        raise ParameterError(f"{what} must be {n} comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise ParameterError(f"{what} must be finite numbers, got {text!r}")
    if len(values) == 1 and n == 2:
        values = values * 2
    if len(values) != n:
        raise ParameterError(f"{what} must be {n} comma-separated numbers, got {text!r}")
    return values


def _say(lines: list[str]) -> None:
    for line in lines:
        print(line)


def _warn(lines: list[str]) -> None:
    for line in lines:
        print(f"medseg: warning: {line}", file=sys.stderr)


# --- dataset ---------------------------------------------------------------------------------------


def device_name(text: str) -> str:
    """An argparse type: one of :data:`DEVICES`, or ``cuda:N``."""
    value = text.strip().lower()
    if value in DEVICES or re.fullmatch(r"cuda:\d+", value):
        return value
    raise argparse.ArgumentTypeError(f"invalid device {text!r}: use {', '.join(DEVICES)} or cuda:N")


def add_device_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", type=device_name, default="auto", metavar="{" + ",".join(DEVICES) + "}",
                   help="where the network runs: auto (CUDA, else Apple MPS, else CPU), cpu, cuda[:N] or mps "
                        "(default auto)")


def configure_dataset(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help="studies: DICOM folders/files, volume files, or phantom study folders")
    p.add_argument("-o", "--output", required=True, help="training folder to write")
    p.add_argument("--labels", nargs="+", metavar="L", help="one label file per input, in order (default: a phantom "
                   "study folder's own labels, else --auto)")
    p.add_argument("--task", choices=("lungs", "table-headrest", "lung-tumour"),
                   help="classes + preprocessing preset (lung-tumour: lesions inserted into the real chest inputs; "
                        "default: none, the options below decide)")
    p.add_argument("--classes", metavar="A,B", help="label names to train, comma-separated (default: all)")
    p.add_argument("--auto", choices=("lungs", "autolabel"), help="auto-labels where a study has no label file (default: the task's, else none)")
    p.add_argument("--window", metavar="LO,HI", help="HU window mapped onto [0, 1] (default: the task's, else -1024,1024)")
    p.add_argument("--spacing", metavar="MM", help="in-plane spacing to resample to, or 'none' (default: the task's, else "
                   "none: the study's own)")
    p.add_argument("--size", metavar="H[,W]", help="crop/pad size after resampling (default 256)")
    p.add_argument("--val-fraction", type=T.number(0.0, 1.0, hi_open=True), default=0.2,
                   help="share of patients for validation, in [0, 1) (default 0.2)")
    p.add_argument("--seed", type=T.seed, default=0, help="split seed")
    p.add_argument("--description", default="", help="training-data description for the model card")
    p.add_argument("--manifest", metavar="M.json",
                   help="review manifest: per series its source, label origin and the slices dropped or edited "
                        "(default: none; every slice kept, its label origin as the labels came)")


def dataset(inputs, output, labels=None, task=None, classes=None, auto=None, window=None, spacing="task",
            size=None, val_fraction=0.2, seed=0, description="", manifest=None, progress=None,
            cancel=None) -> list[str]:
    """Build a training folder; ``window`` "LO,HI", ``spacing`` mm / "none" / "task", ``size`` "H[,W]"."""
    _need_torch()
    from ..pipeline.dataset import build_dataset

    if spacing is None or spacing == "task":
        spacing_mm = "task" if task else None
    elif str(spacing).lower() == "none":
        spacing_mm = None
    else:
        spacing_mm = _floats(spacing, 1, "--spacing")[0]
        if not 0 < spacing_mm <= 100:
            raise ParameterError(f"--spacing must be a pixel size in (0, 100] mm, got {spacing!r}")
    size_hw = None
    if size:
        values = _floats(size, 2, "--size")
        if not all(v.is_integer() and 1 <= v <= MAX_SIZE for v in values):
            raise ParameterError(f"--size takes whole numbers of pixels in 1..{MAX_SIZE}, got {size!r}")
        size_hw = tuple(int(v) for v in values)
    win = _floats(window, 2, "--window")
    if win is not None and not win[0] < win[1]:
        raise ParameterError(f"--window takes LO,HI with LO < HI (HU), got {window!r}")
    names = [c.strip() for c in classes.split(",")] if isinstance(classes, str) else classes
    info = build_dataset(inputs, output, labels=labels, task=task, classes=names, auto=auto,
                         window=win, spacing_mm=spacing_mm, size=size_hw,
                         val_fraction=val_fraction, seed=seed, description=description,
                         manifest=manifest, progress=progress, cancel=cancel)
    n = sum(f["slices"] for f in info["files"])
    pos = sum(f["positive_slices"] for f in info["files"])
    return [f"{output}: {len(info['files'])} studies, {n} slices ({pos} with labels); classes "
            + ", ".join(c["name"] for c in info["classes"][1:])
            + f"; train {len(info['split']['train'])} / validation {len(info['split']['val'])} studies"] \
        + [_composition_line(info.get("composition") or {})] + [f"note: {t}" for t in info.get("notes", [])]


def _composition_line(c: dict) -> str:
    origins = ", ".join(f"{k} {v}" for k, v in sorted(c.get("by_origin", {}).items()))
    return (f"slices: {c.get('real', 0)} real, {c.get('phantom', 0)} phantom; label origin: {origins or 'none'}; "
            f"{c.get('dropped', 0)} dropped in review")


def run_dataset(args: argparse.Namespace) -> int:
    from .progress import progress_bar

    with progress_bar("dataset") as progress:
        lines = dataset(args.inputs, args.output, labels=args.labels, task=args.task, classes=args.classes,
                        auto=args.auto, window=args.window, spacing=args.spacing or "task", size=args.size,
                        val_fraction=args.val_fraction, seed=args.seed, description=args.description,
                        manifest=args.manifest, progress=progress)
    _say(lines)
    return 0


# --- train -----------------------------------------------------------------------------------------

def configure_train(p: argparse.ArgumentParser) -> None:
    from ..unet.presets import MODEL_PRESETS

    p.add_argument("--data", required=True, help="training folder from `medseg dataset`")
    add_output(p, "model folder to write (model.pt, model.json, metrics, plots)")
    p.add_argument("--preset", default="cpu-small", choices=sorted(MODEL_PRESETS), help="architecture preset")
    p.add_argument("--depth", type=T.integer(1, 10), help="resolution levels, 1..10 (default: the preset's)")
    p.add_argument("--base", type=T.integer(1, 4096), help="channels at the first level, 1..4096 (default: the preset's)")
    p.add_argument("--convs", metavar="N[,N...]", help="convolutions per level (default: the preset's)")
    p.add_argument("--norm", choices=("batch", "instance", "none"), help="normalisation layers (default: the preset's)")
    p.add_argument("--dropout", type=T.number(0.0, 1.0, hi_open=True), help="in [0, 1) (default: the preset's)")
    p.add_argument("--epochs", type=T.positive, default=50, help="at least 1 (default 50)")
    p.add_argument("--batch-size", type=T.positive, default=8, help="at least 1 (default 8)")
    p.add_argument("--lr", type=T.number(0.0, 10.0, lo_open=True), default=1e-3, help="learning rate in (0, 10]")
    p.add_argument("--optimizer", choices=("adam", "adamw"), default="adamw")
    p.add_argument("--weight-decay", type=T.number(0.0, 10.0), default=1e-4, help="in [0, 10] (default 1e-4)")
    p.add_argument("--schedule", choices=("cosine", "step", "plateau", "none"), default="cosine")
    p.add_argument("--dice-epochs", type=T.non_negative, default=50, help="epochs with Dice favoured (default 50)")
    p.add_argument("--dice-weight", metavar="EARLY,LATE", default="0.8,0.5", help="Dice weight before/after")
    p.add_argument("--neg-fraction", type=T.fraction, default=0.25,
                   help="share of slices without labels per epoch, in [0, 1] (default 0.25)")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--context-mm", type=T.number(0.0, 50.0), default=0.0, metavar="MM",
                   help="a 2.5D model: the planes MM above and below each slice as two more input channels, in "
                        "[0, 50] (default 0: 2D; the same training folder serves both)")
    p.add_argument("--max-batches", type=T.positive, help="cap on batches per epoch (default: none, every batch)")
    p.add_argument("--patience", type=T.non_negative, default=0, help="early stopping after N epochs without progress")
    p.add_argument("--seed", type=T.seed, default=0)
    add_device_option(p)
    p.add_argument("--amp", action="store_true", help="mixed precision (CUDA)")
    p.add_argument("--workers", type=T.integer(0, 64), default=0, help="data-loader worker processes, 0..64")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint_last.pt")
    p.add_argument("--gif", action="store_true", help="also write montage.gif of the per-epoch montages")
    p.add_argument("--no-montage", action="store_true")
    p.add_argument("--name", default="unet", help="model name for the card")
    p.add_argument("--description", default="", help="model description for the card")
    p.add_argument("--synthetic", action="store_true", help="say in the card that the data are synthetic")


def train(data, out, resume=False, progress=None, cancel=None, **options) -> list[str]:
    """Train; ``options`` are :class:`~.train.TrainConfig` fields (``arch`` overrides as a dict)."""
    _need_torch()
    from ..unet.train import TrainConfig, train as run

    cfg = TrainConfig.from_dict(options) if options else TrainConfig()
    result = run(data, out, cfg, resume=resume, progress=progress, cancel=cancel)
    best = result["best"]
    return [f"{out}: {result['epochs']} epochs in {result['seconds']:.0f} s; best validation Dice "
            f"{best.get('val_dice', float('nan')):.3f}, IoU {best.get('val_iou', float('nan')):.3f} "
            f"(epoch {best.get('epoch')})"]


def train_options(args: argparse.Namespace) -> dict:
    """TrainConfig fields from ``configure_train``'s namespace."""
    from ..unet.augment import AugmentConfig

    arch = {k: getattr(args, k) for k in ("depth", "base", "norm", "dropout") if getattr(args, k) is not None}
    if args.convs:
        arch["convs"] = [int(v) for v in _floats(args.convs, len(args.convs.split(",")), "--convs")]
    early, late = _floats(args.dice_weight, 2, "--dice-weight")
    return {
        "preset": args.preset, "arch": arch, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
        "optimizer": args.optimizer, "weight_decay": args.weight_decay, "schedule": args.schedule,
        "loss": {"dice_epochs": args.dice_epochs, "early_dice_weight": early, "late_dice_weight": late},
        "augment": AugmentConfig.off().to_dict() if args.no_augment else AugmentConfig().to_dict(),
        "neg_fraction": args.neg_fraction, "context_mm": args.context_mm, "max_batches": args.max_batches,
        "patience": args.patience,
        "seed": args.seed, "device": args.device, "amp": args.amp, "workers": args.workers,
        "montage": not args.no_montage, "gif": args.gif, "name": args.name, "description": args.description,
        "synthetic": args.synthetic,
    }


def run_train(args: argparse.Namespace) -> int:
    need_output(args)
    import contextlib
    import os

    from .progress import progress_bar

    main = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 speaks
    with (progress_bar("training") if main else contextlib.nullcontext(None)) as progress:
        lines = train(args.data, args.out, resume=args.resume, progress=progress, **train_options(args))
    if main:
        _say(lines)
    return 0


# --- predict ---------------------------------------------------------------------------------------

def configure_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="DICOM folder or file, or a volume file")
    p.add_argument("--model", required=True, help="a model folder, or a shipped model's name (lungs, table-headrest, lung-tumour)")
    p.add_argument("-o", "--output", required=True, help="labels (.seg.nrrd keeps names/colours, or .nrrd/.nii.gz)")
    add_device_option(p)
    p.add_argument("--tta", action="store_true", help="average with the left-right flipped prediction")
    p.add_argument("--probabilities", metavar="P", help="uint8 0-255 probabilities: P.npy (memory-mapped) or a volume (default: not written)")
    p.add_argument("--batch-size", type=T.integer(1, 4096), default=8, help="slices per batch, 1..4096 (default 8)")
    p.add_argument("--largest-component", action="store_true", default=None,
                   help="keep each class's largest 3D component (default: as the model card says)")
    p.add_argument("--fill-holes", action="store_true", default=None,
                   help="fill holes in each class, slice by slice (default: as the model card says)")
    p.add_argument("--no-postprocess", action="store_true", help="raw network output: no component/hole steps")
    add_input_options(p, force="a model runs on any input and warns where it lies outside the range its card "
                         "gives")
    p.add_argument("--strict", action="store_true",
                   help="fail (exit 2, nothing written) when the anatomy guard finds implausible lung labels")
    p.add_argument("--no-guard", action="store_true", help="skip the anatomy guard of lung models")


def predict(input, model, output, device="auto", tta=False, probabilities=None, batch_size=8,
            largest_component=None, fill_holes=None, series=None, resample=True, skip_damaged=False,
            rescale_slope=None, rescale_intercept=None, strict=False, guard=True, progress=None,
            cancel=None) -> tuple[list[str], list[str]]:
    """Segment one study; returns (summary lines, warnings). None post-processing flags follow the card;
    input outside the card's range is a warning."""
    check_model(model)
    _need_torch()
    from ..pipeline.files import predict_to_files

    import warnings as _w

    with _w.catch_warnings():
        _w.simplefilter("ignore")  # returned in result.warnings and printed once by the caller
        r = predict_to_files(input, model, output, probabilities=probabilities, series=series, resample=resample,
                             skip_damaged=skip_damaged, rescale_slope=rescale_slope,
                             rescale_intercept=rescale_intercept, device=device,
                             tta=tta, batch_size=batch_size, largest_component=largest_component,
                             fill_holes=fill_holes, guard=guard or strict, strict=strict, progress=progress,
                             cancel=cancel)
    import numpy as np
    import SimpleITK as sitk

    arr = sitk.GetArrayViewFromImage(r.labels)
    counts = ", ".join(f"{c['name']} {int(np.count_nonzero(arr == c['value']))}" for c in r.card["classes"][1:])
    lines = [f"{output}: {counts} voxels; {r.slices} slices in {r.seconds:.1f} s "
             f"({r.slices / max(r.seconds, 1e-9):.1f} slices/s)"]
    if (r.card.get("preprocessing") or {}).get("roi"):  # a lesion model: one line per lesion
        lines += lesion_lines(r.labels, {int(c["value"]): c["name"] for c in r.card["classes"]})
    return lines, r.warnings


def lesion_lines(labels, names: dict) -> list[str]:
    """``lesion N (name): V ml, max diameter D mm (axial A mm), slices a-b`` per connected component."""
    from ..measure.lesions import lesion_table

    rows = lesion_table(labels, names=names)
    return [f"lesion {r['lesion']} ({r['name']}): {r['volume_ml']:.2f} ml, max diameter {r['max_diameter_mm']:.1f} mm "
            f"(axial {r['max_axial_diameter_mm']:.1f} mm), slices {r['slices'][0]}-{r['slices'][1]}" for r in rows] \
        or ["no lesions found"]


def run_predict(args: argparse.Namespace) -> int:
    from .progress import progress_bar

    with progress_bar("predict") as progress:
        lines, notes = predict(args.input, args.model, args.output, device=args.device, tta=args.tta,
                               probabilities=args.probabilities, batch_size=args.batch_size,
                               largest_component=False if args.no_postprocess else args.largest_component,
                               fill_holes=False if args.no_postprocess else args.fill_holes,
                               series=args.series, resample=not args.no_resample,
                               skip_damaged=args.skip_damaged, rescale_slope=args.rescale_slope,
                               rescale_intercept=args.rescale_intercept, strict=args.strict,
                               guard=not args.no_guard, progress=progress)
    _warn(notes)
    _say(lines)
    return 0


# --- export ----------------------------------------------------------------------------------------

def configure_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a model folder, or a shipped model's name")
    p.add_argument("-o", "--output", required=True, help="FILE.pt / FILE.ts (TorchScript) or FILE.onnx")
    p.add_argument("--no-check", action="store_true", help="skip the parity check against PyTorch")


def export(model, output, check=True) -> list[str]:
    """Export; with ``check`` the file is run against the PyTorch model (max abs difference printed)."""
    check_model(model)
    _need_torch()
    from ..unet.export import export as run, parity

    path = run(model, output)
    lines = [f"{path}: exported (card beside it: {path.name}.json)"]
    if check:
        diff = parity(model, path)
        lines.append(f"parity with PyTorch: max |difference| {diff:.2e}")
        if not diff < 1e-3:
            raise RuntimeError(f"{path}: exported model differs from PyTorch by {diff:.2e} (a bug)")
    return lines


def run_export(args: argparse.Namespace) -> int:
    _say(export(args.model, args.output, check=not args.no_check))
    return 0
